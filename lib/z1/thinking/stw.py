"""Z1's Shifted Thinking Window (see z1.thinking for both modes) and the no-cap run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from z1.engines.base import Completion, Request, Sampling, text_of
from z1.prompts import (
    HINT,
    HINT_BOXED,
    THINK_CLOSE,
)
from z1.thinking.common import (
    GREEDY,
    FirstRound,
    STWOptions,
    ThinkingRecord,
    _answer_budget_tokens,
    _check_common,
    _check_pass1,
    _check_window,
    _encode,
    _generate,
    _prepare,
    _Prompt,
    _reject_unknown,
    _sample_seed,
    _tokens_through,
    stw_options,
)


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


_HINT_NAMES = {"plain": HINT, "boxed": HINT_BOXED}


def resolve_hint(hint: str) -> str:
    """A hint string; the names "plain" (HINT) and "boxed" (HINT_BOXED) are accepted."""
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
                t_pass1: float, method: str = "shifted_thinking_window", progress: bool = False,
                answers: dict | None = None) -> list[ThinkingRecord]:
    """Everything after pass 1: decide, run pass 2 for capped samples, build the records.

    ``answers`` (the one-pass run): the pass-2 completions already decoded, {(prompt, sample):
    (completion, pass-2 prompt length)}; then nothing is generated here."""
    opts = cfg.opts
    tok = engine.tokenizer
    hint_ids = _encode(engine, cfg.hint) if opts.pass2_as_ids else None
    budget = _answer_budget(cfg)
    options = {"mode": cfg.mode, **opts.to_dict(), "stop": list(cfg.stop), "stop_token_ids": list(cfg.stop_token_ids),
               "sampling": cfg.sampling.to_dict(), "answer_budget_tokens": budget}
    if answers is not None:
        options["one_pass"] = True
        pass2 = {key: (c, n_prompt, key[1]) for key, (c, n_prompt) in answers.items()}
        return _stw_records(tok, prompts, pass1, pass2, cfg, options, {"pass1_s": t_pass1}, {}, method)

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
    pass2: dict[tuple[int, int], tuple[Completion, int, int]] = {}  # (completion, prompt tokens, source sample)
    for (i, samples, src, req), outs in zip(jobs, p2_outs, strict=True):
        for k, j in enumerate(samples):
            pass2[(i, j)] = (outs[k], len(req.prompt_ids), src)
    return _stw_records(tok, prompts, pass1, pass2, cfg, options, {"pass1_s": t_pass1}, {"pass2_s": t_pass2}, method)


def _stw_records(tok, prompts: list[_Prompt], pass1: list[list[Completion]], pass2: dict, cfg: _STWConfig,
                 options: dict, timings: dict, pass2_timings: dict, method: str) -> list[ThinkingRecord]:
    """One record per (prompt, sample) from pass 1 and the pass-2 completions of the capped samples."""
    opts = cfg.opts
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
                decided_by_sample=decider, timings=dict(timings), options=options, notes=notes)
            if not hit and c.finish_reason != "length":
                k = _tokens_through(tok, c.token_ids, THINK_CLOSE)
                if k is not None:
                    rec.thinking_tokens_only = k
            if hit:
                if (i, j) in pass2:
                    a, n_prompt, src = pass2[(i, j)]
                    rec.pass2_prompt_tokens = n_prompt
                    rec.pass2_token_ids, rec.pass2_text = list(a.token_ids), a.text
                    rec.pass2_finish_reason, rec.pass2_cached_prompt_tokens = a.finish_reason, a.cached_prompt_tokens
                    rec.pass2_from_sample = src
                    rec.answer, rec.finish_reason = a.text, a.finish_reason
                    rec.timings.update(pass2_timings)
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
    one_pass: bool = False,
    progress: bool = False,
    pass1: Sequence[Sequence[Completion]] | None = None,
    **overrides,
) -> list[ThinkingRecord]:
    """Z1's Shifted Thinking Window; see the module docstring for both modes.

    Returns one record per (prompt, sample), prompt-major.  ``overrides`` are STWOptions fields
    (flip one difference at a time); ``options`` replaces the mode's preset.  ``hint`` is the text
    appended after capped thinking (``HINT``; the names "plain" and "boxed" select HINT / HINT_BOXED).
    ``stop_token_ids`` always end pass 1 (they are EOS-like, e.g. ``<|im_end|>``).

    ``one_pass=True`` runs the corrected mode in a single engine call (see ``one_pass_requests``):
    the engine forces the hint ids after W thinking tokens and decodes the answer in the same
    sequence, so there is no pass-2 prefill and no wait for the slowest pass 1; each sample hits its
    own window under sampling.  The records equal the two-pass run's under greedy decoding (token ids,
    texts, finish reasons; tests on both engines).

    ``pass1`` (keyword only; ``window_sweep`` uses it): the pass-1 completions at this window, one
    list of ``sampling.n`` per prompt, instead of generating them; its timing is then 0.0.
    """
    cfg = _stw_config(window, max_tokens, sampling, stop, stop_token_ids, hint, mode, options, overrides)
    ps = _prepare(engine, prompts)
    if one_pass:
        if pass1 is not None:
            raise ValueError("one_pass generates its own first round: pass1 cannot be given")
        return one_pass_run(engine, ps, [cfg], progress=progress)[0]
    if not ps:
        return []
    if pass1 is None:
        pass1, t1 = _generate(engine, [_pass1_request(p, cfg) for p in ps], retain=cfg.window, progress=progress)
    else:
        pass1, t1 = _check_pass1("shifted_thinking_window", pass1, len(ps), sampling.n, cfg.window), 0.0
    return _stw_finish(engine, ps, pass1, cfg, t1, progress=progress)


def _stw_first_round(engine, prompts: Sequence, *, window: int, max_tokens: int, sampling: Sampling = GREEDY,
                     stop: Sequence[str] = (), stop_token_ids: Sequence[int] = (), mode: str = "corrected",
                     hint: str = HINT, options: STWOptions | Mapping | None = None, **overrides) -> FirstRound:
    """Pass 1 at ``window`` (the sweep protocol, common.FirstRound): stop strings only when they end
    the window; only capped rows (>= W tokens) continue."""
    cfg = _stw_config(window, max_tokens, sampling, stop, stop_token_ids, hint, mode, options, overrides)
    return FirstRound([_pass1_request(p, cfg) for p in _prepare(engine, prompts)], cfg.window, cfg.window)


shifted_thinking_window.first_round = _stw_first_round


# ---------------------------------------------------------------------------------------------------------------
# one pass
def _check_one_pass(cfg: _STWConfig) -> None:
    o = cfg.opts
    if not (o.per_sample and o.pass2_as_ids):
        raise ValueError("one_pass runs the corrected window (per_sample=True, pass2_as_ids=True): the authors' "
                         "re-tokenised text pass 2 and their sample-0 rule need two passes (mode='paper' runs them)")
    if cfg.stop:
        raise ValueError(f"one_pass cannot take stop strings ({list(cfg.stop)}): the engine would match them across "
                         "thinking, hint and answer, where the two-pass run matches them in the answer only; use "
                         "stop_token_ids, or the two-pass run")


def check_one_pass(*, stop: Sequence[str] = (), mode: str = "corrected", hint: str = HINT,
                   options: STWOptions | Mapping | None = None, **overrides) -> None:
    """Raise ValueError when a one-pass run of these STW settings could not equal the two-pass run
    (checked by the inference stage before any engine starts)."""
    _check_one_pass(_stw_config(1, 2, GREEDY, stop, (), hint, mode, options, overrides))


def one_pass_run(engine, prompts: list[_Prompt], cfgs: list[_STWConfig], *,
                 progress: bool = False) -> list[list[ThinkingRecord]]:
    """The one-pass window for each configuration (a sweep: one per window), every request in one
    engine call; the records of each configuration, in order."""
    for cfg in cfgs:
        _check_one_pass(cfg)
    if not prompts:
        return [[] for _ in cfgs]
    hint_ids = _encode(engine, cfgs[0].hint)  # one hint per run (a sweep's windows share their options)
    outs, t = _generate(engine, [r for cfg in cfgs for r in one_pass_requests(prompts, cfg, hint_ids)],
                        progress=progress)
    n = len(prompts)
    return [one_pass_records(engine, prompts, outs[k * n:(k + 1) * n], cfg, hint_ids, t) for k, cfg in enumerate(cfgs)]


def one_pass_requests(prompts: list[_Prompt], cfg: _STWConfig, hint_ids: list[int]) -> list[Request]:
    """One request per prompt: up to W free tokens (the window), then the hint ids forced
    (``Request.force_ids``), then up to the answer budget.  A sample that stops within W never sees
    the hint.  With no answer budget (W == M), the window alone."""
    budget = _answer_budget(cfg)
    if budget <= 0:
        return [_pass1_request(p, cfg) for p in prompts]
    return [Request(p.ids, cfg.window + len(hint_ids) + budget, stop_token_ids=cfg.stop_token_ids,
                    sampling=cfg.sampling, force_after=cfg.window, force_ids=tuple(hint_ids)) for p in prompts]


def one_pass_records(engine, prompts: list[_Prompt], outs: list[list[Completion]], cfg: _STWConfig,
                     hint_ids: list[int], seconds: float) -> list[ThinkingRecord]:
    """Split each one-pass completion into pass 1 (the first W ids), the forced hint and the answer,
    decoded as the two-pass run decodes them, and build the records with the two-pass code."""
    w, h, no_answer = cfg.window, len(hint_ids), _answer_budget(cfg) <= 0
    pass1: list[list[Completion]] = []
    answers: dict[tuple[int, int], tuple[Completion, int]] = {}
    for i, (p, cs) in enumerate(zip(prompts, outs, strict=True)):
        firsts = []
        for j, c in enumerate(cs):
            ids = list(c.token_ids)
            if len(ids) <= w or no_answer:  # finished within the window (or no answer budget)
                firsts.append(c)
                continue
            if ids[w:w + h] != list(hint_ids)[:len(ids) - w]:
                raise RuntimeError(f"engine {getattr(engine, 'name', '?')} did not force the hint after {w} tokens "
                                   f"(prompt {i}, sample {j}): does it implement Request.force_ids?")
            firsts.append(Completion(ids[:w], text_of(engine, ids[:w]), "length", c.cached_prompt_tokens))
            a = ids[w + h:]
            text = text_of(engine, a[:-1] if c.finish_reason == "stop" else a)  # "stop": an EOS / stop id ends a
            answers[(i, j)] = (Completion(a, text, c.finish_reason, None), len(p.ids) + w + h)
        pass1.append(firsts)
    return _stw_finish(engine, prompts, pass1, cfg, seconds, answers=answers)


# ---------------------------------------------------------------------------------------------------------------
# no cap
def no_cap(engine, prompts: Sequence, *, max_tokens: int, sampling: Sampling = GREEDY, stop: Sequence[str] = (),
           stop_token_ids: Sequence[int] = (), window: int | None = None, progress: bool = False,
           **unknown) -> list[ThinkingRecord]:
    """Plain generation to max_tokens (``window`` is accepted and ignored, so sweeps can pass it).

    thinking_tokens = len(token_ids) of the whole response (the paper's count with W = max_tokens).
    """
    _check_common(max_tokens, sampling, stop)
    _reject_unknown("no_cap", unknown)
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
