"""A deterministic fake Engine with a toy tokenizer, following vLLM 0.32's conventions exactly.

Toy tokenizer: one token per character (id = ord(ch) + 10), except that "\\n\\n" is one token
(id 3, so re-tokenising text can differ from concatenating ids, as with real BPE); special ids
0 = pad, 1 = BOS "<s>", 2 = EOS "</s>".

A *script* decides what the "model" writes: ``script(prompt_text, sample_index) -> str`` returns the
continuation; the marker ``<EOS>`` in it becomes the EOS token; when the script's text runs out
without EOS the model repeats its last character forever (a model that never stops).  The engine
records every request it receives (``calls``) and reports ``cached_prompt_tokens`` as the longest
prefix a previous prompt + output shares with the new prompt (an ideal prefix cache).
``Request.force_ids`` are honoured like the real engines do; after the forced span the script is
asked again with the whole context so far (prompt + generated text), as a two-pass run would ask
it for the prompt + pass 1 + hint.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

from z1.engines.base import Completion, Request, find_stop

PAD, BOS, EOS, NN = 0, 1, 2, 3
EOS_MARK = "<EOS>"


class ToyTokenizer:
    eos_token_id = EOS
    pad_token_id = PAD
    bos_token_id = BOS
    eos_token = "</s>"
    _special = {PAD: "<pad>", BOS: "<s>", EOS: "</s>"}

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids = [BOS] if add_special_tokens else []
        i = 0
        while i < len(text):
            if text.startswith("\n\n", i):
                ids.append(NN)
                i += 2
            else:
                ids.append(ord(text[i]) + 10)
                i += 1
        return ids

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        return {"input_ids": self.encode(text, add_special_tokens)}

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        out = []
        for t in ids:
            t = int(t)
            if t in self._special:
                if not skip_special_tokens:
                    out.append(self._special[t])
            elif t == NN:
                out.append("\n\n")
            else:
                out.append(chr(t - 10))
        return "".join(out)

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        text = "".join(f"<|{m['role']}|>{m['content']}\n" for m in messages)
        if add_generation_prompt:
            text += "<|assistant|>"
        return self.encode(text) if tokenize else text


def script_tokens(tok: ToyTokenizer, text: str) -> list[int]:
    parts = text.split(EOS_MARK)
    ids: list[int] = []
    for k, part in enumerate(parts):
        ids += tok.encode(part)
        if k < len(parts) - 1:
            ids.append(EOS)
            break
    return ids


class FakeEngine:
    name = "fake"

    def __init__(self, script: Callable[[str, int], str], *, eos_at_limit: str = "stop"):
        self.tokenizer = ToyTokenizer()
        self.script = script
        self.calls: list[list[Request]] = []
        self.retain_flags: list[bool] = []
        self.history: list[tuple[int, ...]] = []
        self.closed = False
        self.eos_at_limit = eos_at_limit  # "stop" = vLLM 0.32 (stop checked before length)

    def encode_chat(self, messages, *, assistant_prefill: str = "") -> list[int]:
        return self.tokenizer.encode(self.tokenizer.apply_chat_template(messages) + assistant_prefill)

    def info(self) -> dict:
        return {"engine": self.name, "engine_version": "0", "model_dir": None, "dtype": None, "device": "none"}

    def close(self) -> None:
        self.closed = True

    def _cached(self, prompt: tuple[int, ...]) -> int:
        best = 0
        for h in self.history:
            m = 0
            lim = min(len(h), len(prompt) - 1)
            while m < lim and h[m] == prompt[m]:
                m += 1
            best = max(best, m)
        return best

    def generate(self, requests, *, progress: bool = False, retain: bool | int = False) -> list[list[Completion]]:
        reqs = list(requests)
        self.calls.append(copy.deepcopy(reqs))
        self.retain_flags.append(retain)
        out = []
        new_history = []
        for r in reqs:
            assert isinstance(r, Request)
            prompt_text = self.tokenizer.decode(r.prompt_ids, skip_special_tokens=True)
            cached = self._cached(r.prompt_ids)
            samples = []
            for j in range(r.sampling.n):
                stream = script_tokens(self.tokenizer, self.script(prompt_text, j))
                rescript = lambda ids, j=j, pt=prompt_text: script_tokens(  # noqa: E731
                    self.tokenizer, self.script(pt + self.tokenizer.decode(ids, skip_special_tokens=True), j))
                samples.append(self._run(r, stream, cached, rescript))
                new_history.append(tuple(r.prompt_ids) + tuple(samples[-1].token_ids))
            out.append(samples)
        self.history += new_history
        return out

    def _run(self, r: Request, stream: list[int], cached: int, rescript=None) -> Completion:
        ids: list[int] = []
        k = 0
        while True:
            forced = r.forced_token(len(ids))
            if forced is not None:
                t = forced
                if r.forced_token(len(ids) + 1) is None and rescript is not None:
                    stream, k = None, 0  # after the forced span the "model" continues from the new context
            else:
                if stream is None:
                    stream = rescript(ids)
                if k < len(stream):
                    t = stream[k]
                else:
                    t = stream[-1] if stream else ord(".") + 10
                k += 1
            ids.append(t)
            if t == EOS or t in r.stop_token_ids:
                if len(ids) >= r.max_tokens and self.eos_at_limit == "length":
                    return Completion(ids, self.tokenizer.decode(ids[:-1], skip_special_tokens=True), "length", cached)
                return Completion(ids, self.tokenizer.decode(ids[:-1], skip_special_tokens=True), "stop", cached)
            if r.stop:
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                hit = find_stop(text, r.stop)
                if hit is not None:
                    return Completion(ids, text[: hit[0]], "stop", cached)
            if len(ids) >= r.max_tokens:
                return Completion(ids, self.tokenizer.decode(ids, skip_special_tokens=True), "length", cached)
