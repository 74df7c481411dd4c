"""The playground and the generations browser (z1.explore) on the fake engine and a synthetic results
tree; the real model and JupyterLab in a real browser are in test_browser.py."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fake_engine import FakeEngine

from z1 import benchmarks
from z1 import prompts as P
from z1.explore import html
from z1.explore.playground import (
    METHODS,
    PICKABLE,
    Playground,
    PlaygroundError,
    messages_for,
    parse_windows,
    problems,
    question_of,
    sweep,
)
from z1.explore.samples import BrowserError, SampleTable, summary

THINK = "abcdefghij" * 10  # a model that thinks for 100 characters (= tokens) and then answers


def _script(prompt: str, j: int) -> str:
    if prompt.endswith(P.HINT) or prompt.endswith(P.R1_FORCE_ANSWER) or prompt.endswith(P.S1_FINAL_ANSWER):
        return "ANSWER 42<EOS>"
    return THINK + " so 42<EOS>"


def _engine() -> FakeEngine:
    return FakeEngine(_script)


MESSAGES = [{"role": "user", "content": "q?"}]


# ---------------------------------------------------------------------------------------------------------------
# windows and prompts
def test_parse_windows_sorts_dedupes_and_names_bad_input():
    assert parse_windows("32, 16 16;64", max_tokens=64) == [16, 32, 64]
    assert parse_windows([8, 4], max_tokens=10) == [4, 8]
    for bad, word in (("", "at least one"), ("16, x", "'x' is not an integer"), ("0", "outside 1..64"),
                      ("65", "outside 1..64"), (",".join(str(i) for i in range(1, 11)), "at most 8")):
        with pytest.raises(PlaygroundError, match=word):
            parse_windows(bad, max_tokens=64)


def test_messages_for_keeps_a_problems_system_prompt_and_prefill_and_swaps_the_question():
    p = benchmarks.load("math500", n=1)[0]
    msgs, prefill = messages_for("What is 2+2?", p)
    assert msgs[-1] == {"role": "user", "content": "What is 2+2?"}
    assert [m["role"] for m in msgs] == [m["role"] for m in p.messages] and prefill == p.assistant_prefill
    assert question_of(p) != "What is 2+2?" and p.messages[-1]["content"] == question_of(p)  # not mutated
    assert messages_for("hi") == ([{"role": "user", "content": "hi"}], "")
    with pytest.raises(PlaygroundError, match="empty"):
        messages_for("  ")


def test_problems_come_from_the_offline_benchmarks_and_never_gpqa():
    picks = problems(n=2)
    assert {p.benchmark for p in picks.values()} == set(PICKABLE) and "gpqa_diamond" not in PICKABLE
    assert all(label == f"{p.benchmark} · {p.problem_id}" for label, p in picks.items())
    with pytest.raises(PlaygroundError, match="must not be republished"):
        problems(["gpqa_diamond"])


# ---------------------------------------------------------------------------------------------------------------
# one sweep, every method
def test_stw_sweep_splits_capped_thinking_hint_and_answer_per_window():
    eng = _engine()
    res = sweep(eng, MESSAGES, method="stw_corrected", windows=[16, 32, 200], max_tokens=200)
    assert [r.window for r in res] == [16, 32, 200]
    for r in res[:2]:
        assert r.window_hit and r.thinking_tokens == r.window and r.thinking == THINK[:r.window]
        assert r.appended == P.HINT and r.answer == "ANSWER 42" and r.finish_reason == "stop"
    last = res[2]  # finished inside its window: one text, not split
    assert not last.window_hit and last.thinking == "" and last.appended == ""
    assert last.answer == THINK + " so 42" and last.thinking_tokens == len(THINK) + len(" so 42") + 1  # + EOS
    # the windows shared one first round (greedy sweep): one pass-1 call, then one pass-2 call per capped window
    assert len(eng.calls[0]) == 1 and eng.calls[0][0].max_tokens == 200


@pytest.mark.parametrize("method, appended", [
    ("stw_paper", P.HINT), ("r1_truncation", P.R1_CLOSE_THINKING + P.R1_FORCE_ANSWER),
    ("budget_forcing", "\n\n" + P.S1_FINAL_ANSWER)])
def test_every_capping_method_shows_what_it_appended(method, appended):
    (r,) = sweep(_engine(), MESSAGES, method=method, windows=[20], max_tokens=60)
    assert r.window_hit and r.thinking == THINK[:20] and r.appended.strip() == appended.strip()
    assert r.answer.startswith("ANSWER 42") and r.method == method


def test_no_cap_ignores_the_window():
    res = sweep(_engine(), MESSAGES, method="no_cap", windows=[8, 16], max_tokens=200)
    assert [r.window_hit for r in res] == [False, False] and res[0].answer == res[1].answer == THINK + " so 42"


def test_unknown_method_and_bad_windows_fail_before_the_engine_runs():
    eng = _engine()
    with pytest.raises(PlaygroundError, match="unknown method 'stw'"):
        sweep(eng, MESSAGES, method="stw", windows=[8], max_tokens=16)
    with pytest.raises(PlaygroundError, match="outside"):
        sweep(eng, MESSAGES, method="no_cap", windows=[32], max_tokens=16)
    assert eng.calls == []


def test_a_benchmark_problem_is_graded_with_its_reason():
    p = benchmarks.load("math500", n=1)[0]
    gold = p.reference.get("answer") or p.reference.get("solution")
    eng = FakeEngine(lambda prompt, j: f"\\boxed{{{gold}}}<EOS>")
    (r,) = sweep(eng, *messages_for(question_of(p), p), method="stw_corrected", windows=[64], max_tokens=64, problem=p)
    assert r.grade["correct"] is True and "reference" in r.grade["reason"]
    eng2 = FakeEngine(lambda prompt, j: "\\boxed{-12345}<EOS>")
    (r2,) = sweep(eng2, *messages_for(question_of(p), p), method="stw_corrected", windows=[64], max_tokens=64,
                  problem=p)
    assert r2.grade["correct"] is False and "'-12345'" in r2.grade["reason"]


def test_playground_starts_each_engine_once_and_names_unknown_models():
    made = []

    def factory(key, model_dir):
        made.append(key)
        return _engine()

    pg = Playground({"base": Path("b"), "sft": Path("s")}, factory, max_tokens=40)
    pg.run("sft", "q?", windows="8")
    res = pg.run("sft", "q?", windows="8, 16", method="stw_paper")
    assert made == ["sft"] and [r.thinking_tokens for r in res] == [8, 16]
    with pytest.raises(PlaygroundError, match="unknown model 'z1'"):
        pg.run("z1", "q?")
    pg.close()
    assert pg.engines == {}


def test_sweep_html_carries_what_the_page_shows():
    res = sweep(_engine(), MESSAGES, method="stw_corrected", windows=[16, 200], max_tokens=200)
    page = html.sweep_html(res, model="sft")
    assert 'data-window="16" data-thinking-tokens="16" data-window-hit="true"' in page
    assert 'data-window="200"' in page and 'data-window-hit="false"' in page
    assert page.count('class="z1-answer"') == 2 and "ANSWER 42" in page and "✂ window reached after 16" in page
    assert "&lt;" in html.sweep_html([res[0].__class__(**{**res[0].__dict__, "answer": "<b>x</b>"})])  # escaped


def test_methods_cover_the_pipelines_test_time_methods():
    from z1 import thinking

    assert {f for f, _ in METHODS.values()} == {"shifted_thinking_window", "r1_truncation", "budget_forcing",
                                                "no_cap"} <= set(thinking.METHODS)


# ---------------------------------------------------------------------------------------------------------------
# generations browser
def _results_tree(root: Path, *, with_generations: bool) -> pd.DataFrame:
    probs = {b: benchmarks.load(b, n=1)[0] for b in ("math500", "gpqa_diamond")}
    rows, gens = [], []
    for (bench, p), (model, window, correct, hit) in zip(
            [(b, p) for b, p in probs.items() for _ in range(2)],
            [("sft", 16, True, True), ("sft", 32, False, False), ("base", 16, False, True), ("sft", 16, True, False)],
            strict=True):
        rows.append({"model": model, "benchmark": bench, "method": "stw", "window": window,
                     "problem_id": p.problem_id, "sample_index": 0, "correct": correct, "verdict": None,
                     "thinking_tokens": window if hit else 5, "window_hit": hit})
        rec = {"pass1_text": "thinking…", "hint": P.HINT if hit else None, "answer": "\\boxed{7}",
               "pass2_token_ids": [1, 2] if hit else None}
        gens.append({**{k: rows[-1][k] for k in ("model", "benchmark", "method", "window", "problem_id",
                                                  "sample_index")}, "problem": p.to_dict(), "record": rec})
    out = root / "results" / "t"
    out.mkdir(parents=True)
    samples = pd.DataFrame(rows)
    samples.to_csv(out / "samples.csv", index=False)
    if with_generations:
        gdir = root / "generations" / "t" / "m"
        gdir.mkdir(parents=True)
        (gdir / "rows.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gens))
    return samples


def test_browser_filters_and_summarises(tmp_path):
    _results_tree(tmp_path, with_generations=False)
    t = SampleTable.load("t", root=tmp_path)
    sft = t.filter(model="sft")
    assert len(sft) == 3 and summary(sft)["pass@1"] == pytest.approx(2 / 3)
    hit = t.filter(window_hit=True, correct=None)
    assert summary(hit) == {"samples": 2, "problems": 2, "pass@1": 0.5, "thinking_tokens": 16.0,
                            "window_hit_rate": 1.0}
    assert summary(t.filter(model="sft", window=32, correct=True))["samples"] == 0
    assert t.options("window") == [16, 32]
    with pytest.raises(BrowserError, match="unknown filter"):
        t.filter(temperature=0)
    with pytest.raises(BrowserError, match="dvc repro"):
        SampleTable.load("missing", root=tmp_path)


def test_browser_detail_reads_the_trajectory_and_regrades(tmp_path):
    _results_tree(tmp_path, with_generations=True)
    t = SampleTable.load("t", root=tmp_path)
    row = t.filter(benchmark="math500", window=16).iloc[0]
    d = t.detail(row)
    assert d.missing is None and d.thinking == "thinking…" and d.appended == P.HINT and d.answer == "\\boxed{7}"
    assert d.reason.startswith("extracted '7', reference") and d.question
    page = html.detail_html(d)
    assert "z1-question" in page and "✂ window reached" in page


def test_browser_withholds_gpqa_text_and_names_the_remedy_without_generations(tmp_path):
    _results_tree(tmp_path, with_generations=True)
    t = SampleTable.load("t", root=tmp_path)
    g = t.detail(t.filter(benchmark="gpqa_diamond").iloc[0])
    assert g.question is None and g.answer is None and "withheld" in g.missing
    assert t.detail(t.filter(benchmark="gpqa_diamond").iloc[0], show_restricted=True, regrade=False).question
    (tmp_path / "generations" / "t" / "m" / "rows.jsonl").unlink()
    bare = SampleTable.load("t", root=tmp_path)
    d = bare.detail(bare.filter(benchmark="math500").iloc[0])
    assert d.answer is None and "dvc repro" in d.missing and "dvc pull" in d.missing
    assert "z1-missing" in html.detail_html(d)


# ---------------------------------------------------------------------------------------------------------------
# the widget apps, driven from code
def test_playground_app_generates_and_grades_a_picked_problem():
    pytest.importorskip("ipywidgets")
    from z1.explore.widgets import OWN, PlaygroundApp

    p = benchmarks.load("math500", n=1)[0]
    app = PlaygroundApp(Playground({"sft": Path("s")}, lambda k, d: _engine(), max_tokens=120),
                        picks={"math500 · x": p}, windows="16, 32")
    app.problem.value = "math500 · x"
    assert app.question.value == question_of(p)
    app.generate()
    assert app.output.value.count('class="z1-window"') == 2 and 'data-thinking-tokens="32"' in app.output.value
    assert "graded by its benchmark's grader" in app.status.value and 'data-correct="false"' in app.output.value
    app.problem.value, app.question.value = OWN, "   "
    app.generate()
    assert "the question is empty" in app.output.value and app.status.value == ""
    app.question.value = "my own question"
    app.windows.value = "8, x"
    app.generate()
    assert "not an integer" in app.output.value and not app.button.disabled


def test_browser_app_filters_and_opens_samples(tmp_path):
    pytest.importorskip("ipywidgets")
    from z1.explore.widgets import BrowserApp

    _results_tree(tmp_path, with_generations=True)
    app = BrowserApp(SampleTable.load("t", root=tmp_path))
    assert 'data-samples="4"' in app.summary.value and len(app.samples.options) == 4
    app.benchmark.value = "math500"
    app.correct.value = "correct"
    assert 'data-samples="1"' in app.summary.value and "z1-question" in app.detail.value
    app.benchmark.value = "gpqa_diamond"
    assert "withheld" in app.detail.value
    app.show_restricted.value = True
    assert "z1-question" in app.detail.value


def test_project_root_is_found_from_a_notebook_folder_and_a_scratch_project_keeps_the_repo_untouched(tmp_path):
    from z1 import config
    from z1.explore import lab
    from z1.paths import project_root

    repo = Path(__file__).resolve().parents[1]
    assert project_root(repo / "notebooks" / "explore") == repo
    with pytest.raises(FileNotFoundError, match="params.yaml"):
        project_root(tmp_path)
    before = (repo / "params.yaml").read_text()
    proj = lab.make_project(tmp_path / "p", repo, profile="ci", links=("models",))
    assert config.active_profile(proj / "params.yaml") == "ci" and (repo / "params.yaml").read_text() == before
    assert (proj / "dvc.yaml").resolve() == (repo / "dvc.yaml").resolve() and not (proj / "results").exists()
    assert sorted(p.name for p in (proj / "notebooks" / "explore").iterdir()) == [
        "generations_browser.ipynb", "playground.ipynb"]
    assert not (proj / "notebooks" / "explore" / "playground.ipynb").is_symlink()  # Lab autosaves into it
    assert project_root(proj / "notebooks" / "explore") == proj.resolve()
