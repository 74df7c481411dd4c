"""transformers backend: a batched decoding loop over ``model.forward`` with vLLM's conventions.

Why not ``model.generate``: the loop here gives each row its own max_tokens, seed and stop
conditions with vLLM 0.32's exact semantics (stop checks before the length cap, stop strings
searched in the generated text only, earliest-ending match wins, token ids kept through the
matching token), drops finished rows from the batch, and keeps the key/value cache for reuse.

KV-cache continuation ("prefix reuse")
-------------------------------------
``generate(requests, retain=True)`` keeps the key/value cache of that call in a small store on the
engine (the last ``kv_store_calls`` retained calls; ``retain=k`` keeps only rows that generated at
least k tokens).  Every later ``generate`` call looks each request's ``prompt_ids`` up in the
store: when the new prompt *continues* a retained row (it starts with that row's whole prompt and
shares a prefix of its generated ids), the cached keys/values of the shared prefix are reused and
only the rest (e.g. the hint after pass-1 thinking) is encoded.  Prompts that merely share a system
prompt with a retained row are computed afresh (so unrelated batches are not split into groups).  This is the transformers counterpart of vLLM's
automatic prefix caching, so ``z1.thinking`` only has to send token-id requests to both backends.
``Completion.cached_prompt_tokens`` says how many prompt tokens came from the store.  Under greedy
decoding the result equals re-encoding the whole prompt (pinned by a test on a real model; fp32
reduction order can in principle flip a near-tie).

Rows are laid out left-padded; a continuation group keeps the layout of the rows it came from
(same left pad), so the cached columns are used as they are, without shifting positions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from z1.dtypes import torch_dtype

from .base import Completion, Request, check_requests, encode_chat_with_tokenizer, eos_ids_of, find_stop


@dataclass
class _Row:
    """One sample being generated (a request expands into n rows)."""

    req_idx: int
    sample: int
    req: Request
    prompt: list[int]
    generator: torch.Generator | None
    # continuation source: (entry, row index in entry, usable cached prompt tokens)
    source: tuple | None = None
    out: list[int] = field(default_factory=list)
    finish: str | None = None
    text: str | None = None
    cached: int = 0


@dataclass
class _Entry:
    """Retained key/values of one decoding group: tensors [B, H, S, D] per layer and row layouts."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    pads: list[int]
    tokens: list[tuple[int, ...]]  # prompt + generated ids of each row
    cached_cols: list[int]  # columns of the row whose K/V are in the tensors (pad included)
    prompt_lens: list[int]  # a new prompt must cover a row's whole prompt to continue it


def _common_prefix(a: tuple, b: tuple, lim: int) -> int:
    """Length of the common prefix of a and b, at most lim (slice comparisons run in C)."""
    if lim <= 0 or a[0] != b[0]:
        return 0
    if a[:lim] == b[:lim]:
        return lim
    lo, hi = 1, lim  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


class HFEngine:
    name = "transformers"

    def __init__(
        self,
        model_dir,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 16,
        kv_reuse: bool = True,
        kv_store_calls: int = 2,
        max_model_len: int | None = None,
        attn_implementation: str | None = None,
        num_threads: int | None = None,
        trust_remote_code: bool = False,
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_dir = str(model_dir)
        self.device = torch.device(device)
        self.dtype = torch_dtype(dtype)
        self.batch_size = int(batch_size)
        self.kv_reuse = bool(kv_reuse)
        self.kv_store_calls = int(kv_store_calls)
        if num_threads:
            torch.set_num_threads(int(num_threads))
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, trust_remote_code=trust_remote_code)
        kw = {"dtype": self.dtype, "trust_remote_code": trust_remote_code}
        if attn_implementation:
            kw["attn_implementation"] = attn_implementation
        self.model = AutoModelForCausalLM.from_pretrained(self.model_dir, **kw).to(self.device).eval()
        cfg = self.model.config.get_text_config(decoder=True)
        self.max_model_len = int(max_model_len or getattr(cfg, "max_position_embeddings", 0) or 1 << 30)
        self.eos_ids = eos_ids_of(self.tokenizer, getattr(self.model, "generation_config", None))
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (self.eos_ids[0] if self.eos_ids else 0))
        self._store: list[list[_Entry]] = []
        self._options = {
            "batch_size": self.batch_size, "kv_reuse": self.kv_reuse, "kv_store_calls": self.kv_store_calls,
            "max_model_len": self.max_model_len, "attn_implementation": attn_implementation,
        }

    # ------------------------------------------------------------------ interface
    def encode_chat(self, messages: list[dict], *, assistant_prefill: str = "") -> list[int]:
        return encode_chat_with_tokenizer(self.tokenizer, messages, assistant_prefill=assistant_prefill)

    def info(self) -> dict:
        import transformers

        return {
            "engine": self.name, "engine_version": transformers.__version__, "torch": torch.__version__,
            "model_dir": self.model_dir, "dtype": str(self.dtype).replace("torch.", ""),
            "device": str(self.device), "threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "eos_ids": list(self.eos_ids),
            "options": dict(self._options),
        }

    def close(self) -> None:
        self._store.clear()
        self.model = None

    def clear_kv_store(self) -> None:
        self._store.clear()

    @property
    def kv_store_size(self) -> int:
        """Rows currently retained (all calls)."""
        return sum(len(e.pads) for call in self._store for e in call)

    # ------------------------------------------------------------------ generation
    @torch.inference_mode()
    def generate(
        self, requests: Sequence[Request], *, progress: bool = False, retain: bool | int = False
    ) -> list[list[Completion]]:
        """Generate; ``retain=True`` keeps this call's KV cache for later prefix reuse, an int k keeps
        only the rows that generated at least k tokens (the others leave the batch when they finish)."""
        if self.model is None:
            raise RuntimeError("engine is closed")
        reqs = check_requests(requests)
        rows: list[_Row] = []
        for i, r in enumerate(reqs):
            if r.lora_path:
                raise ValueError("lora_path is only supported by the vllm backend (enable_lora=True); "
                                 "for transformers merge the adapter and load the merged model_dir")
            if len(r.prompt_ids) >= self.max_model_len:
                raise ValueError(f"prompt of request {i} has {len(r.prompt_ids)} tokens, "
                                 f"max_model_len is {self.max_model_len}")
            s = r.sampling
            for j in range(s.n):
                gen = None
                if not s.greedy:
                    seed = s.seed if s.seed is not None else int(torch.randint(0, 2**62, (1,)).item())
                    gen = torch.Generator(device=self.device).manual_seed((int(seed) * 1_000_003 + j) % (2**63))
                rows.append(_Row(i, j, r, list(r.prompt_ids), gen))

        if self.kv_reuse and self._store:
            for row in rows:
                row.source = self._lookup(row.prompt)

        # groups: continuations by (entry, padded length); fresh rows in input order
        groups: list[list[_Row]] = []
        cont: dict[tuple, list[_Row]] = {}
        fresh: list[_Row] = []
        for row in rows:
            if row.source is None:
                fresh.append(row)
            else:
                entry, k, _ = row.source
                cont.setdefault((id(entry), entry.pads[k] + len(row.prompt)), []).append(row)
        for g in cont.values():
            groups += [g[i:i + self.batch_size] for i in range(0, len(g), self.batch_size)]
        groups += [fresh[i:i + self.batch_size] for i in range(0, len(fresh), self.batch_size)]

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(rows), desc="transformers generate")
        retained: list[_Entry] = []
        for g in groups:
            entry = self._run_group(g, retain=retain if isinstance(retain, bool) else max(0, int(retain)))
            if entry is not None:
                retained.append(entry)
            if bar is not None:
                bar.update(len(g))
        if bar is not None:
            bar.close()
        if retain is not False and retain is not None:
            self._store.append(retained)
            del self._store[: max(0, len(self._store) - self.kv_store_calls)]

        out: list[list[Completion]] = [[None] * r.sampling.n for r in reqs]  # type: ignore[list-item]
        for row in rows:
            out[row.req_idx][row.sample] = Completion(row.out, row.text, row.finish, row.cached)
        return out

    # ------------------------------------------------------------------ internals
    def _lookup(self, prompt: list[int]):
        best = None
        ptuple = tuple(prompt)
        for call in reversed(self._store):
            for entry in call:
                for k, toks in enumerate(entry.tokens):
                    lim = min(len(toks), entry.cached_cols[k] - entry.pads[k], len(prompt) - 1)
                    m = _common_prefix(toks, ptuple, lim)
                    if m >= entry.prompt_lens[k] and (best is None or m > best[2]):
                        best = (entry, k, m)
        return best

    def _forward(self, input_ids, attention_mask, position_ids, cache):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1, :].float(), out.past_key_values

    def _pick(self, logits: torch.Tensor, rows: list[_Row]) -> list[int]:
        nxt = torch.argmax(logits, dim=-1).tolist()
        for b, row in enumerate(rows):
            s = row.req.sampling
            if row.finish is not None:
                continue
            forced = row.req.forced_token(len(row.out))
            if forced is not None:  # Request.force_ids: no sampling, the sample's generator is not advanced
                nxt[b] = forced
                continue
            if s.greedy:
                continue
            x = logits[b] / s.temperature
            if s.top_k > 0 and s.top_k < x.numel():
                kth = torch.topk(x, s.top_k).values[-1]
                x = x.masked_fill(x < kth, float("-inf"))
            if s.top_p < 1.0:
                srt, idx = torch.sort(x, descending=True)
                p = torch.softmax(srt, dim=-1)
                drop = (torch.cumsum(p, dim=-1) - p) > s.top_p
                drop[0] = False
                x = x.clone()
                x[idx[drop]] = float("-inf")
            probs = torch.softmax(x, dim=-1)
            nxt[b] = int(torch.multinomial(probs, 1, generator=row.generator).item())
        return nxt

    def _check(self, row: _Row, plen: int) -> None:
        """Finish checks after appending one token, in vLLM 0.32's order (stop before length)."""
        r, t = row.req, row.out[-1]
        dec = self.tokenizer.decode
        if t in self.eos_ids or t in r.stop_token_ids:
            row.finish, row.text = "stop", dec(row.out[:-1], skip_special_tokens=True)
            return
        if r.stop:
            tail = dec(row.out[-(max(len(s) for s in r.stop) + 8):], skip_special_tokens=True)
            if any(s in tail for s in r.stop):
                text = dec(row.out, skip_special_tokens=True)
                hit = find_stop(text, r.stop)
                if hit is not None:
                    row.finish, row.text = "stop", text[: hit[0]]
                    return
        if len(row.out) >= r.max_tokens or plen + len(row.out) >= self.max_model_len:
            row.finish, row.text = "length", dec(row.out, skip_special_tokens=True)

    def _run_group(self, rows: list[_Row], *, retain: bool | int) -> _Entry | None:
        dev = self.device
        B = len(rows)
        if rows[0].source is not None:
            entry = rows[0].source[0]
            pads = [entry.pads[r.source[1]] for r in rows]
            total = pads[0] + len(rows[0].prompt)
            c = min(entry.pads[r.source[1]] + r.source[2] for r in rows)
            idx = torch.tensor([r.source[1] for r in rows], device=dev)
            from transformers import DynamicCache

            cache = DynamicCache(
                ddp_cache_data=[(k.index_select(0, idx)[:, :, :c].clone(), v.index_select(0, idx)[:, :, :c].clone())
                                for k, v in zip(entry.keys, entry.values, strict=True)],
                config=self.model.config,
            )
            for r in rows:
                r.cached = c - entry.pads[r.source[1]]
        else:
            total = max(len(r.prompt) for r in rows)
            pads = [total - len(r.prompt) for r in rows]
            cache, c = None, 0
        ids = torch.full((B, total), self.pad_id, dtype=torch.long, device=dev)
        mask = torch.zeros((B, total), dtype=torch.long, device=dev)
        for b, r in enumerate(rows):
            ids[b, pads[b]:] = torch.tensor(r.prompt, dtype=torch.long, device=dev)
            mask[b, pads[b]:] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)

        logits, cache = self._forward(ids[:, c:], mask, pos[:, c:], cache)
        plens = [len(r.prompt) for r in rows]
        active = list(range(B))  # batch position -> row index (finished rows leave the batch)
        last_pos = pos[:, -1]

        def kept(r: _Row) -> bool:  # finished rows stay in a retained batch (masked) if worth keeping
            return retain is not False and len(r.out) >= retain_from

        retain_from = 0 if retain is True else int(retain)
        while True:
            nxt = self._pick(logits, [rows[i] for i in active])
            keep: list[int] = []
            live_l: list[int] = []
            for b, i in enumerate(active):
                r = rows[i]
                if r.finish is None:
                    r.out.append(nxt[b])
                    self._check(r, plens[i])
                if r.finish is None or kept(r):
                    keep.append(b)
                    live_l.append(int(r.finish is None))
            if not any(live_l):
                break
            tok = torch.tensor(nxt, dtype=torch.long, device=dev)
            if len(keep) < len(active):
                sel = torch.tensor(keep, device=dev)
                cache.batch_select_indices(sel)
                mask, tok, last_pos = mask[sel], tok[sel], last_pos[sel]
                active = [active[b] for b in keep]
            live = torch.tensor(live_l, dtype=torch.long, device=dev)
            tok = torch.where(live.bool(), tok, torch.full_like(tok, self.pad_id))
            mask = torch.cat([mask, live[:, None]], dim=1)
            last_pos = last_pos + live
            logits, cache = self._forward(tok[:, None], mask, last_pos[:, None], cache)

        if retain is False:
            return None
        final = [b for b, i in enumerate(active) if kept(rows[i])]
        if not final:
            return None
        sel = torch.tensor(final, device=dev)
        keys, values = [], []
        for layer in cache.layers:
            if getattr(layer, "is_sliding", False):
                return None  # sliding-window caches are not reusable this way
            keys.append(layer.keys.index_select(0, sel) if len(final) < len(active) else layer.keys)
            values.append(layer.values.index_select(0, sel) if len(final) < len(active) else layer.values)
        ncols = keys[0].shape[-2]
        kept_rows = [active[b] for b in final]
        return _Entry(
            keys, values, [pads[i] for i in kept_rows],
            [tuple(rows[i].prompt) + tuple(rows[i].out) for i in kept_rows],
            [min(ncols, pads[i] + plens[i] + len(rows[i].out) - 1) for i in kept_rows],
            [plens[i] for i in kept_rows],
        )


