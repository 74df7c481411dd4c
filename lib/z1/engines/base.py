"""The one small interface every generation backend implements.

Prompts travel as token ids (``Request.prompt_ids``); chat messages become ids with
``engine.encode_chat``.  A completion follows vLLM's conventions, which the paper's thinking-token
count relies on:

* ``token_ids`` holds every generated id, *including* the EOS / stop token when generation ended on
  one (``len(token_ids)`` is what the authors count), and the tokens of a matched stop string;
* ``text`` is the decoded text without the EOS / stop token and with a matched stop string (and
  anything after it) removed;
* ``finish_reason`` is ``"stop"`` (EOS, a stop id or a stop string) or ``"length"`` (max_tokens
  reached without any of those).  An EOS / stop id / stop string that lands exactly in slot
  ``max_tokens`` gives ``"stop"`` (vLLM 0.32 checks stop conditions before the length cap; the
  transformers backend does the same and a test pins it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

FINISH_REASONS = ("stop", "length")


@dataclass(frozen=True)
class Sampling:
    """Decoding settings. temperature 0 = greedy (top_p / top_k / seed then ignored)."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = -1
    seed: int | None = None
    n: int = 1

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise ValueError(f"Sampling.temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"Sampling.top_p must be in (0, 1], got {self.top_p!r}")
        if self.top_k == 0 or self.top_k < -1:
            raise ValueError(f"Sampling.top_k must be -1 (off) or >= 1, got {self.top_k!r}")
        if self.n < 1:
            raise ValueError(f"Sampling.n must be >= 1, got {self.n!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Request:
    prompt_ids: tuple[int, ...]
    max_tokens: int
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    sampling: Sampling = field(default_factory=Sampling)
    lora_path: str | None = None  # vLLM backend with enable_lora: adapter for this request only
    # Forced tokens (the one-pass shifted thinking window): once ``force_after`` tokens have been
    # generated without the request finishing, the next ``len(force_ids)`` tokens are ``force_ids``,
    # whatever the model prefers; then decoding goes on freely up to ``max_tokens``.
    force_after: int | None = None
    force_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # Accept lists for convenience but store tuples (hashable, immutable).
        if not isinstance(self.prompt_ids, tuple):
            object.__setattr__(self, "prompt_ids", tuple(int(t) for t in self.prompt_ids))
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))
        if not isinstance(self.stop_token_ids, tuple):
            object.__setattr__(self, "stop_token_ids", tuple(int(t) for t in self.stop_token_ids))
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"Request.max_tokens must be an int >= 1, got {self.max_tokens!r}")
        if len(self.prompt_ids) == 0:
            raise ValueError("Request.prompt_ids is empty: an engine needs at least one prompt token")
        if any(s == "" for s in self.stop):
            raise ValueError("Request.stop contains an empty string")
        if not isinstance(self.force_ids, tuple):
            object.__setattr__(self, "force_ids", tuple(int(t) for t in self.force_ids))
        if (self.force_after is None) != (not self.force_ids):
            raise ValueError("Request.force_after and Request.force_ids go together: set both or neither")
        if self.force_after is not None and (isinstance(self.force_after, bool) or not isinstance(self.force_after, int)
                                             or self.force_after < 0):
            raise ValueError(f"Request.force_after must be an int >= 0, got {self.force_after!r}")

    def forced_token(self, generated: int) -> int | None:
        """The id forced as generated token number ``generated`` (0-based), or None (free choice)."""
        if self.force_after is None:
            return None
        k = generated - self.force_after
        return self.force_ids[k] if 0 <= k < len(self.force_ids) else None


@dataclass
class Completion:
    token_ids: list[int]
    text: str
    finish_reason: str  # "stop" | "length"
    cached_prompt_tokens: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class Engine(Protocol):
    name: str
    tokenizer: Any

    def encode_chat(self, messages: list[dict], *, assistant_prefill: str = "") -> list[int]: ...

    def generate(
        self, requests: Sequence[Request], *, progress: bool = False, retain: bool | int = False
    ) -> list[list[Completion]]:
        """One list of n completions per request, in order.  ``retain`` hints that later requests
        will extend these prompts + outputs (True: any row; int k: rows with >= k generated tokens);
        the transformers backend then keeps the KV cache, vLLM relies on its prefix cache."""
        ...

    def info(self) -> dict: ...

    def close(self) -> None: ...


def encode_chat_with_tokenizer(tokenizer, messages: list[dict], *, assistant_prefill: str = "") -> list[int]:
    """Chat template + generation prompt (+ prefill text appended as plain text, no special tokens).

    The template is rendered to text and then tokenised once, so the prefill merges with the
    generation prompt exactly as the authors' string prompts did.  Templates that already add a
    BOS token are not given a second one.
    """
    if not messages:
        raise ValueError("encode_chat: messages is empty")
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    text = text + assistant_prefill
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [int(t) for t in ids]


def eos_ids_of(tokenizer, generation_config=None) -> tuple[int, ...]:
    """EOS ids as vLLM collects them: the tokenizer's EOS plus generation_config.eos_token_id(s)."""
    out: list[int] = []
    if getattr(tokenizer, "eos_token_id", None) is not None:
        out.append(int(tokenizer.eos_token_id))
    g = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
    if g is not None:
        for t in [g] if isinstance(g, int) else list(g):
            if int(t) not in out:
                out.append(int(t))
    return tuple(out)


def text_of(engine, ids: Sequence[int]) -> str:
    """The text an engine reports for generated ``ids`` that it did not stop itself (no EOS or stop
    string among them), as when a request ends after exactly these ids.  vLLM's incremental
    detokenizer holds back a token whose text ends in an incomplete character (a multi-byte
    character cut by the length cap: the text ends in "\ufffd") and never emits it when the
    sequence ends there, the token's complete characters included (measured: the last token " \ufffd"
    left no trailing space); the transformers backend decodes the ids as they are.  Used where
    z1.thinking cuts one completion into pieces (window sweeps, the one-pass window) so that each
    piece reads as the engine would have returned it."""
    ids = list(ids)
    text = engine.tokenizer.decode(ids, skip_special_tokens=True)
    if getattr(engine, "name", "") == "vllm":
        k = len(ids)
        while k > max(0, len(ids) - 4) and text.endswith("\ufffd"):  # a character has at most 4 bytes
            k -= 1
            text = engine.tokenizer.decode(ids[:k], skip_special_tokens=True)
    return text


def find_stop(text: str, stops: Sequence[str]) -> tuple[int, int] | None:
    """Earliest-*ending* stop string in ``text`` (ties: list order), as vLLM 0.32 picks it.

    Returns (start, end) of the match, or None.
    """
    best: tuple[int, int] | None = None
    for s in stops:
        i = text.find(s)
        if i == -1:
            continue
        if best is None or i + len(s) < best[1]:
            best = (i, i + len(s))
    return best


def check_requests(requests: Sequence[Request]) -> list[Request]:
    reqs = list(requests)
    for r in reqs:
        if not isinstance(r, Request):
            raise TypeError(f"generate() takes z1.engines.Request objects, got {type(r).__name__}")
    return reqs
