"""Every branch of the Shifted Thinking Window (both modes), the window sweep and the other methods,
on the deterministic fake engine (no model, milliseconds)."""

from __future__ import annotations

import dataclasses

import pytest
from fake_engine import EOS, FakeEngine

from z1 import prompts as P
from z1 import thinking
from z1.engines.base import Request, Sampling
from z1.thinking import CORRECTED, PAPER, STWOptions, shifted_thinking_window, window_sweep

W, M = 20, 50
PIPE = ord("|") + 10  # used as a stop token id
LONG = "thinking " * 100  # never ends by itself (and the fake repeats its last char forever)


def script(prompt: str, j: int) -> str:
    if prompt.endswith(P.HINT) or prompt.endswith(P.R1_FORCE_ANSWER) or prompt.endswith(P.S1_FINAL_ANSWER):
        return f"ANS{j}<EOS>"
    q = prompt.split("<|user|>")[-1].split("\n")[0]
    if q == "easy":
        return "short<EOS>"  # 5 chars + EOS = 6 tokens
    if q.startswith("edge"):  # EOS lands in slot K
        k = int(q[4:])
        return "x" * (k - 1) + "<EOS>"
    if q == "mixed":  # sample 0 finishes, sample 1 does not
        return "short<EOS>" if j == 0 else LONG
    if q == "mixed2":  # sample 0 does not finish, sample 1 does
        return LONG if j == 0 else "short<EOS>"
    if q == "pipe":  # the stop id PIPE in slot 6
        return "abcde|" + LONG
    if q == "stopper":  # a stop string inside the thinking
        return "abc STOP def" + LONG
    if q == "think":  # R1-style: closes its thinking early, then answers
        return "\n\nfinal 7<EOS>" if prompt.endswith(P.THINK_CLOSE) else "hmm</think>\n\nfinal 7<EOS>"
    return LONG


@pytest.fixture
def eng():
    return FakeEngine(script)


def chat(eng, q):
    return eng.encode_chat([{"role": "user", "content": q}])


def test_strings_are_byte_exact():
    assert P.HINT == "\n\nI overthought it, the final answer should be:\n\n"
    assert P.HINT.encode() == b"\n\nI overthought it, the final answer should be:\n\n"
    assert P.HINT_BOXED == "\n\nI overthought it, the final answer in \\boxed{} should be:\n\n"
    assert P.HINT_BOXED.encode() == b"\n\nI overthought it, the final answer in \\boxed{} should be:\n\n"
    assert P.R1_FORCE_ANSWER == "the final answer is:"
    assert P.R1_CLOSE_THINKING == "\n</think>\n\n"
    assert P.S1_WAIT == "Wait" and P.S1_FINAL_ANSWER == "Final Answer:"
    assert thinking.HINT is P.HINT


@pytest.mark.parametrize("mode", ["paper", "corrected"])
def test_finished_before_window(eng, mode):
    (r,) = shifted_thinking_window(eng, [chat(eng, "easy")], window=W, max_tokens=M, mode=mode)
    assert len(eng.calls) == 1  # no pass 2
    assert eng.calls[0][0].max_tokens == W
    assert not r.window_hit and r.pass2_token_ids is None and r.hint is None
    assert r.answer == r.trajectory == r.pass1_text == "short"
    assert r.thinking_tokens == 6 and r.pass1_token_ids[-1] == EOS  # EOS counted (vLLM len(token_ids))
    assert r.thinking_tokens_only == 6  # no delimiter: not separable
    assert r.finish_reason == r.pass1_finish_reason == "stop"


def test_capped_corrected_pass2_ids_hint_budget(eng):
    p = chat(eng, "hard")
    (r,) = shifted_thinking_window(eng, [p], window=W, max_tokens=M)
    assert len(eng.calls) == 2
    req2 = eng.calls[1][0]
    hint_ids = eng.tokenizer.encode(P.HINT)
    assert list(req2.prompt_ids) == p + r.pass1_token_ids + hint_ids  # token ids, no re-tokenisation
    assert req2.max_tokens == M - W  # remaining budget
    assert r.window_hit and r.hint == P.HINT
    assert r.thinking_tokens == W == len(r.pass1_token_ids) and r.thinking_tokens_only == W
    assert r.pass1_finish_reason == "length"
    assert r.answer == r.pass2_text == "ANS0" and r.finish_reason == "stop"
    assert r.trajectory == r.pass1_text + P.HINT + "ANS0"
    assert r.pass2_prompt_tokens == len(req2.prompt_ids)
    assert r.pass2_cached_prompt_tokens == len(p) + W  # the fake's ideal prefix cache sees the reuse
    assert eng.retain_flags == [W, False]  # keep the KV of rows that can be capped


def test_capped_paper_exact_semantics(eng):
    p = chat(eng, "hard")
    (r,) = shifted_thinking_window(eng, [p], window=W, max_tokens=M, mode="paper")
    req2 = eng.calls[1][0]
    text = eng.tokenizer.decode(p) + r.pass1_text + P.HINT
    assert list(req2.prompt_ids) == eng.tokenizer.encode(text)  # text re-tokenised, as the authors
    assert req2.max_tokens == M  # the full budget again
    assert req2.sampling == Sampling()
    assert r.answer == r.trajectory == "ANS0"  # only pass-2 text kept
    assert r.thinking_tokens == W


def test_paper_retokenisation_drift_is_visible():
    # thinking that ends in "\n": as ids the hint's "\n\n" stays separate; as text "\n\n\n" re-merges
    eng = FakeEngine(lambda prompt, j: "ANS<EOS>" if prompt.endswith(P.HINT) else "ab\n" * 50)
    p = chat(eng, "q")
    shifted_thinking_window(eng, [p], window=9, max_tokens=M, mode="paper")
    shifted_thinking_window(eng, [p], window=9, max_tokens=M, mode="corrected")
    paper_ids, ids = eng.calls[1][0].prompt_ids, eng.calls[3][0].prompt_ids
    assert eng.tokenizer.decode(paper_ids) == eng.tokenizer.decode(ids)
    assert paper_ids != ids


@pytest.mark.parametrize("mode", ["paper", "corrected"])
def test_window_edge(eng, mode):
    # EOS in slot W: "stop" (vLLM 0.32) -> finished, not capped
    (r,) = shifted_thinking_window(eng, [chat(eng, f"edge{W}")], window=W, max_tokens=M, mode=mode)
    assert not r.window_hit and r.pass1_finish_reason == "stop" and r.thinking_tokens == W
    assert r.answer == "x" * (W - 1)
    # EOS would land in slot W + 1: capped, pass 2 runs (paper: "finish within W")
    (r,) = shifted_thinking_window(eng, [chat(eng, f"edge{W + 1}")], window=W, max_tokens=M, mode=mode)
    assert r.window_hit and r.thinking_tokens == W and r.answer == "ANS0"
    assert EOS not in r.pass1_token_ids


def test_n_gt_1_defect_paper_and_fix_corrected(eng):
    s = Sampling(temperature=0.7, seed=5, n=2)
    prompts = [chat(eng, "mixed"), chat(eng, "mixed2")]
    paper = shifted_thinking_window(eng, prompts, window=W, max_tokens=M, sampling=s, mode="paper")
    # prompt 0: sample 0 finished -> sample 1 (capped) graded on its cut-off thinking
    a, b = paper[0], paper[1]
    assert (a.sample_index, b.sample_index) == (0, 1)
    assert not a.window_hit and not b.window_hit and b.pass1_finish_reason == "length"
    assert b.answer == b.pass1_text == LONG[:W] and b.pass2_token_ids is None
    assert any("defect" in n for n in b.notes)
    # prompt 1: sample 0 capped -> ONE pass-2 request with n=2 continuing sample 0's thinking
    c, d = paper[2], paper[3]
    assert c.window_hit and d.window_hit and d.pass1_finish_reason == "stop"
    req2 = eng.calls[1]
    assert len(req2) == 1 and req2[0].sampling == s
    assert c.answer == "ANS0" and d.answer == "ANS1" and d.pass2_from_sample == 0

    eng2 = FakeEngine(script)
    fixed = shifted_thinking_window(eng2, prompts, window=W, max_tokens=M, sampling=s, mode="corrected")
    a, b, c, d = fixed
    assert not a.window_hit and b.window_hit and b.answer == "ANS0" and b.pass2_from_sample == 1
    assert c.window_hit and not d.window_hit and d.answer == "short"
    reqs2 = eng2.calls[1]
    assert len(reqs2) == 2 and all(r.sampling.n == 1 for r in reqs2)
    assert [r.sampling.seed for r in reqs2] == [6, 5]  # seed + sample index


@pytest.mark.parametrize("mode", ["paper", "corrected"])
def test_settings_not_mutated(eng, mode):
    s = Sampling(temperature=0.5, top_p=0.9, seed=1, n=2)
    stop = ["STOPX"]
    snapshot = (dataclasses.astuple(s), list(stop))
    shifted_thinking_window(eng, [chat(eng, "hard")], window=W, max_tokens=M, sampling=s, stop=stop, mode=mode)
    assert (dataclasses.astuple(s), list(stop)) == snapshot
    assert PAPER == STWOptions(False, "full", False, True, False, False) and CORRECTED == STWOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.temperature = 1.0  # type: ignore[misc]


def test_stop_strings_end_window_only_when_asked(eng):
    p = chat(eng, "stopper")
    (r,) = shifted_thinking_window(eng, [p], window=W, max_tokens=M, stop=["STOP"], mode="paper")
    assert eng.calls[0][0].stop == ("STOP",) and r.pass1_finish_reason == "stop" and not r.window_hit
    assert r.answer == "abc " and r.thinking_tokens == len("abc STOP")  # stop string's tokens counted
    eng2 = FakeEngine(script)
    (r,) = shifted_thinking_window(eng2, [p], window=W, max_tokens=M, stop=["STOP"])
    assert eng2.calls[0][0].stop == () and eng2.calls[1][0].stop == ("STOP",)
    assert r.window_hit and r.pass1_text.startswith("abc STOP def")
    eng3 = FakeEngine(script)
    (r,) = shifted_thinking_window(eng3, [p], window=W, max_tokens=M, stop=["STOP"], stop_ends_window=True)
    assert not r.window_hit and r.options["stop_ends_window"] is True


def test_window_larger_than_max_tokens(eng):
    p = chat(eng, "hard")
    (r,) = shifted_thinking_window(eng, [p], window=80, max_tokens=M, mode="paper")
    assert eng.calls[0][0].max_tokens == 80 and r.window == 80 and r.thinking_tokens == 80  # not clamped
    assert eng.calls[1][0].max_tokens == M
    eng2 = FakeEngine(script)
    (r,) = shifted_thinking_window(eng2, [p], window=80, max_tokens=M)
    assert eng2.calls[0][0].max_tokens == M and r.window == M and r.window_requested == 80
    assert any("clamped" in n for n in r.notes)
    assert len(eng2.calls) == 1 and r.window_hit and r.answer == "" and r.finish_reason == "length"


def test_model_that_never_stops(eng):
    (r,) = shifted_thinking_window(eng, [chat(eng, "forever")],
                                   window=W, max_tokens=M, hint="\n\nHINT:\n\n")
    # the script answers only after the real hint; with another hint the model keeps thinking
    assert r.window_hit and r.pass2_finish_reason == "length" and len(r.pass2_token_ids) == M - W
    assert r.finish_reason == "length" and r.hint == "\n\nHINT:\n\n"


def test_empty_inputs_and_invalid_settings(eng):
    assert shifted_thinking_window(eng, [], window=W, max_tokens=M) == [] and eng.calls == []
    with pytest.raises(ValueError, match="empty"):
        shifted_thinking_window(eng, [[]], window=W, max_tokens=M)
    for kw, msg in [({"window": 0}, "window"), ({"max_tokens": 0}, "max_tokens"), ({"mode": "fast"}, "mode"),
                    ({"answer_budget": "half"}, "answer_budget"), ({"colour": 1}, "unknown STW option"),
                    ({"window": 2.5}, "window")]:
        args = {"window": W, "max_tokens": M, **kw}
        with pytest.raises(ValueError, match=msg):
            shifted_thinking_window(eng, [chat(eng, "easy")], **args)
    with pytest.raises(ValueError):
        Sampling(temperature=-1)
    with pytest.raises(ValueError):
        Request((1, 2), 0)
    with pytest.raises(ValueError, match="at least one window"):
        window_sweep(eng, [chat(eng, "easy")], [], max_tokens=M)


def test_option_flips_one_by_one(eng):
    p = chat(eng, "hard")
    (r,) = shifted_thinking_window(eng, [p], window=W, max_tokens=M, mode="paper", pass2_as_ids=True, keep_thinking=True)
    assert list(eng.calls[1][0].prompt_ids) == p + r.pass1_token_ids + eng.tokenizer.encode(P.HINT)
    assert eng.calls[1][0].max_tokens == M and r.trajectory == r.pass1_text + P.HINT + r.answer
    (r,) = shifted_thinking_window(eng, [p], window=W, max_tokens=M, answer_budget=7)
    assert eng.calls[-1][0].max_tokens == 7 and r.options["answer_budget_tokens"] == 7


def test_prompt_kinds_and_string_prompt_paper_mode(eng):
    msgs = [{"role": "user", "content": "hard"}]
    text = eng.tokenizer.apply_chat_template(msgs)
    a = shifted_thinking_window(eng, [msgs], window=W, max_tokens=M)[0]
    b = shifted_thinking_window(eng, [chat(eng, "hard")], window=W, max_tokens=M)[0]
    neutral = {"timings": {}, "pass1_cached_prompt_tokens": 0, "pass2_cached_prompt_tokens": 0}
    assert a.to_dict() | neutral == b.to_dict() | neutral
    c = shifted_thinking_window(eng, [text], window=W, max_tokens=M, mode="paper")[0]
    assert c.prompt_tokens == len(chat(eng, "hard")) + 1  # BOS added to a text prompt, as vLLM does
    assert list(eng.calls[-1][0].prompt_ids) == eng.tokenizer(text + c.pass1_text + P.HINT)["input_ids"]


@pytest.mark.parametrize("mode", ["paper", "corrected"])
def test_window_sweep_equals_independent_runs(mode):
    qs = ["easy", "hard", "edge8", "edge9", "edge16", "edge17", "stopper", "mixed2"]
    windows = [4, 8, 16, 30]
    eng = FakeEngine(script)
    ps = [chat(eng, q) for q in qs]
    swept = window_sweep(eng, ps, windows, max_tokens=M, mode=mode, stop=["STOP"])
    pass1_calls = [c for c in eng.calls if c[0].prompt_ids == tuple(ps[0])]
    assert len(pass1_calls) == 1 and pass1_calls[0][0].max_tokens == 30
    for w in windows:
        ind = shifted_thinking_window(FakeEngine(script), ps, window=w, max_tokens=M, mode=mode, stop=["STOP"])
        strip = [r.to_dict() | {"timings": {}, "notes": [], "pass1_cached_prompt_tokens": None,
                                "pass2_cached_prompt_tokens": None} for r in swept[w]]
        want = [r.to_dict() | {"timings": {}, "notes": [], "pass1_cached_prompt_tokens": None,
                               "pass2_cached_prompt_tokens": None} for r in ind]
        assert strip == want, w
    # pass-2 prompts extend the shared pass-1 ids: the prefix is reusable
    hit = [r for r in swept[8] if r.window_hit]
    if mode == "corrected":
        assert all(r.pass2_cached_prompt_tokens == r.prompt_tokens + 8 for r in hit)


def test_window_sweep_sampled_falls_back_to_independent_runs(eng):
    s = Sampling(temperature=1.0, seed=0)
    out = window_sweep(eng, [chat(eng, "hard")], [4, 8], max_tokens=M, sampling=s)
    firsts = [c[0].max_tokens for c in eng.calls if not eng.tokenizer.decode(c[0].prompt_ids).endswith(P.HINT)]
    assert firsts == [4, 8] and set(out) == {4, 8}


def test_window_sweep_accepts_function_names(eng):
    out = window_sweep(eng, [chat(eng, "easy")], [4, 8], function="no_cap", max_tokens=M)
    assert out[4] is out[8] and len(eng.calls) == 1 and out[4][0].thinking_tokens == 6
    with pytest.raises(ValueError, match="unknown method"):
        window_sweep(eng, [chat(eng, "easy")], [4], function="nope", max_tokens=M)


def test_no_cap_and_thinking_only(eng):
    (r,) = thinking.no_cap(eng, [chat(eng, "think")], max_tokens=M)
    assert r.answer == "hmm</think>\n\nfinal 7" and r.thinking_tokens == len(r.pass1_token_ids)
    assert r.thinking_tokens_only == len("hmm</think>")
    (r,) = thinking.no_cap(eng, [chat(eng, "hard")], max_tokens=M)
    assert r.finish_reason == "length" and r.thinking_tokens == r.thinking_tokens_only == M


def test_r1_truncation(eng):
    recs = thinking.r1_truncation(eng, [chat(eng, "hard"), chat(eng, "think"), chat(eng, "easy")], window=W, max_tokens=M)
    hard, think, easy = recs
    assert eng.calls[0][0].stop == (P.THINK_CLOSE,)
    req = eng.calls[1][0]
    assert list(req.prompt_ids[-len(eng.tokenizer.encode(P.R1_CLOSE_THINKING + P.R1_FORCE_ANSWER)):]) == \
        eng.tokenizer.encode(P.R1_CLOSE_THINKING + P.R1_FORCE_ANSWER)
    assert hard.window_hit and hard.answer == "ANS0" and hard.thinking_tokens == W and req.max_tokens == M - W
    assert hard.trajectory == hard.pass1_text + P.R1_CLOSE_THINKING + P.R1_FORCE_ANSWER + "ANS0"
    assert not think.window_hit and think.thinking_tokens == len("hmm</think>")
    assert think.answer == "\n\nfinal 7"  # answer generated after the model's own </think>
    assert not easy.window_hit and easy.answer == "short" and easy.pass2_token_ids is None


def test_r1_truncation_no_answer_budget_left(eng):
    ps = [chat(eng, "hard"), chat(eng, "think"), chat(eng, "easy")]
    hard, think, easy = thinking.r1_truncation(eng, ps, window=M, max_tokens=M)  # "remaining" = 0
    assert len(eng.calls) == 1 and hard.options["answer_budget_tokens"] == 0
    assert hard.answer == "" and think.answer == "" and all("no token budget" in r.notes[0] for r in (hard, think))
    assert easy.answer == "short" and easy.finish_reason == "stop" and not easy.notes  # an EOS-finished output stands
    (think,) = thinking.r1_truncation(eng, ps[1:2], window=M, max_tokens=M, answer_budget=5)
    assert think.answer == "\n\nfina" and eng.calls[-1][0].max_tokens == 5


def test_budget_forcing(eng):
    recs = thinking.budget_forcing(eng, [chat(eng, "hard"), chat(eng, "easy")], window=W, max_tokens=M, min_thinking=10)
    hard, easy = recs
    assert hard.window_hit and hard.thinking_tokens == W and hard.answer == "ANS0"
    assert hard.trajectory.endswith(P.S1_FINAL_ANSWER + "ANS0")
    # easy ends after 6 tokens < 10: its EOS is replaced by "Wait" and thinking goes on
    assert "Wait" in easy.pass1_text and easy.notes


def test_budget_forcing_drops_end_string_and_counts_thinking(eng):
    (r,) = thinking.budget_forcing(eng, [chat(eng, "think")], window=W, max_tokens=M, min_thinking=12,
                                   end_of_thinking=[P.THINK_CLOSE])
    # round 1 "hmm</think>" (11 tokens < 12): "</think>" dropped, "Wait" appended, thinking goes on
    assert r.pass1_text.startswith("hmmWait") and r.notes
    assert r.thinking_tokens == len(r.pass1_token_ids)
    assert eng.tokenizer.decode(r.pass1_token_ids).startswith("hmmWaithmm")
    (r2,) = thinking.budget_forcing(FakeEngine(script), [chat(eng, "think")], window=W, max_tokens=M,
                                    end_of_thinking=[P.THINK_CLOSE])
    assert not r2.window_hit and r2.thinking_tokens == len("hmm</think>") and not r2.notes


def test_hint_names(eng):
    (r,) = shifted_thinking_window(eng, [chat(eng, "hard")], window=W, max_tokens=M, hint="boxed")
    assert r.hint == P.HINT_BOXED and r.trajectory == r.pass1_text + P.HINT_BOXED + r.answer
    assert thinking.resolve_hint("plain") == P.HINT and thinking.resolve_hint("xyz") == "xyz"


def test_records_serialise(eng):
    import json

    recs = shifted_thinking_window(eng, [chat(eng, "hard"), chat(eng, "easy")], window=W, max_tokens=M)
    for r in recs:
        d = json.loads(json.dumps(r.to_dict()))
        for key in ("prompt_tokens", "pass1_token_ids", "pass1_text", "window_hit", "hint", "pass2_token_ids",
                    "pass2_text", "answer", "trajectory", "thinking_tokens", "thinking_tokens_only",
                    "pass1_finish_reason", "pass2_finish_reason", "finish_reason", "timings", "method", "options"):
            assert key in d
    assert recs[0].options["mode"] == "corrected" and recs[0].options["answer_budget_tokens"] == M - W


def test_methods_reject_typos_and_other_methods_options(eng):
    """No option is silently ignored: one a method does not take, another method's included, is an
    error naming it (params.yaml gives each method entry only its own options)."""
    thinking.no_cap(eng, [chat(eng, "easy")], max_tokens=M, window=4)  # window: every sweep passes it
    with pytest.raises(ValueError, match=r"no_cap: unknown option\(s\) \['hint', 'mode'\]"):
        thinking.no_cap(eng, [chat(eng, "easy")], max_tokens=M, window=4, mode="paper", hint="boxed")
    with pytest.raises(ValueError, match=r"r1_truncation: unknown option\(s\) \['per_sample'\]"):
        thinking.r1_truncation(eng, [chat(eng, "easy")], window=4, max_tokens=M, per_sample=True)
    with pytest.raises(ValueError, match="unknown option"):
        thinking.no_cap(eng, [chat(eng, "easy")], max_tokens=M, temprature=0.5)
    with pytest.raises(ValueError, match="unknown option"):
        thinking.r1_truncation(eng, [chat(eng, "easy")], window=4, max_tokens=M, forced="x")


def test_window_sweep_other_methods_share_pass1(eng):
    p = chat(eng, "hard")
    out = window_sweep(eng, [p], [4, 8], function="r1_truncation", max_tokens=M)
    assert [out[w][0].thinking_tokens for w in (4, 8)] == [4, 8]
    assert all(r.method == "r1_truncation" and r.window_hit for w in (4, 8) for r in out[w])
    assert [c[0].max_tokens for c in eng.calls if c[0].prompt_ids == tuple(p)] == [8]  # one first round, at 8
    assert [c[0].max_tokens for c in eng.calls[1:]] == [M - 4, M - 8]  # each window's own answer
    assert out[4][0].answer == out[8][0].answer == "ANS0"


# ---------------------------------------------------------------------------------------------------------------
# shared first round for R1 truncation and budget forcing
SWEEP_QS = ["easy", "hard", "edge8", "edge9", "edge16", "edge17", "think", "stopper", "mixed", "mixed2", "pipe"]
SWEEP_WS = [4, 8, 10, 11, 16, 30, 80]  # "hmm</think>" is 11 tokens; 80 > M is clamped (no answer budget left)
_NEUTRAL = {"timings": {}, "notes": [], "pass1_cached_prompt_tokens": None, "pass2_cached_prompt_tokens": None}


def _strip(recs):
    return [r.to_dict() | _NEUTRAL for r in recs]


def _first_rounds(eng, ps):
    """(max_tokens, retain) of every call whose first request is a first round (the bare prompt)."""
    return [(c[0].max_tokens, f) for c, f in zip(eng.calls, eng.retain_flags, strict=True)
            if c[0].prompt_ids == tuple(ps[0])]


def _check_shared(swept, ind, top):
    for w in SWEEP_WS:
        assert _strip(swept[w]) == _strip(ind[w]), w
        assert all(f"pass 1 shared with window {top} (greedy window sweep)" in r.notes for r in swept[w])
        assert all(r.timings["pass1_shared"] is True for r in swept[w])
        assert not any("shared" in n for r in ind[w] for n in r.notes)


@pytest.mark.parametrize("n", [1, 2])
def test_window_sweep_r1_shared_equals_independent_runs(n):
    s = Sampling(n=n)
    eng = FakeEngine(script)
    ps = [chat(eng, q) for q in SWEEP_QS]
    kw = {"max_tokens": M, "sampling": s, "stop": ["STOP"], "stop_token_ids": [PIPE]}
    swept = window_sweep(eng, ps, SWEEP_WS, function="r1_truncation", **kw)
    assert _first_rounds(eng, ps) == [(M, True)]  # once, at the largest window clamped to M
    assert eng.calls[0][0].stop == (P.THINK_CLOSE,) and eng.calls[0][0].stop_token_ids == (PIPE,)
    ind = {w: thinking.r1_truncation(FakeEngine(script), ps, window=w, **kw) for w in SWEEP_WS}
    _check_shared(swept, ind, M)
    by = {(w, r.prompt_index, r.sample_index): r for w in SWEEP_WS for r in swept[w]}
    think = SWEEP_QS.index("think")
    assert by[(10, think, 0)].window_hit and by[(10, think, 0)].answer == "ANS0"  # capped just before </think>
    assert not by[(11, think, 0)].window_hit and by[(11, think, 0)].answer == "\n\nfinal 7"  # </think> in slot 11
    e8 = SWEEP_QS.index("edge8")
    assert not by[(8, e8, 0)].window_hit and by[(8, e8, 0)].answer == "x" * 7  # EOS in slot w: finished
    e9 = SWEEP_QS.index("edge9")
    assert by[(8, e9, 0)].window_hit and by[(8, e9, 0)].pass1_token_ids == [ord("x") + 10] * 8  # slot w + 1: capped
    assert by[(80, e9, 0)].answer == "x" * 8 and by[(80, 1, 0)].answer == ""  # W == M: no budget left
    pipe = SWEEP_QS.index("pipe")
    assert by[(4, pipe, 0)].window_hit and by[(8, pipe, 0)].answer == "abcde"  # the stop id ends the first round
    # pass 2 continues the shared first-round ids: the prefix is reusable
    assert all(r.pass2_cached_prompt_tokens == r.prompt_tokens + 8 for r in swept[8] if r.window_hit)


@pytest.mark.parametrize("min_thinking", [0, 12])
@pytest.mark.parametrize("ends", [(), (P.THINK_CLOSE,)])
@pytest.mark.parametrize("n", [1, 2])
def test_window_sweep_budget_forcing_shared_equals_independent_runs(min_thinking, ends, n):
    s = Sampling(n=n)
    kw = {"min_thinking": min_thinking, "end_of_thinking": list(ends), "stop": ["STOP"], "stop_token_ids": [PIPE],
          "max_tokens": M, "sampling": s}
    eng = FakeEngine(script)
    ps = [chat(eng, q) for q in SWEEP_QS]
    swept = window_sweep(eng, ps, SWEEP_WS, function="budget_forcing", **kw)
    # once, at the top window; KV kept for every row when short finished rows get "Wait" rounds
    assert _first_rounds(eng, ps) == [(M, True if min_thinking else 4)]
    assert eng.calls[0][0].stop == ends and eng.calls[0][0].stop_token_ids == (PIPE,)
    ind = {w: thinking.budget_forcing(FakeEngine(script), ps, window=w, **kw) for w in SWEEP_WS}
    _check_shared(swept, ind, M)
    waits = [r for w in SWEEP_WS for r in swept[w] if any("Wait" in x for x in r.notes)]
    assert bool(waits) == (min_thinking > 0)  # the "Wait" rounds ran per window
    assert any(r.window_hit and r.answer == "ANS0" for r in swept[8])
    assert all(r.timings["rounds_s"][0] == swept[4][0].timings["rounds_s"][0] for w in SWEEP_WS for r in swept[w])
    think = SWEEP_QS.index("think")
    t11 = swept[11][think * n]
    if ends:  # "</think>" completes in slot 11: thinking ended within the window (no room left for a "Wait")
        assert not t11.window_hit and t11.thinking_tokens == 11 and t11.finish_reason == "stop"
    else:
        assert t11.window_hit and t11.thinking_tokens == 11


@pytest.mark.parametrize("function", ["r1_truncation", "budget_forcing"])
def test_window_sweep_sampled_or_unshared_runs_per_window(function):
    eng = FakeEngine(script)
    p = chat(eng, "hard")
    out = window_sweep(eng, [p], [4, 8], function=function, max_tokens=M, sampling=Sampling(temperature=1.0, seed=0))
    assert [m for m, _ in _first_rounds(eng, [p])] == [4, 8]
    assert not any("shared" in x for w in (4, 8) for r in out[w] for x in r.notes)
    assert [out[w][0].thinking_tokens for w in (4, 8)] == [4, 8]
    eng = FakeEngine(script)
    window_sweep(eng, [p], [4, 8], function=function, max_tokens=M, shared=False)
    assert [m for m, _ in _first_rounds(eng, [p])] == [4, 8]
    eng = FakeEngine(script)
    (r,) = window_sweep(eng, [p], [8], function=function, max_tokens=M)[8]
    assert [m for m, _ in _first_rounds(eng, [p])] == [8] and "pass1_shared" not in r.timings


def test_window_sweep_validates_before_generating(eng):
    p = [chat(eng, "hard")]
    for function, kw, msg in [("r1_truncation", {"forced": "x"}, "unknown option"),
                              ("budget_forcing", {"min_thinkng": 3}, "unknown option"),
                              ("budget_forcing", {"answer_budget": 0}, "answer_budget"),
                              ("r1_truncation", {"answer_budget": "foo"}, "answer_budget"),
                              ("budget_forcing", {"min_thinking": -1}, "min_thinking"),
                              ("r1_truncation", {"pass1": []}, "pass1"),
                              ("shifted_thinking_window", {"pass1": []}, "pass1")]:
        with pytest.raises(ValueError, match=msg):
            window_sweep(eng, p, [4, 8], function=function, max_tokens=M, **kw)
    assert eng.calls == []


def test_pass1_is_not_an_ignored_option(eng):
    p = [chat(eng, "easy")]
    with pytest.raises(ValueError, match="unknown option"):
        thinking.no_cap(eng, p, max_tokens=M, pass1=[[]])
    with pytest.raises(ValueError, match=r"pass1\[0\] must be a list of 1 completion"):  # checked, like R1's and s1's
        shifted_thinking_window(eng, p, window=4, max_tokens=M, pass1=[[]])
    with pytest.raises(ValueError, match="unknown STW option"):
        shifted_thinking_window(eng, p, window=4, max_tokens=M, pass_1=[[]])
    with pytest.raises(ValueError, match="unknown option"):
        thinking.r1_truncation(eng, p, window=4, max_tokens=M, pass_1=[[]])


@pytest.mark.parametrize("function", ["r1_truncation", "budget_forcing"])
def test_pass1_shape_is_checked(eng, function):
    fn = thinking.METHODS[function]
    ps = [chat(eng, "hard"), chat(eng, "easy")]
    good = [c for cs in eng.generate([Request(tuple(p), 4) for p in ps]) for c in [cs]]
    eng.calls.clear()
    recs = fn(eng, ps, window=4, max_tokens=M, pass1=good)
    assert [r.pass1_token_ids[:4] for r in recs] == [list(c[0].token_ids[:4]) for c in good]
    assert eng.calls and all(len(r.prompt_ids) > len(ps[0]) for c in eng.calls for r in c)  # no first round generated
    long = eng.generate([Request(tuple(ps[0]), 8), Request(tuple(ps[1]), 8)])
    for bad, msg in [(good[:1], "one list of 1 completion"), (good + good, "for 2 prompt"),
                     ([good[0], []], r"pass1\[1\] must be a list of 1"), ([good[0], [1]], "not a Completion"),
                     (long, "does not fit window 4"), ([good[0], good[1] * 2], "pass1\\[1\\]"), ("ab", "pass1")]:
        with pytest.raises(ValueError, match=msg):
            fn(eng, ps, window=4, max_tokens=M, pass1=bad)
    with pytest.raises(ValueError, match=r"pass1\[0\] must be a list of 2"):
        fn(eng, ps, window=4, max_tokens=M, sampling=Sampling(n=2), pass1=good)


@pytest.mark.parametrize("ab, want", [("remaining", M - W), ("full", M), (7, 7)])
def test_budget_forcing_answer_budget(eng, ab, want):
    (r,) = thinking.budget_forcing(eng, [chat(eng, "hard")], window=W, max_tokens=M, answer_budget=ab)
    assert len(eng.calls) == 2 and eng.calls[1][0].max_tokens == want
    assert eng.tokenizer.decode(eng.calls[1][0].prompt_ids).endswith(P.S1_FINAL_ANSWER)
    assert r.options["answer_budget"] == ab and r.options["answer_budget_tokens"] == want
    assert r.window_hit and r.answer == "ANS0"


def test_budget_forcing_answer_budget_remaining_at_max_tokens(eng):
    (r,) = thinking.budget_forcing(eng, [chat(eng, "hard")], window=80, max_tokens=M)
    assert len(eng.calls) == 1 and r.window == M and r.answer == "" and r.options["answer_budget_tokens"] == 0
    assert any("no token budget" in n for n in r.notes)
    (r,) = thinking.budget_forcing(FakeEngine(script), [chat(eng, "hard")], window=80, max_tokens=M,
                                   answer_budget="full")
    assert r.answer == "ANS0" and r.options["answer_budget_tokens"] == M


@pytest.mark.parametrize("function", ["r1_truncation", "budget_forcing"])
@pytest.mark.parametrize("bad", ["foo", 0, -3, True, 2.5, None, "7"])
def test_answer_budget_rejects_bad_values(eng, function, bad):
    with pytest.raises(ValueError, match="answer_budget must be 'remaining', 'full' or an int >= 1"):
        thinking.METHODS[function](eng, [chat(eng, "hard")], window=W, max_tokens=M, answer_budget=bad)
    assert eng.calls == []


@pytest.mark.parametrize("function", ["shifted_thinking_window", "r1_truncation", "budget_forcing", "no_cap"])
def test_window_sweep_passes_answer_budget_to_every_method(eng, function):
    if function == "no_cap":  # no answer pass, no answer budget: refused, not ignored
        with pytest.raises(ValueError, match=r"no_cap: unknown option\(s\) \['answer_budget'\]"):
            window_sweep(eng, [chat(eng, "hard")], [4, 8], function=function, max_tokens=M, answer_budget=7)
        out = window_sweep(eng, [chat(eng, "hard")], [4, 8], function=function, max_tokens=M)
        assert out[4] is out[8] and len(eng.calls) == 1
        return
    out = window_sweep(eng, [chat(eng, "hard")], [4, 8], function=function, max_tokens=M, answer_budget=7)
    for w in (4, 8):
        (r,) = out[w]
        assert r.window_hit and r.options["answer_budget_tokens"] == 7 and r.pass2_finish_reason == "stop"
    assert [c[0].max_tokens for c in eng.calls[1:]] == [7, 7]


# ---------------------------------------------------------------------------------------------------------------
# one-pass shifted thinking window (Request.force_ids)
ONE_PASS_QS = ["easy", "hard", "edge8", "edge9", "edge16", "edge17", "pipe", "mixed", "mixed2"]


def _comparable(records) -> list[dict]:
    """What a record says about the sample (not how it was produced: timings, cache hits, the
    one_pass flag in options)."""
    out = []
    for r in records:
        d = r.to_dict()
        d["options"] = {k: v for k, v in d["options"].items() if k != "one_pass"}
        out.append(d | {"timings": {}, "pass1_cached_prompt_tokens": None, "pass2_cached_prompt_tokens": None})
    return out


@pytest.mark.parametrize("window,budget", [(8, "remaining"), (16, 5), (30, "full"), (M, "remaining")])
def test_one_pass_equals_two_pass(window, budget):
    """Record for record: the hint forced after W tokens in one engine call gives what pass 1 + a
    pass 2 fed with ids gives, for samples that finish before, at and after the window, stop ids
    inside the window, and no answer budget left (W == M).  (n > 1: the next test; the fake's
    answers depend on the sample index, which a two-pass pass 2 of one sample does not carry.)"""
    eng1, eng2 = FakeEngine(script), FakeEngine(script)
    ps = [chat(eng1, q) for q in ONE_PASS_QS]
    kw = dict(window=window, max_tokens=M, answer_budget=budget, stop_token_ids=[PIPE])
    two = shifted_thinking_window(eng1, ps, **kw)
    one = shifted_thinking_window(eng2, ps, one_pass=True, **kw)
    assert _comparable(one) == _comparable(two)
    assert len(eng2.calls) == 1 and len(eng1.calls) == (2 if any(r.window_hit for r in two) and window < M else 1)
    assert all(r.options["one_pass"] for r in one) and "one_pass" not in two[0].options
    hit = [r for r in one if r.window_hit and r.pass2_token_ids is not None]
    assert hit and all(r.answer.startswith("ANS") for r in hit) or window == M


def test_one_pass_requests_force_the_hint_after_the_window(eng):
    hint_ids = eng.tokenizer.encode(P.HINT)
    (r,) = shifted_thinking_window(eng, [chat(eng, "hard")], window=W, max_tokens=M, one_pass=True)
    (req,) = eng.calls[0]
    assert req.force_after == W and list(req.force_ids) == hint_ids
    assert req.max_tokens == W + len(hint_ids) + (M - W)  # window + hint + the remaining answer budget
    assert req.stop == () and r.window_hit and r.thinking_tokens == W
    assert r.pass2_prompt_tokens == len(req.prompt_ids) + W + len(hint_ids)  # what pass 2 would have read
    assert r.trajectory == r.pass1_text + P.HINT + r.answer and r.answer == "ANS0"


def test_one_pass_each_sample_gets_its_own_window():
    """Under sampling every sample decides for itself: a sibling that finished keeps its text, a
    capped one gets the hint and its own answer (the authors' sample-0 rule does not apply)."""
    eng = FakeEngine(script)
    recs = shifted_thinking_window(eng, [chat(eng, "mixed")], window=W, max_tokens=M, one_pass=True,
                                   sampling=Sampling(temperature=0.7, seed=1, n=2))
    assert [r.window_hit for r in recs] == [False, True]
    assert recs[0].answer == "short" and recs[1].answer == "ANS1" and recs[1].pass2_from_sample == 1


def test_one_pass_refuses_what_it_cannot_reproduce(eng):
    with pytest.raises(ValueError, match="corrected window"):
        shifted_thinking_window(eng, [chat(eng, "hard")], window=W, max_tokens=M, mode="paper", one_pass=True)
    with pytest.raises(ValueError, match="corrected window"):
        shifted_thinking_window(eng, [chat(eng, "hard")], window=W, max_tokens=M, per_sample=False, one_pass=True)
    with pytest.raises(ValueError, match="stop strings"):
        shifted_thinking_window(eng, [chat(eng, "hard")], window=W, max_tokens=M, stop=["STOP"], one_pass=True)
    assert eng.calls == []  # refused before generating


def test_one_pass_detects_an_engine_that_does_not_force():
    class Deaf(FakeEngine):  # ignores force_ids, as an engine without the capability would
        def generate(self, requests, **kw):
            return super().generate([Request(r.prompt_ids, r.max_tokens, stop_token_ids=r.stop_token_ids,
                                             sampling=r.sampling) for r in requests], **kw)

    eng = Deaf(script)
    with pytest.raises(RuntimeError, match="did not force the hint"):
        shifted_thinking_window(eng, [chat(eng, "hard")], window=W, max_tokens=M, one_pass=True)


def test_window_sweep_one_pass_is_one_engine_call_and_equals_two_pass():
    windows = [4, 8, 16, 30]
    eng = FakeEngine(script)
    ps = [chat(eng, q) for q in ONE_PASS_QS]
    swept = window_sweep(eng, ps, windows, max_tokens=M, stop_token_ids=[PIPE], one_pass=True)
    assert len(eng.calls) == 1 and len(eng.calls[0]) == len(ps) * len(windows)
    assert sorted({r.force_after for r in eng.calls[0]}) == windows
    for w in windows:
        two = shifted_thinking_window(FakeEngine(script), ps, window=w, max_tokens=M, stop_token_ids=[PIPE])
        assert _comparable(swept[w]) == _comparable(two), w


def test_window_sweep_shares_the_first_round_of_any_method_that_declares_one():
    """The sweep protocol: a method with a ``first_round`` attribute (common.FirstRound) that accepts
    ``pass1=`` gets one shared first round; window_sweep does not need to know it."""
    seen = []

    def mine(engine, prompts, *, window, max_tokens, pass1=None, **kw):
        seen.append(pass1 is not None)
        return thinking.r1_truncation(engine, prompts, window=window, max_tokens=max_tokens, pass1=pass1, **kw)

    eng = FakeEngine(script)
    p = [chat(eng, "hard")]
    assert window_sweep(eng, p, [4, 8], function=mine, max_tokens=M)  # no first_round: independent runs
    assert seen == [False, False] and sum(c[0].prompt_ids == tuple(p[0]) for c in eng.calls) == 2
    mine.first_round = thinking.r1_truncation.first_round
    eng, seen[:] = FakeEngine(script), []
    out = window_sweep(eng, p, [4, 8], function=mine, max_tokens=M)
    assert seen[-2:] == [True, True] and sum(c[0].prompt_ids == tuple(p[0]) for c in eng.calls) == 1
    assert all(r.timings["pass1_shared"] for w in out for r in out[w])
