"""What every test-time method shares: the per-sample record, the answer budget, the Shifted Thinking
Window's options (the two presets), prompt preparation, argument checks and the engine call."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from z1.engines.base import Completion, Request, Sampling

GREEDY = Sampling()  # the default: greedy, one sample (immutable, so safe as a default)


# ---------------------------------------------------------------------------------------------------------------
# records
@dataclass
class ThinkingRecord:
    method: str
    prompt_index: int
    sample_index: int
    prompt_tokens: int
    window: int | None  # window applied (after clamping, if any)
    window_requested: int | None
    max_tokens: int
    pass1_token_ids: list[int]
    pass1_text: str
    pass1_finish_reason: str
    window_hit: bool  # pass 2 / forcing ran for this sample
    hint: str | None
    answer: str  # the text to grade
    trajectory: str  # the full text (see the method's docs)
    thinking_tokens: int
    thinking_tokens_only: int
    finish_reason: str  # of the kept output
    pass2_prompt_tokens: int | None = None
    pass2_token_ids: list[int] | None = None
    pass2_text: str | None = None
    pass2_finish_reason: str | None = None
    pass2_cached_prompt_tokens: int | None = None
    pass1_cached_prompt_tokens: int | None = None
    decided_by_sample: int | None = None  # paper mode n>1: the sample whose finish decided
    pass2_from_sample: int | None = None  # whose thinking the pass-2 prompt continues
    timings: dict = field(default_factory=dict)  # wall seconds of the batched calls this sample was in
    options: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------------------
# answer budget (shared by STW, R1 truncation and budget forcing)
def _check_answer_budget(answer_budget) -> None:
    ab = answer_budget
    if isinstance(ab, bool) or not (
            (isinstance(ab, str) and ab in ("remaining", "full")) or (isinstance(ab, int) and ab >= 1)):
        raise ValueError(f"answer_budget must be 'remaining', 'full' or an int >= 1, got {ab!r}")


def _answer_budget_tokens(answer_budget, max_tokens: int, window: int) -> int:
    """Tokens for the answer after thinking capped at ``window`` (already clamped to max_tokens):
    "remaining" = max_tokens - window, "full" = max_tokens, an int = that many."""
    _check_answer_budget(answer_budget)
    if answer_budget == "remaining":
        return max_tokens - window
    if answer_budget == "full":
        return max_tokens
    return int(answer_budget)


# ---------------------------------------------------------------------------------------------------------------
# STW options
@dataclass(frozen=True)
class STWOptions:
    """Every way the corrected Shifted Thinking Window differs from the authors' code."""

    per_sample: bool = True  # paper False: outputs[0] decides pass 2 for all n samples
    answer_budget: str | int = "remaining"  # "remaining" = M - W | "full" = M (paper) | int: fixed
    keep_thinking: bool = True  # trajectory = thinking + hint + answer; paper False: pass-2 text only
    stop_ends_window: bool = False  # paper True: stop strings end pass 1 as well
    pass2_as_ids: bool = True  # paper False: pass-2 prompt = text (prompt + pass-1 text + hint) re-tokenised
    clamp_window: bool = True  # paper False: W > M is used as is

    def __post_init__(self) -> None:
        _check_answer_budget(self.answer_budget)

    def to_dict(self) -> dict:
        return asdict(self)


PAPER = STWOptions(per_sample=False, answer_budget="full", keep_thinking=False, stop_ends_window=True,
                   pass2_as_ids=False, clamp_window=False)
CORRECTED = STWOptions()
_MODES = {"paper": PAPER, "corrected": CORRECTED}


def stw_options(mode: str = "corrected", options: STWOptions | Mapping | None = None, **overrides) -> STWOptions:
    if mode not in _MODES:
        raise ValueError(f"mode must be 'paper' or 'corrected', got {mode!r}")
    base = _MODES[mode]
    if isinstance(options, STWOptions):
        base = options
    elif options:
        overrides = {**dict(options), **overrides}
    names = {f.name for f in dataclasses.fields(STWOptions)}
    bad = sorted(set(overrides) - names)
    if bad:
        raise ValueError(f"unknown STW option(s) {bad}; known: {sorted(names)}")
    return dataclasses.replace(base, **overrides) if overrides else base


# ---------------------------------------------------------------------------------------------------------------
# helpers
@dataclass(frozen=True)
class _Prompt:
    ids: tuple[int, ...]
    text: str  # for paper-mode re-tokenisation
    add_special: bool  # whether re-tokenising `text` should add special tokens (string prompts)


def _prepare(engine, prompts: Sequence) -> list[_Prompt]:
    tok = engine.tokenizer
    out = []
    for i, p in enumerate(prompts):
        if isinstance(p, str):
            ids = tuple(int(t) for t in tok(p)["input_ids"])
            out.append(_Prompt(ids, p, True))
        elif isinstance(p, Sequence) and p and isinstance(p[0], Mapping):
            ids = tuple(engine.encode_chat(list(p)))
            out.append(_Prompt(ids, tok.decode(list(ids), skip_special_tokens=False), False))
        else:
            ids = tuple(int(t) for t in p)
            out.append(_Prompt(ids, tok.decode(list(ids), skip_special_tokens=False) if ids else "", False))
        if not out[-1].ids:
            raise ValueError(f"prompt {i} is empty (no tokens)")
    return out


def _encode(engine, text: str, add_special: bool = False) -> list[int]:
    return [int(t) for t in engine.tokenizer(text, add_special_tokens=add_special)["input_ids"]]


def _check_common(max_tokens: int, sampling: Sampling, stop) -> None:
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ValueError(f"max_tokens must be an int >= 1, got {max_tokens!r}")
    if not isinstance(sampling, Sampling):
        raise TypeError(f"sampling must be a z1.engines.Sampling, got {type(sampling).__name__}")
    if isinstance(stop, str):
        raise TypeError("stop must be a sequence of strings, not a single string")


def _reject_unknown(method: str, extra: Mapping) -> None:
    """An option the method does not take is an error naming it (another method's option included:
    each method entry in params.yaml carries only its own options, z1.settings.METHOD_OPTIONS)."""
    if extra:
        raise ValueError(f"{method}: unknown option(s) {sorted(extra)}")


def _check_window(window) -> None:
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")


def _tokens_through(tokenizer, ids: Sequence[int], marker: str) -> int | None:
    """Smallest k such that decode(ids[:k]) contains marker (None if it never does)."""
    if marker not in tokenizer.decode(list(ids), skip_special_tokens=False):
        return None
    lo, hi = 1, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if marker in tokenizer.decode(list(ids[:mid]), skip_special_tokens=False):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _sample_seed(sampling: Sampling, j: int) -> Sampling:
    """Sampling for one follow-up sample (n=1); a seeded run gets a distinct seed per sample."""
    seed = None if sampling.seed is None else sampling.seed + j
    return dataclasses.replace(sampling, n=1, seed=seed)


def _generate(engine, requests: list[Request], *, retain: bool | int = False, progress: bool = False):
    if not requests:
        return [], 0.0
    t0 = time.perf_counter()
    outs = engine.generate(requests, progress=progress, retain=retain)  # every engine takes retain (base.Engine)
    return outs, time.perf_counter() - t0


@dataclass(frozen=True)
class FirstRound:
    """What a method's first engine call at one window is (the sweep protocol, z1.thinking.sweep): the
    requests, the window they are capped at after the method's own clamping, and the ``retain`` hint
    for the rows later rounds continue.  A method that can share its first round across windows has a
    ``first_round(engine, prompts, *, window, max_tokens, sampling, **options) -> FirstRound``
    attribute and accepts ``pass1=`` (that round's completions, given instead of generated)."""

    requests: list[Request]
    window: int
    retain: bool | int


def _check_pass1(method: str, pass1, n_prompts: int, n: int, window: int) -> list[list[Completion]]:
    """A precomputed first round (``pass1=``): one list of ``n`` completions per prompt, none longer
    than the window it stands for."""
    want = f"one list of {n} completion(s) (sampling.n) per prompt, for {n_prompts} prompt(s)"
    if isinstance(pass1, (str, bytes)) or not isinstance(pass1, Sequence) or len(pass1) != n_prompts:
        got = f"{len(pass1)} item(s)" if isinstance(pass1, Sequence) else type(pass1).__name__
        raise ValueError(f"{method}: pass1 must hold {want}; got {got}")
    out = []
    for i, cs in enumerate(pass1):
        if isinstance(cs, (str, bytes)) or not isinstance(cs, Sequence) or len(cs) != n:
            got = f"{len(cs)} item(s)" if isinstance(cs, Sequence) else type(cs).__name__
            raise ValueError(f"{method}: pass1[{i}] must be a list of {n} completion(s) (sampling.n); got {got}")
        for j, c in enumerate(cs):
            if not all(hasattr(c, a) for a in ("token_ids", "text", "finish_reason")):
                raise ValueError(f"{method}: pass1[{i}][{j}] is not a Completion ({type(c).__name__})")
            if c.finish_reason not in ("stop", "length") or len(c.token_ids) > window:
                raise ValueError(f"{method}: pass1[{i}][{j}] does not fit window {window} "
                                 f"({len(c.token_ids)} token(s), finish_reason {c.finish_reason!r})")
        out.append(list(cs))
    return out
