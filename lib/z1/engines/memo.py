"""Reuse of identical greedy requests across test-time methods: ``MemoView(engine)``.

Several methods start with the same first request: the shifted thinking window (both modes) and
s1 budget forcing all open with "the prompt, up to W tokens, no stop string".  Under greedy
decoding the completion of a request is a function of the request, so the inference stage wraps
each model's engine in a view that answers a repeated greedy request from memory instead of
decoding it again (one engine, one model, one run: the same weights and settings).  Sampled
requests (temperature > 0) always go to the engine.  ``hits`` / ``misses`` count requests;
``prompt_tokens``, ``cached_prompt_tokens`` (the engine's prefix-cache hits, where it reports them)
and ``generated_tokens`` count what the engine was asked to process (the stage's work).

    engine = MemoView(make_engine("vllm", model_dir))
    thinking.window_sweep(engine, prompts, [64, 128], function="shifted_thinking_window", ...)
    thinking.window_sweep(engine, prompts, [64, 128], function="budget_forcing", ...)  # pass 1 reused
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Completion, Request


class MemoView:
    """``engine`` answering repeated greedy requests (equal ``Request`` objects) from memory."""

    def __init__(self, engine):
        self.engine = engine
        self.name = engine.name
        self._memo: dict[Request, list[Completion]] = {}
        self.hits = 0
        self.misses = 0
        self.prompt_tokens = 0
        self.cached_prompt_tokens = 0
        self.generated_tokens = 0

    def __getattr__(self, attr):  # tokenizer, eos_ids, encode_chat, _options ... of the wrapped engine
        return getattr(self.engine, attr)

    def info(self) -> dict:
        return {**self.engine.info(), "greedy_request_memo": True}

    def generate(self, requests: Sequence[Request], **kw) -> list[list[Completion]]:
        todo: list[Request] = []          # what the engine decodes: new greedy requests once, sampled ones always
        slot: dict[int, int] = {}         # position in `requests` -> position in `todo`
        first: dict[Request, int] = {}    # a greedy request new to this call -> its position in `todo`
        for i, r in enumerate(requests):
            if r.sampling.greedy and r in self._memo:
                continue
            if r.sampling.greedy and r in first:
                slot[i] = first[r]
                continue
            slot[i] = len(todo)
            if r.sampling.greedy:
                first[r] = len(todo)
            todo.append(r)
        fresh = self.engine.generate(todo, **kw) if todo else []
        for r, k in first.items():
            self._memo[r] = fresh[k]
        self.misses += len(todo)
        for r, comps in zip(todo, fresh, strict=True):
            self.prompt_tokens += len(r.prompt_ids)
            self.cached_prompt_tokens += (comps[0].cached_prompt_tokens or 0) if comps else 0
            self.generated_tokens += sum(len(c.token_ids) for c in comps)
        self.hits += len(requests) - len(todo)
        return [fresh[slot[i]] if i in slot else self._memo[r] for i, r in enumerate(requests)]

    def close(self) -> None:
        self._memo.clear()
        self.engine.close()
