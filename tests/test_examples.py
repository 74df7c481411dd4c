"""z1.examples (and plots.generation_examples) on a small hand-built samples table with generation rows:
which samples are picked as simple and complex, the Markdown's headings, fences and cut markers, and
the two-panel figure."""

import pandas as pd
import pytest

from z1 import examples, plots

# problem, thinking tokens, window hit, correct (sft / stw at W = 64). Read as: p0 is the shortest that
# finished but wrong; p1 the shortest correct one that finished (simple); p2 is shorter still but hit
# the window (not "finished inside"); p3 has the most tokens but is wrong; p4 the most among correct (complex).
SFT_STW = [("p0", 10, False, False), ("p1", 20, False, True), ("p2", 5, True, True),
           ("p3", 64, True, False), ("p4", 60, True, True)]
LONG = "\n".join(f"step {i}" for i in range(100))


def _samples(rows=SFT_STW) -> pd.DataFrame:
    out = [{"model": "sft", "benchmark": "math500", "method": "stw", "window": 64, "problem_id": f"math500/{p}",
            "sample_index": 0, "thinking_tokens": tokens, "window_hit": hit, "correct": correct}
           for p, tokens, hit, correct in rows]
    # other models, methods and windows with more and fewer tokens: never picked
    out += [{**out[0], "model": "base", "thinking_tokens": 1, "correct": True},
            {**out[0], "method": "r1", "thinking_tokens": 1, "correct": True},
            {**out[0], "window": 32, "thinking_tokens": 1, "correct": True},
            {**out[-1], "model": "base", "thinking_tokens": 999, "correct": True}]
    return pd.DataFrame(out)


def _generations(samples: pd.DataFrame) -> list[dict]:
    rows = []
    for _, s in samples.iterrows():
        pid = s["problem_id"]
        trajectory = f"thinking on {pid}\n```python\nprint(1)\n```" if pid.endswith("p1") else f"{pid}\n{LONG}"
        rows.append({"model": s["model"], "benchmark": s["benchmark"], "method": s["method"], "window": s["window"],
                     "problem_id": pid, "sample_index": int(s["sample_index"]),
                     "problem": {"messages": [{"role": "system", "content": "Reason step by step."},
                                              {"role": "user", "content": "an earlier turn"},
                                              {"role": "assistant", "content": "ok"},
                                              {"role": "user", "content": f"What is {pid}?"}]},
                     "record": {"trajectory": trajectory, "answer": "42", "thinking_tokens": s["thinking_tokens"],
                                "window_hit": s["window_hit"]}})
    return rows


def _pick(rows=SFT_STW):
    samples = _samples(rows)
    return examples.pick(samples, _generations(samples), model="sft", method="stw", window=64)


def test_pick_prefers_correct_and_finished_inside_the_window():
    chosen = _pick()
    assert list(chosen.columns) == list(examples.COLUMNS)
    assert list(chosen["kind"]) == ["simple", "complex"]
    assert list(chosen["problem_id"]) == ["math500/p1", "math500/p4"]
    assert list(chosen["thinking_tokens"]) == [20, 60]
    assert list(chosen["correct"]) == [True, True] and list(chosen["window_hit"]) == [False, True]
    assert list(chosen["question"]) == ["What is math500/p1?", "What is math500/p4?"]  # the last user turn
    assert chosen["trajectory"].iloc[0].startswith("thinking on math500/p1")


def test_pick_falls_back_to_incorrect_samples_and_ties_to_the_first_problem():
    wrong = [(p, tokens, hit, False) for p, tokens, hit, _ in SFT_STW] + [("p5", 64, True, False)]
    chosen = _pick(wrong)
    assert list(chosen["problem_id"]) == ["math500/p0", "math500/p3"]  # p3 and p5 tie at 64: p3
    assert list(chosen["correct"]) == [False, False]


def test_pick_says_why_nothing_matches():
    with pytest.raises(ValueError, match=r"no samples of model 'z1', method 'stw' at window 64; .*\('sft', 'stw', 64\)"):
        examples.pick(_samples(), [], model="z1", method="stw", window=64)
    all_hit = [(p, tokens, True, correct) for p, tokens, _, correct in SFT_STW]
    with pytest.raises(ValueError, match=r"no sample of sft / stw finished inside the window W = 64 \(all 5 hit it\)"):
        _pick(all_hit)
    with pytest.raises(ValueError, match=r"only one sample of sft / stw at W = 64"):
        _pick([("p0", 10, False, True)])
    with pytest.raises(ValueError, match=r"no generation row for .*'problem_id': 'math500/p1'"):
        examples.pick(_samples(), [], model="sft", method="stw", window=64)


def test_excerpt_wraps_long_lines_keeps_code_and_marks_the_cut():
    assert examples.excerpt("    indented = 1\nshort", width=20) == "    indented = 1\nshort"
    assert examples.excerpt("aaaa bbbb cccc", width=9) == "aaaa bbbb\ncccc"
    assert examples.excerpt(LONG, max_lines=3) == "step 0\nstep 1\nstep 2\n… (97 more lines)"
    assert examples.excerpt("a\nb", max_lines=2) == "a\nb"


def test_to_markdown_headings_fences_and_cut_markers():
    md = examples.to_markdown(_pick(), profile="synthetic", model="sft", window=64, method="stw")
    assert md.startswith("# Simple vs complex generations (profile: synthetic; model: sft; method: stw; "
                         "thinking window W = 64)")
    assert "## Simple: math500, math500/p1 (sample 0)" in md
    assert "20 thinking tokens · correct · finished inside the window (W = 64)" in md
    assert "## Complex: math500, math500/p4 (sample 0)" in md
    assert "60 thinking tokens · correct · hit the window (W = 64)" in md
    assert "```text\nWhat is math500/p4?\n```" in md
    # the simple trajectory has its own ``` fence, so its block is fenced with four backticks
    assert "````text\nthinking on math500/p1\n```python\nprint(1)\n```\n````" in md
    assert "step 78\n… (21 more lines)\n```" in md  # 101 lines cut at 80, never silently
    assert "step 79" not in md


def test_generation_examples_two_panels_titled_with_tokens_and_verdict(tmp_path):
    chosen = _pick()
    fig = plots.generation_examples(chosen, profile="synthetic", models="sft = m1", trajectory_lines=10)
    assert len(fig.axes) == 2
    simple, complex_ = fig.axes
    assert simple.get_title(loc="left") == "simple: 20 thinking tokens, correct\nmath500/p1 (finished inside the window)"
    assert complex_.get_title(loc="left") == "complex: 60 thinking tokens, correct\nmath500/p4 (hit the window)"
    body = complex_.texts[0]
    assert body.get_fontfamily() == ["monospace"]
    assert body.get_text().endswith("step 8\n… (91 more lines)")
    assert any("profile: synthetic | models: sft = m1" in t.get_text() for t in fig.texts)
    paths = plots.save(fig, tmp_path, "generation_examples")
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ValueError, match=r"examples lack \['complex'\]"):
        plots.generation_examples(chosen[chosen["kind"] == "simple"], profile="synthetic", models="m")


def test_pick_never_shows_a_gpqa_question():
    """GPQA's authors ask that questions not be republished: a GPQA sample is never an example, even
    when it would win on tokens and correctness."""
    samples = _samples()
    gpqa = [{**samples.iloc[1].to_dict(), "benchmark": "gpqa_diamond", "problem_id": "gpqa_diamond/rec1",
             "thinking_tokens": 2},
            {**samples.iloc[4].to_dict(), "benchmark": "gpqa_diamond", "problem_id": "gpqa_diamond/rec2",
             "thinking_tokens": 63}]
    samples = pd.concat([samples, pd.DataFrame(gpqa)], ignore_index=True)
    chosen = examples.pick(samples, _generations(samples), model="sft", method="stw", window=64)
    assert list(chosen["problem_id"]) == ["math500/p1", "math500/p4"]
    with_gpqa = examples.pick(samples, _generations(samples), model="sft", method="stw", window=64,
                              exclude_benchmarks=())
    assert list(with_gpqa["problem_id"]) == ["gpqa_diamond/rec1", "gpqa_diamond/rec2"]
