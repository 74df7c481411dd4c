"""Window sweeps: several windows of one method, sharing the first round under greedy decoding
(see window_sweep)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from z1.engines.base import Completion, Sampling, text_of
from z1.prompts import HINT
from z1.thinking.common import (
    GREEDY,
    ThinkingRecord,
    _check_window,
    _generate,
    _prepare,
)
from z1.thinking.stw import (
    _stw_config,
    no_cap,
    one_pass_run,
    shifted_thinking_window,
)


# ---------------------------------------------------------------------------------------------------------------
# window sweep
def _truncate(c: Completion, w: int, engine) -> Completion:
    """Pass 1 at window w derived from a greedy pass 1 at a larger window (see window_sweep): a
    completion that fits in w tokens (finished within w, or capped at w itself) is kept as it is."""
    if len(c.token_ids) <= w:
        return c
    ids = list(c.token_ids[:w])
    return Completion(ids, text_of(engine, ids), "length", c.cached_prompt_tokens)


def window_sweep(engine, prompts: Sequence, windows: Sequence[int], *, function: str | Callable = "shifted_thinking_window",
                 max_tokens: int, sampling: Sampling = GREEDY,
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

    One-pass STW (``one_pass=True``): every window's requests go to the engine in one call (the
    hint forced after each window, z1.thinking.stw.one_pass_requests); nothing is shared but the
    prompt's prefix cache, and nothing waits for a first round.  Greedy or sampled.
    """
    from z1.thinking import METHODS  # the table lives in the package (it names every method)

    fn = function
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
    if fn is shifted_thinking_window and kwargs.pop("one_pass", False):
        return _one_pass_sweep(engine, prompts, ws, max_tokens, sampling, progress, kwargs)
    first_round = getattr(fn, "first_round", None)  # the sweep protocol (common.FirstRound)
    if first_round is None or not sampling.greedy or not shared or len(ws) == 1:
        return {w: fn(engine, prompts, window=w, max_tokens=max_tokens, sampling=sampling, progress=progress, **kwargs)
                for w in ws}
    return _shared_sweep(engine, prompts, ws, fn, first_round, max_tokens, sampling, progress, kwargs)


def _shared_sweep(engine, prompts: Sequence, ws: list[int], fn: Callable, first_round: Callable, max_tokens: int,
                  sampling: Sampling, progress: bool, kwargs: dict) -> dict[int, list[ThinkingRecord]]:
    """Greedy sweep of a method with one shared first round (see window_sweep)."""
    # validate the whole configuration (typos, answer_budget, ...) before the expensive shared round:
    # with no prompts a method checks its arguments and makes no engine call
    for w in ws:
        fn(engine, [], window=w, max_tokens=max_tokens, sampling=sampling, progress=progress, **kwargs)
    ps = _prepare(engine, prompts)
    if not ps:
        return {w: [] for w in ws}
    # each window's run reads the prompts again: token ids, except a string prompt, which the paper
    # mode re-tokenises as text (so it must stay the caller's string)
    again = [pr if isinstance(pr, str) else list(p.ids) for pr, p in zip(prompts, ps, strict=True)]
    rounds = {w: first_round(engine, [], window=w, max_tokens=max_tokens, sampling=sampling, **kwargs) for w in ws}
    top = max(r.window for r in rounds.values())
    shared = first_round(engine, again, window=max(ws), max_tokens=max_tokens, sampling=sampling, **kwargs)
    first, t1 = _generate(engine, shared.requests, retain=rounds[ws[0]].retain, progress=progress)
    out = {}
    for w in ws:
        derived = [[_truncate(c, rounds[w].window, engine) for c in cs] for cs in first]
        recs = fn(engine, again, window=w, max_tokens=max_tokens, sampling=sampling, progress=progress, pass1=derived,
                  **kwargs)
        for r in recs:
            if "rounds_s" in r.timings:  # s1: one entry per round
                r.timings["rounds_s"][0] = t1
            else:
                r.timings["pass1_s"] = t1
            r.timings["pass1_shared"] = True
            r.notes.append(f"pass 1 shared with window {top} (greedy window sweep)")
        out[w] = recs
    return out


def _one_pass_sweep(engine, prompts: Sequence, ws: list[int], max_tokens: int, sampling: Sampling, progress: bool,
                    kwargs: dict) -> dict[int, list[ThinkingRecord]]:
    """One-pass STW at every window, all windows' requests in one engine call (see window_sweep)."""
    kw = dict(kwargs)
    stop, stop_ids = kw.pop("stop", ()), kw.pop("stop_token_ids", ())
    hint, mode, options = kw.pop("hint", HINT), kw.pop("mode", "corrected"), kw.pop("options", None)
    cfgs = [_stw_config(w, max_tokens, sampling, stop, stop_ids, hint, mode, options, kw) for w in ws]
    return dict(zip(ws, one_pass_run(engine, _prepare(engine, prompts), cfgs, progress=progress), strict=True))
