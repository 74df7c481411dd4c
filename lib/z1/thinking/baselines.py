"""The peers' test-time controls: R1-style truncation (the R1-Distill rows of the paper's tables)
and s1 budget forcing ("Wait" below a minimum, "Final Answer:" at the window)."""

from __future__ import annotations

from collections.abc import Sequence

from z1.engines.base import Completion, Request, Sampling
from z1.prompts import (
    R1_CLOSE_THINKING,
    R1_FORCE_ANSWER,
    S1_FINAL_ANSWER,
    S1_WAIT,
    THINK_CLOSE,
)
from z1.thinking.common import (
    GREEDY,
    FirstRound,
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
)


# ---------------------------------------------------------------------------------------------------------------
# R1-style truncation
def _r1_pass1_request(p: _Prompt, w: int, think_close: str, stop_token_ids: Sequence[int], sampling: Sampling) -> Request:
    return Request(p.ids, w, stop=(think_close,), stop_token_ids=tuple(int(t) for t in stop_token_ids),
                   sampling=sampling)


def r1_truncation(engine, prompts: Sequence, *, window: int, max_tokens: int, sampling: Sampling = GREEDY,
                  stop: Sequence[str] = (), stop_token_ids: Sequence[int] = (), think_close: str = THINK_CLOSE,
                  close_text: str = R1_CLOSE_THINKING, force_text: str = R1_FORCE_ANSWER, answer_budget: str | int = "remaining",
                  progress: bool = False, pass1: Sequence[Sequence[Completion]] | None = None,
                  **unknown) -> list[ThinkingRecord]:
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
    _reject_unknown("r1_truncation", unknown)
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
                   pass1: Sequence[Sequence[Completion]] | None = None, **unknown) -> list[ThinkingRecord]:
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
    _reject_unknown("budget_forcing", unknown)
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


# ---------------------------------------------------------------------------------------------------------------
# the sweep protocol (common.FirstRound): each method's first engine call at one window
def _r1_first_round(engine, prompts: Sequence, *, window: int, max_tokens: int, sampling: Sampling = GREEDY,
                    stop_token_ids: Sequence[int] = (), think_close: str = THINK_CLOSE, **_options) -> FirstRound:
    """Pass 1: stop at ``think_close``; every row may continue (a sample that closed its thinking
    continues at any length)."""
    w = min(window, max_tokens)
    return FirstRound([_r1_pass1_request(p, w, think_close, stop_token_ids, sampling) for p in _prepare(engine, prompts)],
                      w, True)


def _bf_first_round(engine, prompts: Sequence, *, window: int, max_tokens: int, sampling: Sampling = GREEDY,
                    stop_token_ids: Sequence[int] = (), end_of_thinking: Sequence[str] = (), min_thinking: int = 0,
                    max_waits: int = 8, **_options) -> FirstRound:
    """The first thinking round; "Wait" rounds continue short finished samples, so with them every row
    may continue, without them only capped ones."""
    w = min(window, max_tokens)
    reqs = [_bf_first_request(p, w, tuple(end_of_thinking), stop_token_ids, sampling) for p in _prepare(engine, prompts)]
    return FirstRound(reqs, w, True if min_thinking > 0 and max_waits > 0 else w)


r1_truncation.first_round = _r1_first_round
budget_forcing.first_round = _bf_first_round
