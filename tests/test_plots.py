"""z1.plots and z1.tables on small synthetic tidy tables (and the committed mini results where present):
files written, the right panels and legend entries, and every table number traceable to the metrics."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from z1 import evaluation, metrics, plots, tables

REPO = Path(__file__).resolve().parents[1]
STAND_IN = "humaneval (offline stand-in for livecodebench_v5, bigcodebench_hard)"


def _samples() -> pd.DataFrame:
    """2 models x 2 benchmarks x 2 windows x 3 problems; math500 has difficulty 1..3, humaneval none.
    At window 64, sft thinks longer on harder problems (rho +1); base always thinks 40 tokens.
    Three problems, so pass@1 and mean tokens have decimals the table must keep (33.33, 20.3)."""
    rows = []
    for model in ("base", "sft"):
        for bench, stand_in in (("humaneval", "livecodebench_v5,bigcodebench_hard"), ("math500", "")):
            for window in (32, 64):
                for p in range(3):
                    difficulty = float(p + 1) if bench == "math500" else None
                    tokens = 40 if model == "base" else (10 * (p + 1) + (p == 2) if window == 64 else 999)
                    rows.append({"model": model, "benchmark": bench, "stand_in_for": stand_in, "method": "stw",
                                 "window": window, "problem_id": f"{bench}/{p}", "sample_index": 0,
                                 "difficulty": difficulty, "correct": (p + (model == "sft")) % 2 == 0,
                                 "thinking_tokens": tokens, "thinking_tokens_only": tokens, "window_hit": False})
    return pd.DataFrame(rows)


def _curves(samples: pd.DataFrame) -> pd.DataFrame:
    curves = metrics.summarize(samples, bootstrap=50)
    stand_ins = samples.groupby("benchmark")["stand_in_for"].first()
    curves["benchmark_label"] = [evaluation.benchmark_label(b, stand_ins[b]) for b in curves["benchmark"]]
    return curves


def _metrics_doc(samples: pd.DataFrame) -> dict:
    """The shape evaluation.write_results gives metrics/evaluation.json (without the run provenance)."""
    stand_ins = samples.groupby("benchmark")["stand_in_for"].first()
    return {"provenance": {"profile": "synthetic",
                           "benchmarks": {b: {"problems": 3, "stand_in_for": stand_ins[b] or None} for b in stand_ins.index}},
            "results": evaluation.nested_metrics(metrics.summarize(samples, bootstrap=50))}


def _legend_labels(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def _saved(fig, tmp_path, name) -> None:
    paths = plots.save(fig, tmp_path, name)
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[0].stat().st_size > 5_000
    assert paths[1].read_bytes()[:5] == b"%PDF-"


# --------------------------------------------------------------------------- scaling figures
def test_test_time_scaling_one_panel_per_benchmark_with_paper_points(tmp_path):
    curves = _curves(_samples())
    fig = plots.test_time_scaling(curves, plots.read_paper_points(REPO / "references" / "paper_reported.csv"),
                                  profile="synthetic", models="base = m0; sft = m1")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [STAND_IN.replace(" (", "\n("), "math500"]
    for ax in axes:
        labels = _legend_labels(ax)
        assert labels[:2] == ["base / stw", "sft / stw"]
        # humaneval stands in for LiveCodeBench: the paper's LiveCodeBench points, dashed and gray
        assert labels[2:] == ["paper (reported): R1-Distill-Qwen-7B", "paper (reported): Z1-7B"]
        paper_lines = [line for line in ax.get_lines() if line.get_label().startswith("paper (reported)")]
        assert all(line.get_linestyle() == "--" for line in paper_lines)
        assert ax.get_xlabel() == "average thinking tokens (log2)" and ax.get_ylabel() == "pass@1 (%)"
    ours = axes[1].get_lines()[0]
    base_math = curves[(curves.model == "base") & (curves.benchmark == "math500")].sort_values("avg_thinking_tokens")
    assert list(ours.get_ydata()) == pytest.approx(list(base_math["pass_at_1"]))
    assert any("profile: synthetic | models: base = m0; sft = m1" in t.get_text() for t in fig.texts)
    _saved(fig, tmp_path, "test_time_scaling")


def test_test_time_scaling_without_paper_counterpart_draws_only_ours():
    curves = _curves(_samples()).replace({"benchmark": {"math500": "codeio"}})
    fig = plots.test_time_scaling(curves, plots.read_paper_points(REPO / "references" / "paper_reported.csv"),
                                  profile="synthetic", models="m")
    assert _legend_labels(fig.axes[1]) == ["base / stw", "sft / stw"]


def test_figure_1b_averages_over_benchmarks_and_marks_main_window(tmp_path):
    curves = _curves(_samples())
    avg = plots.average_curve(curves).set_index(["model", "window"])
    sft64 = curves[(curves.model == "sft") & (curves.window == 64)]
    assert avg.loc[("sft", 64), "pass_at_1"] == pytest.approx(sft64["pass_at_1"].mean())
    assert avg.loc[("sft", 64), "avg_thinking_tokens"] == pytest.approx(sft64["avg_thinking_tokens"].mean())
    assert avg.loc[("sft", 64), "benchmarks"] == 2
    fig = plots.figure_1b(curves, plots.read_paper_points(REPO / "references" / "paper_reported.csv"),
                          profile="synthetic", models="m", main_window=64)
    labels = _legend_labels(fig.axes[0])
    assert "main setting (W = 64)" in labels
    assert "paper (reported): Z1-7B" in labels and "paper (reported): R1-Distill-Qwen-7B" in labels
    _saved(fig, tmp_path, "figure_1b")


# --------------------------------------------------------------------------- dynamic reasoning
def test_thinking_vs_difficulty_panels_rank_correlation_and_note(tmp_path):
    fig = plots.thinking_vs_difficulty(_samples(), window=64, profile="synthetic", models="base = m0; sft = m1")
    assert len(fig.axes) == 1  # humaneval has no difficulty: left out
    ax = fig.axes[0]
    assert ax.get_title() == "math500"
    assert sorted(_legend_labels(ax)) == ["base (Spearman rho n/a, n = 3)", "sft (Spearman rho +1.00, n = 3)",
                                          "thinking window W = 64"]
    base, sft = (c.lines[0] for c in ax.containers)  # one errorbar container per model
    assert list(base.get_ydata()) == [40, 40, 40]
    assert list(sft.get_ydata()) == [10, 20, 31]  # window 32's 999-token rows are not drawn
    assert "tokens" in ax.get_ylabel() and "difficulty" in ax.get_xlabel()
    notes = " ".join(t.get_text() for t in fig.texts)
    assert "left out (no per-problem difficulty): humaneval" in notes
    assert "profile: synthetic" in notes
    _saved(fig, tmp_path, "thinking_vs_difficulty")


def test_thinking_vs_difficulty_without_any_difficulty_says_so(tmp_path):
    samples = _samples().assign(difficulty=float("nan"))
    fig = plots.thinking_vs_difficulty(samples, window=64, profile="synthetic", models="m")
    text = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "No benchmark of this run has per-problem difficulty" in text
    assert "humaneval, math500" in text
    _saved(fig, tmp_path, "thinking_vs_difficulty")
    with pytest.raises(ValueError, match=r"no samples at window 4096; windows present: \[32, 64\]"):
        plots.thinking_vs_difficulty(samples, window=4096, profile="synthetic", models="m")


# --------------------------------------------------------------------------- data figures
def test_token_matched_subsets_bars_equal_the_report(tmp_path):
    section = {"token_budget": 1749, "budget_from": "half the dataset's tokens", "subsets": [
        {"mode": "length", "token_budget": 1749, "rows": 6, "tokens": 1920, "mean_tokens": 320.0},
        {"mode": "sample", "token_budget": 1749, "rows": 7, "tokens": 1899, "mean_tokens": 271.3}]}
    fig = plots.token_matched_subsets(section, profile="synthetic", teacher="t")
    tokens_ax, rows_ax = fig.axes
    assert [p.get_height() for p in tokens_ax.patches] == [1920, 1899]
    assert [p.get_height() for p in rows_ax.patches] == [6, 7]
    assert [t.get_text() for t in tokens_ax.get_xticklabels()][0].startswith("longest-first")
    assert _legend_labels(tokens_ax) == ["token budget 1,749"]
    assert tokens_ax.get_lines()[0].get_ydata()[0] == 1749
    assert any("profile: synthetic | teacher: t" in t.get_text() for t in fig.texts)
    _saved(fig, tmp_path, "token_matched_subsets")


# --------------------------------------------------------------------------- main table
def _md_rows(md: str) -> list[list[str]]:
    lines = [line for line in md.splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]  # skip header + rule


def _assert_traceable(table_csv: Path, table_md: Path, doc: dict, main_window: int) -> None:
    """Every number of both files equals the metrics file's number for that model/benchmark/method/window."""
    table = pd.read_csv(table_csv)
    leaves = doc["results"]
    expected = sum(1 for b in leaves.values() for m in b.values() for w in m.values() for key in w
                   if key == f"w{main_window}")
    assert len(table) == expected > 0
    labels = {}
    for _, row in table.iterrows():
        leaf = leaves[row["model"]][row["benchmark"]][row["method"]][f"w{int(row['window'])}"]
        assert int(row["window"]) == main_window
        for key in tables.NUMBERS:
            assert row[key] == leaf[key], (row["model"], row["benchmark"], key)
        labels[(row["model"], row["benchmark_label"], row["method"])] = leaf
    md = _md_rows(table_md.read_text())
    assert len(md) == len(table)
    for model, label, method, problems, p1, ci, tokens in md:
        leaf = labels[(model, label, method)]
        lo, hi = (float(x) for x in re.fullmatch(r"\[(.+), (.+)\]", ci).groups())
        assert (int(problems), float(p1), lo, hi, float(tokens)) == (
            leaf["problems"], leaf["pass_at_1"], leaf["ci_low"], leaf["ci_high"], leaf["avg_thinking_tokens"])


def test_main_table_numbers_trace_to_the_metrics_file(tmp_path):
    doc = json.loads(json.dumps(_metrics_doc(_samples())))  # as read back from evaluation.json
    small = tables.main_table(tables.metrics_rows(doc), main_window=32)
    _assert_traceable(*tables.save(small, tmp_path / "w32", "main_table", profile="synthetic", models="m"), doc, 32)
    table = tables.main_table(tables.metrics_rows(doc), main_window=64)
    assert list(table.columns) == list(tables.COLUMNS)
    assert set(table["benchmark_label"]) == {STAND_IN, "math500"}
    paths = tables.save(table, tmp_path, "main_table", profile="synthetic", models="base = m0; sft = m1")
    assert [p.name for p in paths] == ["main_table.csv", "main_table.md"]
    assert pd.read_csv(paths[0])["profile"].eq("synthetic").all()
    md = paths[1].read_text()
    assert md.startswith("Main table (profile: synthetic; thinking window W = 64; models: base = m0; sft = m1)")
    assert "pass@1 (%)" in md and "95 % CI (%)" in md and "avg thinking tokens" in md
    _assert_traceable(paths[0], paths[1], doc, 64)
    sft_math = table[(table.model == "sft") & (table.benchmark == "math500")].iloc[0]
    assert sft_math["pass_at_1"] == 33.33 and sft_math["avg_thinking_tokens"] == 20.3


def test_main_table_rejects_a_window_the_run_does_not_have():
    with pytest.raises(ValueError, match=r"main window 4096.*\[32, 64\]"):
        tables.main_table(tables.metrics_rows(_metrics_doc(_samples())), main_window=4096)


@pytest.mark.parametrize("profile", ["mini", "ci"])
def test_committed_results_table_traces_to_their_metrics(tmp_path, profile):
    """The committed metrics of a profile give a traceable table; a committed table must match them."""
    from z1 import config

    res = REPO / "results" / profile
    if not (res / "metrics" / "evaluation.json").exists():
        pytest.skip(f"no committed results/{profile}")
    doc = json.loads((res / "metrics" / "evaluation.json").read_text())
    main_window = int(config.load_profile(profile)["figures"]["main_window"])
    table = tables.main_table(tables.metrics_rows(doc), main_window)
    paths = tables.save(table, tmp_path, "main_table", profile=profile, models="m")
    _assert_traceable(*paths, doc, main_window)
    committed = res / "tables" / "main_table.csv"
    if committed.exists():
        _assert_traceable(committed, res / "tables" / "main_table.md", doc, main_window)
