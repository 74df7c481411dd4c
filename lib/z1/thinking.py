"""Test-time methods as pure functions over an engine: one ``ThinkingRecord`` per sample.

Shifted Thinking Window (Z1, paper-notes §4)
--------------------------------------------
``shifted_thinking_window(engine, prompts, window=W, max_tokens=M, mode=...)``

* ``mode="paper"`` reproduces the authors' code (eval/*/reasoning.py) exactly:
  pass 1 with ``max_tokens=W`` (W is not clamped to M); only ``finish_reason == "length"`` triggers
  pass 2, whose prompt is the *text* ``prompt + pass-1 text + hint`` tokenised again and generated
  with the full M; the output kept for a capped sample is the pass-2 text only; with n > 1 the
  first sample (``outputs[0]``) decides for all: if it finished, every sibling keeps its pass-1
  text (capped siblings are graded on cut-off thinking); if it was capped, the n pass-2 samples all
  continue sample 0's thinking.  Stop strings also end pass 1.
* ``mode="corrected"`` (default): each sample decides for itself; the caller's settings are never
  touched (all settings objects are frozen here anyway; the authors' in-place mutation of
  SamplingParams has no counterpart); pass 2 is fed as token ids ``prompt ids + pass-1 ids + hint
  ids`` (no re-tokenisation drift) and gets only the remaining budget ``M - W``; W is clamped to M
  (recorded); stop strings do not end the thinking window unless ``stop_ends_window=True`` (they
  still end the pass-2 answer; the text of a sample that finished in pass 1 is left as generated,
  since thinking and answer cannot be told apart there: the benchmark's sanitiser trims it); stop
  token ids always end pass 1; the trajectory is thinking + hint + answer; the answer part is
  graded.  If W == M there is no budget left for an answer: a capped sample gets answer "" (noted).

Every difference is one field of ``STWOptions``; ``PAPER`` and ``CORRECTED`` are the two presets and
any field can be flipped by keyword (``shifted_thinking_window(..., mode="paper", per_sample=True)``).

Thinking tokens
---------------
``thinking_tokens`` is the paper's count: ``len(pass-1 token_ids)``, i.e. W for a capped sample and
the whole response, answer included, with its EOS / stop token (and a matched stop string's tokens),
for a sample that finished.  Hint and pass-2 tokens are not counted.  ``thinking_tokens_only``
removes the answer part where it can be separated: for a finished sample whose pass-1 text contains
``</think>`` (R1-style models), the tokens up to and including the one that completes ``</think>``;
for Z1-style outputs (no delimiters) the thinking and the answer cannot be told apart, so it equals
``thinking_tokens``.  For the R1 and s1 methods it counts the thinking span (forced strings included)
and excludes the answer.

Window sweeps
-------------
``window_sweep(engine, prompts, windows, function=..., max_tokens=M)`` runs a method at several
windows.  Under greedy decoding (``shared=True``, more than one window) the Shifted Thinking Window,
R1 truncation and s1 budget forcing generate their first round ONCE, at the largest window (clamped
to M), with the method's own first request (STW: stop strings only when they end the window; R1:
stop at ``</think>``; s1: stop at ``end_of_thinking``; stop ids for all), and derive the first round
of every smaller window w from it: a sample that finished (EOS / stop id / stop string) within w
tokens is unchanged, any other is cut to its first w ids with finish "length".  This is exact:
greedy decoding is deterministic, so the first w tokens of a run with a larger cap are the run
with cap w, and stop conditions are prefix-closed (a stop that fired within w tokens ended the
long run there; one that did not fire in the long run's first w tokens cannot fire in the run
capped at w).  The rest of each method (STW / R1 pass 2; s1's "Wait" rounds, which depend on w, and
its answer) runs per window, given the derived first round (``pass1=`` for R1 and s1), and reuses
the shared thinking through the prefix cache / KV store.  Sampled sweeps run every window
independently.

Prompts
-------
``prompts`` is a list whose items are token-id sequences (the normal case, from
``engine.encode_chat``), chat message lists (encoded with ``engine.encode_chat``), or raw strings
(tokenised like vLLM does for a text prompt, special tokens added).  Paper mode rebuilds the pass-2
prompt as text: a string prompt is used as given, an id prompt is decoded with its special tokens.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from z1.engines.base import Completion, Request, Sampling
from z1.prompts import (
    HINT,
    HINT_BOXED,
    R1_CLOSE_THINKING,
    R1_FORCE_ANSWER,
    S1_FINAL_ANSWER,
    S1_WAIT,
    THINK_CLOSE,
)

__all__ = [
    "STWOptions", "PAPER", "CORRECTED", "ThinkingRecord", "shifted_thinking_window", "no_cap",
    "r1_truncation", "budget_forcing", "window_sweep", "METHODS", "GREEDY", "stw_options", "resolve_hint",
]


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


_CROSS_METHOD = {"mode", "hint", "options", "window"} | {f.name for f in dataclasses.fields(STWOptions)}


def _reject_unknown(method: str, extra: Mapping) -> None:
    """Methods accept (and ignore) the other methods' options, so one config can drive a sweep;
    anything else is a typo and fails loudly."""
    bad = sorted(set(extra) - _CROSS_METHOD)
    if bad:
        raise ValueError(f"{method}: unknown option(s) {bad}")


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


# ---------------------------------------------------------------------------------------------------------------
# STW
@dataclass(frozen=True)
class _STWConfig:
    window: int
    window_requested: int
    max_tokens: int
    sampling: Sampling
    stop: tuple[str, ...]
    stop_token_ids: tuple[int, ...]
    hint: str
    opts: STWOptions
    mode: str
    notes: tuple[str, ...] = ()


_HINT_NAMES = {"plain": HINT, "default": HINT, "boxed": HINT_BOXED}


def resolve_hint(hint: str) -> str:
    """A hint string; the names "plain"/"default" (HINT) and "boxed" (HINT_BOXED) are accepted."""
    if not isinstance(hint, str):
        raise TypeError("hint must be a string")
    return _HINT_NAMES.get(hint, hint)


def _stw_config(window, max_tokens, sampling, stop, stop_token_ids, hint, mode, options, overrides) -> _STWConfig:
    _check_window(window)
    _check_common(max_tokens, sampling, stop)
    hint = resolve_hint(hint)
    opts = stw_options(mode, options, **overrides)
    notes = []
    w = window
    if window > max_tokens and opts.clamp_window:
        w = max_tokens
        notes.append(f"window {window} > max_tokens {max_tokens}: clamped to {max_tokens}")
    return _STWConfig(w, window, max_tokens, sampling, tuple(stop), tuple(int(t) for t in stop_token_ids),
                      hint, opts, mode, tuple(notes))


def _pass1_request(p: _Prompt, cfg: _STWConfig, max_tokens: int | None = None) -> Request:
    return Request(p.ids, max_tokens or cfg.window, stop=cfg.stop if cfg.opts.stop_ends_window else (),
                   stop_token_ids=cfg.stop_token_ids, sampling=cfg.sampling)


def _answer_budget(cfg: _STWConfig) -> int:
    return _answer_budget_tokens(cfg.opts.answer_budget, cfg.max_tokens, cfg.window)


def _stw_finish(engine, prompts: list[_Prompt], pass1: list[list[Completion]], cfg: _STWConfig,
                t_pass1: float, method: str = "shifted_thinking_window", progress: bool = False) -> list[ThinkingRecord]:
    """Everything after pass 1: decide, run pass 2 for capped samples, build the records."""
    opts = cfg.opts
    tok = engine.tokenizer
    hint_ids = _encode(engine, cfg.hint) if opts.pass2_as_ids else None
    budget = _answer_budget(cfg)
    options = {"mode": cfg.mode, **opts.to_dict(), "stop": list(cfg.stop), "stop_token_ids": list(cfg.stop_token_ids),
               "sampling": cfg.sampling.to_dict(), "answer_budget_tokens": budget}

    # which samples go to pass 2, and how
    jobs: list[tuple] = []  # (prompt idx, [sample idxs], source sample, request)
    for i, (p, outs) in enumerate(zip(prompts, pass1, strict=True)):
        if opts.per_sample:
            for j, c in enumerate(outs):
                if c.finish_reason == "length" and budget > 0:
                    ids = list(p.ids) + list(c.token_ids) + list(hint_ids) if opts.pass2_as_ids else \
                        _encode(engine, p.text + c.text + cfg.hint, p.add_special)
                    jobs.append((i, [j], j, Request(tuple(ids), budget, stop=cfg.stop, stop_token_ids=cfg.stop_token_ids,
                                                    sampling=_sample_seed(cfg.sampling, j))))
        elif outs[0].finish_reason == "length" and budget > 0:
            c = outs[0]
            ids = list(p.ids) + list(c.token_ids) + list(hint_ids) if opts.pass2_as_ids else \
                _encode(engine, p.text + c.text + cfg.hint, p.add_special)
            jobs.append((i, list(range(len(outs))), 0, Request(tuple(ids), budget, stop=cfg.stop,
                                                               stop_token_ids=cfg.stop_token_ids, sampling=cfg.sampling)))
    p2_outs, t_pass2 = _generate(engine, [j[3] for j in jobs], progress=progress)
    pass2: dict[tuple[int, int], tuple[Completion, Request, int]] = {}
    for (i, samples, src, req), outs in zip(jobs, p2_outs, strict=True):
        for k, j in enumerate(samples):
            pass2[(i, j)] = (outs[k], req, src)

    records = []
    for i, (p, outs) in enumerate(zip(prompts, pass1, strict=True)):
        for j, c in enumerate(outs):
            decider = j if opts.per_sample else 0
            hit = outs[decider].finish_reason == "length"
            notes = list(cfg.notes)
            rec = ThinkingRecord(
                method=method, prompt_index=i, sample_index=j, prompt_tokens=len(p.ids), window=cfg.window,
                window_requested=cfg.window_requested, max_tokens=cfg.max_tokens,
                pass1_token_ids=list(c.token_ids), pass1_text=c.text, pass1_finish_reason=c.finish_reason,
                window_hit=hit, hint=cfg.hint if hit else None, answer=c.text, trajectory=c.text,
                thinking_tokens=len(c.token_ids), thinking_tokens_only=len(c.token_ids),
                finish_reason=c.finish_reason, pass1_cached_prompt_tokens=c.cached_prompt_tokens,
                decided_by_sample=decider, timings={"pass1_s": t_pass1}, options=options, notes=notes)
            if not hit and c.finish_reason != "length":
                k = _tokens_through(tok, c.token_ids, THINK_CLOSE)
                if k is not None:
                    rec.thinking_tokens_only = k
            if hit:
                if (i, j) in pass2:
                    a, req, src = pass2[(i, j)]
                    rec.pass2_prompt_tokens = len(req.prompt_ids)
                    rec.pass2_token_ids, rec.pass2_text = list(a.token_ids), a.text
                    rec.pass2_finish_reason, rec.pass2_cached_prompt_tokens = a.finish_reason, a.cached_prompt_tokens
                    rec.pass2_from_sample = src
                    rec.answer, rec.finish_reason = a.text, a.finish_reason
                    rec.timings["pass2_s"] = t_pass2
                    thinking_text = outs[src].text
                else:  # no answer budget left (corrected mode with W == M)
                    rec.answer, rec.finish_reason = "", "length"
                    rec.notes.append("no token budget left for the answer (window == max_tokens)")
                    thinking_text = c.text
                rec.trajectory = (thinking_text + cfg.hint + rec.answer) if opts.keep_thinking else rec.answer
            elif c.finish_reason == "length" and not opts.per_sample:
                rec.notes.append("capped, but sample 0 finished: graded on cut-off thinking (authors' n>1 defect)")
            records.append(rec)
    return records


def shifted_thinking_window(
    engine,
    prompts: Sequence,
    *,
    window: int,
    max_tokens: int,
    sampling: Sampling = GREEDY,
    stop: Sequence[str] = (),
    stop_token_ids: Sequence[int] = (),
    mode: str = "corrected",
    hint: str = HINT,
    options: STWOptions | Mapping | None = None,
    progress: bool = False,
    **overrides,
) -> list[ThinkingRecord]:
    """Z1's Shifted Thinking Window; see the module docstring for both modes.

    Returns one record per (prompt, sample), prompt-major.  ``overrides`` are STWOptions fields
    (flip one difference at a time); ``options`` replaces the mode's preset.  ``hint`` is the text
    appended after capped thinking (``HINT``; the names "plain" and "boxed" select HINT / HINT_BOXED).
    ``stop_token_ids`` always end pass 1 (they are EOS-like, e.g. ``<|im_end|>``).
    """
    cfg = _stw_config(window, max_tokens, sampling, stop, stop_token_ids, hint, mode, options, overrides)
    ps = _prepare(engine, prompts)
    if not ps:
        return []
    pass1, t1 = _generate(engine, [_pass1_request(p, cfg) for p in ps], retain=cfg.window, progress=progress)
    return _stw_finish(engine, ps, pass1, cfg, t1, progress=progress)


# ---------------------------------------------------------------------------------------------------------------
# no cap
def no_cap(engine, prompts: Sequence, *, max_tokens: int, sampling: Sampling = GREEDY, stop: Sequence[str] = (),
           stop_token_ids: Sequence[int] = (), window: int | None = None, progress: bool = False,
           **ignored) -> list[ThinkingRecord]:
    """Plain generation to max_tokens (``window`` is accepted and ignored, so sweeps can pass it).

    thinking_tokens = len(token_ids) of the whole response (the paper's count with W = max_tokens).
    """
    _check_common(max_tokens, sampling, stop)
    _reject_unknown("no_cap", ignored)
    ps = _prepare(engine, prompts)
    reqs = [Request(p.ids, max_tokens, stop=tuple(stop), stop_token_ids=tuple(stop_token_ids), sampling=sampling)
            for p in ps]
    outs, t = _generate(engine, reqs, progress=progress)
    options = {"stop": list(stop), "stop_token_ids": list(stop_token_ids), "sampling": sampling.to_dict()}
    recs = []
    for i, (p, cs) in enumerate(zip(ps, outs, strict=True)):
        for j, c in enumerate(cs):
            k = _tokens_through(engine.tokenizer, c.token_ids, THINK_CLOSE) if c.finish_reason == "stop" else None
            recs.append(ThinkingRecord(
                method="no_cap", prompt_index=i, sample_index=j, prompt_tokens=len(p.ids), window=None,
                window_requested=window, max_tokens=max_tokens, pass1_token_ids=list(c.token_ids), pass1_text=c.text,
                pass1_finish_reason=c.finish_reason, window_hit=False, hint=None, answer=c.text, trajectory=c.text,
                thinking_tokens=len(c.token_ids), thinking_tokens_only=k if k is not None else len(c.token_ids),
                finish_reason=c.finish_reason, pass1_cached_prompt_tokens=c.cached_prompt_tokens,
                timings={"pass1_s": t}, options=options))
    return recs


# ---------------------------------------------------------------------------------------------------------------
# R1-style truncation
def _r1_pass1_request(p: _Prompt, w: int, think_close: str, stop_token_ids: Sequence[int], sampling: Sampling) -> Request:
    return Request(p.ids, w, stop=(think_close,), stop_token_ids=tuple(int(t) for t in stop_token_ids),
                   sampling=sampling)


def r1_truncation(engine, prompts: Sequence, *, window: int, max_tokens: int, sampling: Sampling = GREEDY,
                  stop: Sequence[str] = (), stop_token_ids: Sequence[int] = (), think_close: str = THINK_CLOSE,
                  close_text: str = R1_CLOSE_THINKING, force_text: str = R1_FORCE_ANSWER, answer_budget: str | int = "remaining",
                  progress: bool = False, pass1: Sequence[Sequence[Completion]] | None = None,
                  **ignored) -> list[ThinkingRecord]:
    """Cap the thinking span of a ``<think>`` model at ``window`` tokens, then force the answer.

    Pass 1 generates up to ``window`` tokens and stops at ``think_close`` ("</think>", passed as a stop
    string, so its tokens stay in token_ids and count as thinking) or at EOS / a stop id.
    * window reached inside the thinking (finish "length"): the span is closed with ``close_text``
      ("\\n</think>\\n\\n") and the answer is forced with ``force_text`` ("the final answer is:",
      the paper's table caption); pass 2 generates the answer after it.  window_hit = True.
    * ``</think>`` before the window: thinking ended naturally; pass 2 continues right after the
      model's own ``</think>`` (nothing forced).  window_hit = False.
    * EOS / stop id before the window (no ``</think>``): the output stands, no pass 2.
    Pass 2 is fed as token ids (prefix reuse applies) with ``answer_budget``: "remaining" =
    max_tokens - window (default; window clamped to max_tokens), "full" = max_tokens, or an int >= 1
    (anything else is a ValueError); stop strings apply to it.  With no budget left (window ==
    max_tokens, "remaining") a capped or closed sample gets answer "" (noted).
    thinking_tokens = thinking_tokens_only = pass-1 length (W when capped); answer = pass-2 text
    (the forced text belongs to the trajectory, not to the answer); trajectory = thinking + forced
    text + answer.

    ``pass1`` (keyword only; ``window_sweep`` uses it): the pass-1 completions at this window, one
    list of ``sampling.n`` per prompt, instead of generating them (pass 2 runs as usual); its
    timing is then recorded as 0.0.
    """
    _check_window(window)
    _check_common(max_tokens, sampling, stop)
    _reject_unknown("r1_truncation", ignored)
    ps = _prepare(engine, prompts)
    w = min(window, max_tokens)
    budget = _answer_budget_tokens(answer_budget, max_tokens, w)
    if pass1 is None:
        reqs = [_r1_pass1_request(p, w, think_close, stop_token_ids, sampling) for p in ps]
        pass1, t1 = _generate(engine, reqs, retain=True, progress=progress)
    else:
        pass1, t1 = _check_pass1("r1_truncation", pass1, len(ps), sampling.n, w), 0.0
    jobs = []
    closed = set()  # samples whose thinking ended with the model's own think_close
    for i, (p, cs) in enumerate(zip(ps, pass1, strict=True)):
        for j, c in enumerate(cs):
            hit_close = c.finish_reason == "stop" and think_close in engine.tokenizer.decode(
                c.token_ids, skip_special_tokens=False)
            if c.finish_reason == "length":
                suffix = _encode(engine, close_text + force_text)
                kind = "forced"
            elif hit_close:
                suffix, kind = [], "closed"
                closed.add((i, j))
            else:
                continue
            if budget > 0:
                jobs.append((i, j, kind, suffix, Request(tuple(p.ids) + tuple(c.token_ids) + tuple(suffix), budget,
                                                         stop=tuple(stop), stop_token_ids=tuple(stop_token_ids),
                                                         sampling=_sample_seed(sampling, j))))
    outs2, t2 = _generate(engine, [jb[4] for jb in jobs], progress=progress)
    p2 = {(jb[0], jb[1]): (jb, o[0]) for jb, o in zip(jobs, outs2, strict=True)}
    options = {"window": window, "think_close": think_close, "close_text": close_text, "force_text": force_text,
               "answer_budget": answer_budget, "answer_budget_tokens": budget, "stop": list(stop),
               "stop_token_ids": list(stop_token_ids), "sampling": sampling.to_dict()}
    recs = []
    for i, (p, cs) in enumerate(zip(ps, pass1, strict=True)):
        for j, c in enumerate(cs):
            n1 = len(c.token_ids)
            rec = ThinkingRecord(
                method="r1_truncation", prompt_index=i, sample_index=j, prompt_tokens=len(p.ids), window=w,
                window_requested=window, max_tokens=max_tokens, pass1_token_ids=list(c.token_ids), pass1_text=c.text,
                pass1_finish_reason=c.finish_reason, window_hit=c.finish_reason == "length", hint=None,
                answer=c.text, trajectory=c.text, thinking_tokens=n1, thinking_tokens_only=n1,
                finish_reason=c.finish_reason, pass1_cached_prompt_tokens=c.cached_prompt_tokens,
                timings={"pass1_s": t1}, options=options)
            if (i, j) in p2:
                (_, _, kind, suffix, req), a = p2[(i, j)]
                thinking = engine.tokenizer.decode(c.token_ids, skip_special_tokens=False) if kind == "closed" else c.text
                forced = close_text + force_text if kind == "forced" else ""
                rec.hint = forced or None
                rec.pass2_prompt_tokens = len(req.prompt_ids)
                rec.pass2_token_ids, rec.pass2_text, rec.pass2_finish_reason = list(a.token_ids), a.text, a.finish_reason
                rec.pass2_cached_prompt_tokens = a.cached_prompt_tokens
                rec.answer, rec.finish_reason = a.text, a.finish_reason
                rec.trajectory = thinking + forced + a.text
                rec.timings["pass2_s"] = t2
            elif c.finish_reason == "length" or ((i, j) in closed and budget <= 0):  # an EOS-finished output stands
                rec.answer, rec.finish_reason = "", "length"
                rec.notes.append("no token budget left for the answer")
            recs.append(rec)
    return recs


# ---------------------------------------------------------------------------------------------------------------
# s1 budget forcing
def _bf_first_request(p: _Prompt, w: int, end_of_thinking: Sequence[str], stop_token_ids: Sequence[int],
                      sampling: Sampling) -> Request:
    return Request(p.ids, w, stop=tuple(end_of_thinking), stop_token_ids=tuple(int(t) for t in stop_token_ids),
                   sampling=sampling)


def budget_forcing(engine, prompts: Sequence, *, window: int, max_tokens: int, sampling: Sampling = GREEDY,
                   min_thinking: int = 0, max_waits: int = 8, stop: Sequence[str] = (),
                   stop_token_ids: Sequence[int] = (), end_of_thinking: Sequence[str] = (),
                   wait_text: str = S1_WAIT, final_answer_text: str = S1_FINAL_ANSWER,
                   answer_separator: str = "\n\n", answer_budget: str | int = "remaining", progress: bool = False,
                   pass1: Sequence[Sequence[Completion]] | None = None, **ignored) -> list[ThinkingRecord]:
    """s1's budget forcing with ``window`` as the maximum thinking budget (W) and ``min_thinking``.

    Thinking is the generated span after the prompt; it ends at EOS / a stop id, or at one of
    ``end_of_thinking`` (stop strings such as "</think>"; empty for delimiter-free models).
    * minimum budget: while a sample's thinking ended before ``min_thinking`` tokens, its end (the
      EOS / stop id, or the end string) is dropped, ``wait_text`` ("Wait") is appended, and thinking
      continues with the rest of the budget (at most ``max_waits`` times);
    * maximum budget: when the thinking reaches W tokens, it is ended by appending
      ``answer_separator + final_answer_text`` ("\\n\\nFinal Answer:") and the answer is generated
      with ``answer_budget`` tokens: "remaining" = max_tokens - W (default; W clamped to
      max_tokens), "full" = max_tokens, or an int >= 1 (as in ``r1_truncation``; anything else is a
      ValueError); stop strings apply to the answer only.  With no budget left (W == max_tokens,
      "remaining") the answer is "" (noted).
    A sample that ends naturally keeps its whole text as the answer (a delimiter-free output cannot
    be split).  Every round is fed as token ids, so the KV store / prefix cache reuse applies.
    thinking_tokens = length of the thinking span in tokens (forced "Wait"s included, so W bounds it;
    the final EOS counted as in the paper's count); window_hit = the maximum budget forced the answer.

    ``pass1`` (keyword only; ``window_sweep`` uses it): the first round's completions at this window
    (the request "prompt, up to W tokens, stop at ``end_of_thinking`` / ``stop_token_ids``"), one list
    of ``sampling.n`` per prompt, instead of generating them; the "Wait" rounds and the answer run as
    usual.  The first round's timing is then recorded as 0.0.
    """
    _check_window(window)
    _check_common(max_tokens, sampling, stop)
    _reject_unknown("budget_forcing", ignored)
    if min_thinking < 0 or max_waits < 0:
        raise ValueError("min_thinking and max_waits must be >= 0")
    tok = engine.tokenizer
    ps = _prepare(engine, prompts)
    w = min(window, max_tokens)
    budget = _answer_budget_tokens(answer_budget, max_tokens, w)
    ends, stop_ids = tuple(end_of_thinking), tuple(int(t) for t in stop_token_ids)
    wait_ids = _encode(engine, wait_text)
    force = answer_separator + final_answer_text
    force_ids = _encode(engine, force)
    # per (prompt, sample): thinking ids so far, waits, the last round's completion, round timings
    state: dict[tuple[int, int], dict] = {}
    if pass1 is None:
        outs, t = _generate(engine, [_bf_first_request(p, w, ends, stop_ids, sampling) for p in ps],
                            retain=True, progress=progress)
    else:
        outs, t = _check_pass1("budget_forcing", pass1, len(ps), sampling.n, w), 0.0
    rounds = [t]
    for i, cs in enumerate(outs):
        for j, c in enumerate(cs):
            state[(i, j)] = {"ctx": list(c.token_ids), "waits": 0, "last": c, "body": []}
    while True:
        todo = [(k, s) for k, s in state.items() if s["last"].finish_reason == "stop" and len(s["ctx"]) < min_thinking
                and s["waits"] < max_waits and len(s["ctx"]) < w]
        if not todo:
            break
        reqs = []
        for (i, j), s in todo:
            body = s["ctx"][: len(s["ctx"]) - len(s["last"].token_ids)]
            ctx = body + _without_end(tok, s["last"], stop_ids, _eos_ids(engine)) + wait_ids
            s["ctx"], s["waits"] = ctx, s["waits"] + 1
            reqs.append(Request(ps[i].ids + tuple(ctx), max(1, w - len(ctx)), stop=ends, stop_token_ids=stop_ids,
                                sampling=_sample_seed(sampling, j + 1000 * s["waits"])))
        outs, t = _generate(engine, reqs, retain=True, progress=progress)
        rounds.append(t)
        for (_, s), cs in zip(todo, outs, strict=True):
            s["ctx"] = s["ctx"] + list(cs[0].token_ids)
            s["last"] = cs[0]
    jobs = [((i, j), Request(ps[i].ids + tuple(s["ctx"]) + tuple(force_ids), budget, stop=tuple(stop),
                             stop_token_ids=stop_ids, sampling=_sample_seed(sampling, j)))
            for (i, j), s in state.items() if s["last"].finish_reason == "length" and budget > 0]
    outs2, t2 = _generate(engine, [r for _, r in jobs], progress=progress)
    p2 = {k: (r, o[0]) for (k, r), o in zip(jobs, outs2, strict=True)}
    options = {"window": window, "min_thinking": min_thinking, "max_waits": max_waits, "end_of_thinking": list(ends),
               "wait_text": wait_text, "final_answer_text": final_answer_text, "answer_separator": answer_separator,
               "answer_budget": answer_budget, "answer_budget_tokens": budget, "stop": list(stop),
               "stop_token_ids": list(stop_ids),
               "sampling": sampling.to_dict()}
    recs = []
    for (i, j), s in sorted(state.items()):
        c, ctx = s["last"], s["ctx"]
        body = ctx[: len(ctx) - len(c.token_ids)]
        text = tok.decode(body, skip_special_tokens=True) + c.text  # text of the whole thinking span
        rec = ThinkingRecord(
            method="budget_forcing", prompt_index=i, sample_index=j, prompt_tokens=len(ps[i].ids), window=w,
            window_requested=window, max_tokens=max_tokens, pass1_token_ids=list(ctx), pass1_text=text,
            pass1_finish_reason=c.finish_reason, window_hit=c.finish_reason == "length", hint=None, answer=text,
            trajectory=text, thinking_tokens=len(ctx), thinking_tokens_only=len(ctx), finish_reason=c.finish_reason,
            timings={"rounds_s": list(rounds)}, options=options,
            notes=[f"{s['waits']} x {wait_text!r} appended (minimum budget)"] if s["waits"] else [])
        if (i, j) in p2:
            r, a = p2[(i, j)]
            rec.hint = force
            rec.pass2_prompt_tokens, rec.pass2_cached_prompt_tokens = len(r.prompt_ids), a.cached_prompt_tokens
            rec.pass2_token_ids, rec.pass2_text, rec.pass2_finish_reason = list(a.token_ids), a.text, a.finish_reason
            rec.answer, rec.finish_reason, rec.trajectory = a.text, a.finish_reason, text + force + a.text
            rec.timings["pass2_s"] = t2
        elif c.finish_reason == "length":
            rec.answer, rec.notes = "", rec.notes + ["no token budget left for the answer"]
        recs.append(rec)
    return recs


def _eos_ids(engine) -> set[int]:
    out = set()
    t = getattr(engine.tokenizer, "eos_token_id", None)
    if t is not None:
        out.add(int(t))
    out.update(getattr(engine, "eos_ids", ()) or ())
    return out


def _without_end(tok, c: Completion, stop_ids: tuple[int, ...], eos: set[int]) -> list[int]:
    """A finished round's ids without its end: drop a final EOS / stop id; for a stop string keep
    the longest token prefix whose text is a prefix of the kept text and encode the rest of it."""
    ids = list(c.token_ids)
    if ids and (ids[-1] in eos or ids[-1] in stop_ids):
        return ids[:-1]
    k = len(ids)
    while k > 0 and not c.text.startswith(tok.decode(ids[:k], skip_special_tokens=True)):
        k -= 1
    rest = c.text[len(tok.decode(ids[:k], skip_special_tokens=True)):]
    return ids[:k] + ([int(t) for t in tok(rest, add_special_tokens=False)["input_ids"]] if rest else [])


METHODS: dict[str, Callable[..., list[ThinkingRecord]]] = {
    "shifted_thinking_window": shifted_thinking_window,
    "stw": shifted_thinking_window,
    "no_cap": no_cap,
    "r1_truncation": r1_truncation,
    "budget_forcing": budget_forcing,
}


# ---------------------------------------------------------------------------------------------------------------
# window sweep
def _truncate(c: Completion, w: int, tokenizer) -> Completion:
    """Pass 1 at window w derived from a greedy pass 1 at a larger window (see window_sweep): a
    completion that fits in w tokens (finished within w, or capped at w itself) is kept as it is."""
    if len(c.token_ids) <= w:
        return c
    ids = list(c.token_ids[:w])
    return Completion(ids, tokenizer.decode(ids, skip_special_tokens=True), "length", c.cached_prompt_tokens)


def window_sweep(engine, prompts: Sequence, windows: Sequence[int], *, function: str | Callable = "shifted_thinking_window",
                 method: str | Callable | None = None, max_tokens: int, sampling: Sampling = GREEDY,
                 shared: bool = True, progress: bool = False, **kwargs: Any) -> dict[int, list[ThinkingRecord]]:
    """Run a method at several windows: ``{window: records}``.

    Shared first round (greedy decoding, ``shared=True``, more than one window; for
    ``shifted_thinking_window``, ``r1_truncation`` and ``budget_forcing``): the method's own first
    request (STW: pass 1, stop strings only when they end the window; R1: stop at ``think_close``;
    s1: stop at ``end_of_thinking``; stop ids always) runs ONCE, at the largest window (clamped to
    max_tokens as each method clamps it); the first round of each smaller window w is derived from
    it (``_truncate``): a sample that finished (EOS, stop id or stop string) at slot k <= w finished
    for window w too, with the same output (an EOS exactly in slot w gives "stop", as vLLM 0.32 and
    the transformers backend report it; an EOS in slot w + 1 means capped at w: the paper's "finish
    within W" rule); any other sample is capped at w with the first w token ids and "length".  This
    is exact, not an approximation: greedy decoding is deterministic, so the first w tokens of a run
    capped at a larger window ARE the run capped at w, and every stop condition is prefix-closed
    (one that fired in the first w tokens ends the long run there too; one that did not fire there
    cannot have fired in the run capped at w).  Everything after the first round runs per window
    as in an independent run (STW's pass 2, R1's pass 2, s1's "Wait" rounds, which depend on w, and
    its answer), fed as token ids that start with the first-round ids, so vLLM's prefix cache / the
    transformers KV store reuse the thinking.  Records of a shared run carry the note "pass 1
    shared with window <top> (greedy window sweep)" and ``timings["pass1_shared"] = True``.
    With temperature > 0, ``shared=False``, a single window or another method, every window is an
    independent run (``no_cap`` runs once and is reused for every window).
    """
    fn = method if method is not None else function
    if isinstance(fn, str):
        if fn not in METHODS:
            raise ValueError(f"unknown method {fn!r}; known: {sorted(METHODS)}")
        fn = METHODS[fn]
    ws = sorted({int(w) for w in windows}) if windows is not None else []
    if not ws:
        raise ValueError("window_sweep needs at least one window")
    for w in ws:
        _check_window(w)
    if "pass1" in kwargs:
        raise ValueError("window_sweep: pass1 is not an option (the sweep derives each window's first round itself)")
    if fn is no_cap:
        recs = no_cap(engine, prompts, max_tokens=max_tokens, sampling=sampling, progress=progress, **kwargs)
        return {w: recs for w in ws}
    if fn not in (shifted_thinking_window, r1_truncation, budget_forcing) or not sampling.greedy or not shared \
            or len(ws) == 1:
        return {w: fn(engine, prompts, window=w, max_tokens=max_tokens, sampling=sampling, progress=progress, **kwargs)
                for w in ws}
    if fn is not shifted_thinking_window:
        return _shared_sweep(engine, prompts, ws, fn, max_tokens, sampling, progress, kwargs)
    # shared greedy STW
    kw = dict(kwargs)
    stop, stop_ids = kw.pop("stop", ()), kw.pop("stop_token_ids", ())
    hint, mode, options = kw.pop("hint", HINT), kw.pop("mode", "corrected"), kw.pop("options", None)
    cfgs = {w: _stw_config(w, max_tokens, sampling, stop, stop_ids, hint, mode, options, kw) for w in ws}
    ps = _prepare(engine, prompts)
    if not ps:
        return {w: [] for w in ws}
    top = max(c.window for c in cfgs.values())
    cfg_top = next(c for c in cfgs.values() if c.window == top)
    smallest = min(c.window for c in cfgs.values())
    pass1, t1 = _generate(engine, [_pass1_request(p, cfg_top) for p in ps], retain=smallest, progress=progress)
    out = {}
    for w, cfg in cfgs.items():
        derived = [[_truncate(c, cfg.window, engine.tokenizer) for c in cs] for cs in pass1]
        recs = _stw_finish(engine, ps, derived, cfg, t1, progress=progress)
        for r in recs:
            r.notes.append(f"pass 1 shared with window {top} (greedy window sweep)")
            r.timings["pass1_shared"] = True
        out[w] = recs
    return out


def _shared_sweep(engine, prompts: Sequence, ws: list[int], fn: Callable, max_tokens: int, sampling: Sampling,
                  progress: bool, kwargs: dict) -> dict[int, list[ThinkingRecord]]:
    """Greedy sweep of r1_truncation / budget_forcing with one shared first round (see window_sweep)."""
    # validate the whole configuration (typos, answer_budget, ...) before the expensive shared round:
    # with no prompts a method checks its arguments and makes no engine call
    for w in ws:
        fn(engine, [], window=w, max_tokens=max_tokens, sampling=sampling, progress=progress, **kwargs)
    ps = _prepare(engine, prompts)
    if not ps:
        return {w: [] for w in ws}
    defaults = {k: v.default for k, v in inspect.signature(fn).parameters.items()}

    def opt(name: str):
        return kwargs.get(name, defaults[name])

    top, smallest = min(ws[-1], max_tokens), min(ws[0], max_tokens)
    stop_ids = opt("stop_token_ids")
    if fn is r1_truncation:
        reqs = [_r1_pass1_request(p, top, opt("think_close"), stop_ids, sampling) for p in ps]
        retain: bool | int = True  # samples that close their thinking continue at any length
    else:
        reqs = [_bf_first_request(p, top, opt("end_of_thinking"), stop_ids, sampling) for p in ps]
        # "Wait" rounds continue short finished samples; without them only capped ones (>= smallest) continue
        retain = True if opt("min_thinking") > 0 and opt("max_waits") > 0 else smallest
    first, t1 = _generate(engine, reqs, retain=retain, progress=progress)
    ids = [list(p.ids) for p in ps]
    out = {}
    for w in ws:
        derived = [[_truncate(c, min(w, max_tokens), engine.tokenizer) for c in cs] for cs in first]
        recs = fn(engine, ids, window=w, max_tokens=max_tokens, sampling=sampling, progress=progress, pass1=derived,
                  **kwargs)
        for r in recs:
            if fn is r1_truncation:
                r.timings["pass1_s"] = t1
            else:
                r.timings["rounds_s"][0] = t1
            r.timings["pass1_shared"] = True
            r.notes.append(f"pass 1 shared with window {top} (greedy window sweep)")
        out[w] = recs
    return out
