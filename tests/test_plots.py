"""z1.plots and z1.tables on small synthetic tidy tables (and the committed mini results where present):
files written, the right panels and legend entries, every number of ours in the table traceable to the
metrics and every paper number to references/paper_reported.csv."""

import io
import json
import math
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


# --------------------------------------------------------------------------- test-time controls
def _controls_curves() -> pd.DataFrame:
    """sft with the four controls (and an unlabelled one), base with STW only."""
    samples = _samples()
    sft = samples[samples.model == "sft"]
    parts = [samples] + [sft.assign(method=m) for m in ("stw_paper", "r1", "s1", "budget_x")]
    return _curves(pd.concat(parts, ignore_index=True))


def test_test_time_controls_one_curve_per_method_of_the_model(tmp_path):
    curves = _controls_curves()
    fig = plots.test_time_controls(curves, plots.read_paper_points(REPO / "references" / "paper_reported.csv"),
                                   model="sft", profile="synthetic", models="sft = m1")
    assert [ax.get_title() for ax in fig.axes] == [STAND_IN.replace(" (", "\n("), "math500"]
    for ax in fig.axes:
        labels = _legend_labels(ax)
        # readable names (sorted), the raw name where there is no label; only Z1-7B of the paper, as STW
        assert labels == ["R1-style truncation", "STW (authors' code)", "STW (corrected)", "budget_x",
                          "s1 budget forcing", "paper (reported): Z1-7B (STW only)"]
        paper_line = ax.get_lines()[-1]
        assert paper_line.get_linestyle() == "--" and paper_line.get_markerfacecolor() == "white"
        assert len(ax.collections) == 5  # one CI band per method
        assert ax.get_xscale() == "log" and ax.get_ylabel() == "pass@1 (%)"
    r1 = curves[(curves.model == "sft") & (curves.method == "r1") & (curves.benchmark == "math500")]
    drawn = fig.axes[1].get_lines()[0]
    assert list(drawn.get_ydata()) == pytest.approx(list(r1.sort_values("avg_thinking_tokens")["pass_at_1"]))
    z1_math = plots.read_paper_points(REPO / "references" / "paper_reported.csv").query(
        "figure == 'test_time_scaling' and model == 'Z1-7B' and benchmark == 'math500'")
    assert sorted(fig.axes[1].get_lines()[-1].get_ydata()) == sorted(z1_math["pass_at_1"])
    notes = " ".join(t.get_text() for t in fig.texts)
    assert "compares no other test-time control" in notes and "profile: synthetic | models: sft = m1" in notes
    _saved(fig, tmp_path, "test_time_controls")


def test_test_time_controls_rejects_a_model_without_rows():
    with pytest.raises(ValueError, match=r"no curves of model 'z1'; models present: \['base', 'sft'\]"):
        plots.test_time_controls(_controls_curves(), None, model="z1", profile="synthetic", models="m")


def test_method_labels_fall_back_to_the_raw_name():
    assert plots.method_label("stw") == "STW (corrected)" and plots.method_label("s1") == "s1 budget forcing"
    assert plots.method_label("beam") == "beam"


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


def test_thinking_vs_difficulty_shows_rho_intervals_and_the_paired_change_from_the_table(tmp_path):
    from z1 import paired

    samples = _samples()
    table = paired.difficulty_correlations(samples, bootstrap=100, seed=0)
    fig = plots.thinking_vs_difficulty(samples, window=64, profile="synthetic", models="m", correlations=table)
    labels = _legend_labels(fig.axes[0])
    sft = table[(table.model == "sft") & (table.window == 64)].iloc[0]
    assert f"sft: rho {sft.rho:+.2f} [{sft.rho_low:+.2f}, {sft.rho_high:+.2f}], 3 problems" in " ".join(labels)
    assert "base: rho n/a [n/a, n/a], 3 problems" in labels  # constant thinking tokens: no rho
    assert not any("vs base" in label for label in labels)  # the paired change needs the reference's rho
    # a table without the panel's rows: rho over samples, as without a table
    fig = plots.thinking_vs_difficulty(samples, window=64, profile="synthetic", models="m", correlations=table.iloc[:0])
    assert "sft (Spearman rho +1.00, n = 3)" in _legend_labels(fig.axes[0])
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
def _md_rows(md: str) -> list[dict[str, str]]:
    lines = [line for line in md.splitlines() if line.startswith("|")]
    header, _, *rows = ([c.strip() for c in line.strip("|").split("|")] for line in lines)
    return [dict(zip(header, cells, strict=True)) for cells in rows]


OURS_MD = ("model", "benchmark", "method", "problems", "pass@1 (%)", "95 % CI (%)", "avg thinking tokens")
PAPER_MD = "paper (reported) pass@1 (%)"


def _assert_traceable(table_csv: Path, table_md: Path, doc: dict, main_window: int, methods=None) -> None:
    """Every number of ours in both files equals the metrics file's number for that model/benchmark/
    method/window, and every such number (of `methods`, default all) is in the table; the only other
    columns are the paper's (checked by _assert_paper_traceable)."""
    table = pd.read_csv(table_csv)
    assert set(table.columns) <= {*tables.COLUMNS, *tables.PAPER_COLUMNS, "paper_status", "profile"}
    leaves = doc["results"]
    expected = sum(1 for b in leaves.values() for method, by_window in
                   ((m, w) for ms in b.values() for m, w in ms.items())
                   if (methods is None or method in methods) and f"w{main_window}" in by_window)
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
    for row in md:
        assert set(row) in ({*OURS_MD}, {*OURS_MD, PAPER_MD})
        leaf = labels[(row["model"], row["benchmark"], row["method"])]
        lo, hi = (float(x) for x in re.fullmatch(r"\[(.+), (.+)\]", row["95 % CI (%)"]).groups())
        assert (int(row["problems"]), float(row["pass@1 (%)"]), lo, hi, float(row["avg thinking tokens"])) == (
            leaf["problems"], leaf["pass_at_1"], leaf["ci_low"], leaf["ci_high"], leaf["avg_thinking_tokens"])


def _same(a, b) -> bool:
    return (pd.isna(a) and pd.isna(b)) or a == b


def _assert_paper_traceable(table_csv: Path, table_md: Path, paper: pd.DataFrame) -> None:
    """Every paper number of both files is the one row of `paper` with figure == "main_table" for the
    row's paper model (PAPER_MODEL) and paper benchmark (PAPER_BENCHMARK); "–" where there is none."""
    table = pd.read_csv(table_csv)
    reported = paper[paper["figure"] == "main_table"]
    md = _md_rows(table_md.read_text())
    assert len(md) == len(table)
    for (_, row), shown in zip(table.iterrows(), md, strict=True):
        assert _same(row["paper_model"], tables.PAPER_MODEL.get(row["model"]))
        assert _same(row["paper_benchmark"], tables.PAPER_BENCHMARK.get(row["benchmark"]))
        match = reported[(reported["model"] == row["paper_model"]) & (reported["benchmark"] == row["paper_benchmark"])]
        assert len(match) <= 1
        if match.empty:
            assert math.isnan(row["paper_pass_at_1"]) and math.isnan(row["paper_avg_thinking_tokens"])
            assert shown[PAPER_MD] == "–"
            continue
        ref = match.iloc[0]
        assert _same(row["paper_pass_at_1"], ref["pass_at_1"])
        assert _same(row["paper_avg_thinking_tokens"], ref["avg_thinking_tokens"])
        number, who = re.fullmatch(r"(\S+) \((.+)\)", shown[PAPER_MD]).groups()
        assert float(number) == ref["pass_at_1"] and who.startswith(f"{ref['model']} on ")
        assert ("unverified" in who) == (ref.get("status") == "unverified")


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


PAPER_MAIN_TABLE = """figure,benchmark,model,window,avg_thinking_tokens,pass_at_1,source
main_table,livecodebench_v5,Z1-7B,4096,2031,35.3,"fixture"
main_table,math500,Z1-7B,4096,,76.4,"fixture"
main_table,math500,Qwen2.5-Coder-7B-Instruct,,,45.25,"fixture"
main_table,gpqa_diamond,Z1-7B,4096,,47.5,"fixture"
main_table,gpqa_diamond,R1-Distill-Qwen-7B,,,33.1,"fixture"
"""


def _paper_with_main_table() -> pd.DataFrame:
    """references/paper_reported.csv as it is now plus main-table rows (the file gains such rows)."""
    real = plots.read_paper_points(REPO / "references" / "paper_reported.csv")
    real = real[real["figure"] != "main_table"]
    return pd.concat([real, pd.read_csv(io.StringIO(PAPER_MAIN_TABLE))], ignore_index=True)


def test_main_table_paper_column_traces_to_the_paper_rows(tmp_path):
    doc = json.loads(json.dumps(_metrics_doc(_samples())))
    ours = tables.main_table(tables.metrics_rows(doc), main_window=64)
    paper = _paper_with_main_table()
    table = tables.with_paper(ours, paper)
    pd.testing.assert_frame_equal(table[list(tables.COLUMNS)], ours)  # ours untouched
    got = table.set_index(["model", "benchmark"])
    assert got.loc[("sft", "humaneval"), "paper_model"] == "Z1-7B"
    assert got.loc[("sft", "humaneval"), "paper_benchmark"] == "livecodebench_v5"  # the stand-in's
    assert got.loc[("sft", "humaneval"), "paper_pass_at_1"] == 35.3
    assert got.loc[("sft", "humaneval"), "paper_avg_thinking_tokens"] == 2031
    assert got.loc[("sft", "math500"), "paper_pass_at_1"] == 76.4
    assert math.isnan(got.loc[("sft", "math500"), "paper_avg_thinking_tokens"])
    assert got.loc[("base", "math500"), "paper_model"] == "Qwen2.5-Coder-7B-Instruct"
    assert math.isnan(got.loc[("base", "humaneval"), "paper_pass_at_1"])  # the paper reports nothing
    paths = tables.save(table, tmp_path, "main_table", profile="synthetic", models="m")
    _assert_traceable(*paths, doc, 64)
    _assert_paper_traceable(*paths, paper)
    md = paths[1].read_text()
    shown = {(r["model"], r["benchmark"]): r[PAPER_MD] for r in _md_rows(md)}
    assert shown[("sft", STAND_IN)] == "35.3 (Z1-7B on LiveCodeBench v5)"
    assert shown[("sft", "math500")] == "76.4 (Z1-7B on MATH500)"
    assert shown[("base", "math500")] == "45.25 (Qwen2.5-Coder-7B-Instruct on MATH500)"
    assert shown[("base", STAND_IN)] == "–"
    assert "the Z1 paper's own number for its 7B models on the full benchmarks" in md
    assert "for reference only" in md
    without = tables.save(ours, tmp_path / "ours", "main_table", profile="synthetic", models="m")[1].read_text()
    assert PAPER_MD not in without and "for reference only" not in without


def test_main_table_paper_column_from_the_committed_references(tmp_path):
    """Against the real references/paper_reported.csv, whatever main-table rows it holds."""
    doc = json.loads(json.dumps(_metrics_doc(_samples())))
    paper = plots.read_paper_points(REPO / "references" / "paper_reported.csv")
    table = tables.with_paper(tables.main_table(tables.metrics_rows(doc), main_window=64), paper)
    paths = tables.save(table, tmp_path, "main_table", profile="synthetic", models="m")
    _assert_traceable(*paths, doc, 64)
    _assert_paper_traceable(*paths, paper)


def test_with_paper_rejects_two_paper_rows_for_one_pair():
    paper = pd.concat([_paper_with_main_table(), pd.read_csv(io.StringIO(PAPER_MAIN_TABLE))], ignore_index=True)
    with pytest.raises(ValueError, match=r"more than one row for .*'Z1-7B', 'math500'"):
        tables.with_paper(tables.main_table(tables.metrics_rows(_metrics_doc(_samples())), 64), paper)


def test_paper_benchmark_has_one_copy():
    assert plots.PAPER_BENCHMARK is tables.PAPER_BENCHMARK


@pytest.mark.parametrize("profile", ["mini", "cpu-full", "ci"])
def test_committed_results_table_traces_to_their_metrics(tmp_path, profile):
    """The committed metrics of a profile give a traceable table; a committed table must match them."""
    from z1 import config

    res = REPO / "results" / profile
    if not (res / "metrics" / "evaluation.json").exists():
        pytest.skip(f"no committed results/{profile}")
    doc = json.loads((res / "metrics" / "evaluation.json").read_text())
    figures = config.load_profile(profile)["figures"]
    main_window, main_method = int(figures["main_window"]), figures.get("main_method", "stw")
    table = tables.main_table(tables.metrics_rows(doc), main_window)
    paths = tables.save(table, tmp_path, "main_table", profile=profile, models="m")
    _assert_traceable(*paths, doc, main_window)
    committed = res / "tables" / "main_table.csv"
    if committed.exists():  # ours strictly (the main method's rows); the paper's columns against the references
        _assert_traceable(committed, res / "tables" / "main_table.md", doc, main_window, methods={main_method})
        if set(tables.PAPER_COLUMNS) <= set(pd.read_csv(committed).columns):
            _assert_paper_traceable(committed, res / "tables" / "main_table.md",
                                    plots.read_paper_points(REPO / "references" / "paper_reported.csv"))


def test_table_title_names_what_the_table_holds(tmp_path):
    table = pd.DataFrame([{"model": "sft", "benchmark": "math500", "benchmark_label": "math500", "method": "r1",
                           "window": 64, "problems": 6, "pass_at_1": 50.0, "ci_low": 16.67, "ci_high": 83.33,
                           "avg_thinking_tokens": 60.5}])
    md = tables.save(table, tmp_path, "controls", profile="mini", models="sft = x", title="Test-time controls of sft")[1]
    assert md.read_text().startswith("Test-time controls of sft (profile: mini; thinking window W = 64")
    assert "Main table" in tables.to_markdown(table, profile="mini", models="sft = x")


# --------------------------------------------------------------------------- the paper's comparison sets
def _paper_profile_curves() -> pd.DataFrame:
    """The benchmarks a `paper` run reports: LiveCodeBench v5 twice (all of release_v5, and the
    authors' contest_date >= 2024-09-01 window), BigCodeBench-Hard, GPQA Diamond, MATH500; three
    models, each with its main method, plus one z1 control that Figure 1b must not average."""
    rows = []
    pass_at_1 = {"livecodebench_v5": 10.0, evaluation.LCB_PAPER_WINDOW: 20.0, "bigcodebench_hard": 90.0,
                 "gpqa_diamond": 40.0, "math500": 60.0}
    for model, method in (("z1", "stw_paper"), ("z1", "stw"), ("base", "stw_paper"), ("r1_distill", "r1")):
        for bench, score in pass_at_1.items():
            for window in (512, 4096):
                rows.append({"model": model, "benchmark": bench, "method": method, "window": window,
                             "problems": 3, "pass_at_1": score + window / 512 + (method == "stw"), "ci_low": 0.0,
                             "ci_high": 100.0, "avg_thinking_tokens": window / 2 + len(bench),
                             "benchmark_label": evaluation.benchmark_label(bench, "")})
    return pd.DataFrame(rows)


def test_paper_livecodebench_numbers_go_to_the_authors_date_window_only():
    """The paper's 35.3 % is scored on contest_date >= 2024-09-01: the windowed row carries it; the
    full release is our extra row, compared with nothing and labelled as such."""
    curves = _paper_profile_curves()
    table = tables.with_paper(tables.main_table(curves[curves.method == "stw_paper"], 4096),
                              plots.read_paper_points(REPO / "references" / "paper_reported.csv"))
    got = table.set_index(["model", "benchmark"])
    assert got.loc[("z1", evaluation.LCB_PAPER_WINDOW), "paper_pass_at_1"] == 35.3
    assert math.isnan(got.loc[("z1", "livecodebench_v5"), "paper_pass_at_1"])
    assert math.isnan(got.loc[("z1", "bigcodebench_hard"), "paper_pass_at_1"])
    assert "ours" in got.loc[("z1", "livecodebench_v5"), "benchmark_label"]
    assert "not" not in got.loc[("z1", evaluation.LCB_PAPER_WINDOW), "benchmark_label"]
    fig = plots.test_time_scaling(curves[curves.method == "stw_paper"],
                                  plots.read_paper_points(REPO / "references" / "paper_reported.csv"),
                                  profile="synthetic", models="m")
    overlaid = {ax.get_title().replace("\n", " "): any(lab.startswith("paper (reported)") for lab in _legend_labels(ax))
                for ax in fig.axes}
    assert overlaid[evaluation.LCB_PAPER_WINDOW] is True
    assert [t for t, o in overlaid.items() if t.startswith("livecodebench_v5 (all")] and not any(
        o for t, o in overlaid.items() if t.startswith("livecodebench_v5 (all"))


def test_figure_1b_averages_the_papers_three_benchmarks_once_each(tmp_path):
    """LiveCodeBench on the authors' window, GPQA Diamond and MATH500: not the full LiveCodeBench
    row, not BigCodeBench; the real LiveCodeBench before the HumanEval stand-in; a group lacking one
    of the chosen benchmarks is dropped rather than averaged over fewer."""
    curves = _paper_profile_curves()
    main = tables.main_method_rows(curves, "stw_paper", {"r1_distill": "r1"})
    avg = plots.average_curve(main).set_index(["model", "method", "window"])
    assert avg.loc[("z1", "stw_paper", 4096), "pass_at_1"] == pytest.approx((20 + 40 + 60) / 3 + 8)
    assert avg.loc[("r1_distill", "r1", 512), "benchmarks"] == 3
    assert set(avg.index.get_level_values("method")) == {"stw_paper", "r1"}
    with_stand_in = pd.concat([curves, curves[curves.benchmark == "gpqa_diamond"].assign(benchmark="humaneval")])
    assert tables.figure_1b_benchmarks(with_stand_in["benchmark"].unique()) == {
        "livecodebench_v5": evaluation.LCB_PAPER_WINDOW, "gpqa_diamond": "gpqa_diamond", "math500": "math500"}
    partial = main.drop(main[(main.model == "base") & (main.benchmark == "math500") & (main.window == 512)].index)
    assert ("base", "stw_paper", 512) not in plots.average_curve(partial).set_index(["model", "method", "window"]).index
    caption = plots.figure_1b_caption(main)
    assert caption == ("average over the paper's three benchmarks, once each: LiveCodeBench v5 <- "
                       f"{evaluation.LCB_PAPER_WINDOW}, GPQA Diamond <- gpqa_diamond, MATH500 <- math500")
    fig = plots.figure_1b(main, None, profile="synthetic", models="m", main_window=4096)
    assert any(t.get_text() == caption for t in fig.texts)
    offline = plots.figure_1b_caption(_curves(_samples()))
    assert offline.endswith("LiveCodeBench v5 <- humaneval (offline stand-in), MATH500 <- math500; "
                            "missing here: GPQA Diamond")
    _saved(fig, tmp_path, "figure_1b")


def test_main_method_rows_take_each_models_own_method():
    curves = _paper_profile_curves()
    rows = tables.main_method_rows(curves, "stw_paper", {"r1_distill": "r1"})
    assert rows.groupby("model")["method"].unique().map(list).to_dict() == {
        "base": ["stw_paper"], "r1_distill": ["r1"], "z1": ["stw_paper"]}
    assert set(tables.main_method_rows(curves, "stw_paper")["model"]) == {"base", "z1"}


def test_every_paper_number_cites_its_place_and_unverified_ones_are_marked(tmp_path):
    """references/paper_reported.csv: each row has a source and a status; a number found only in a
    secondary summary (the base model's 37.4 on GPQA) is printed as unverified in the tables."""
    paper = plots.read_paper_points(REPO / "references" / "paper_reported.csv")
    assert set(paper["status"]) <= {"verified", "figure", "unverified"} and paper["source"].str.len().min() > 40
    assert (paper.loc[paper.status == "figure", "source"].str.contains("figure")).all()
    assert paper.loc[(paper.model == "Qwen2.5-Coder-7B-Instruct") & (paper.benchmark == "gpqa_diamond"),
                     "status"].tolist() == ["unverified"]
    assert paper.loc[(paper.figure == "main_table") & (paper.pass_at_1 == 47.5), "status"].tolist() == ["verified"]
    curves = pd.concat([_paper_profile_curves(), _paper_profile_curves().query("model == 'z1'").assign(model="base")])
    table = tables.with_paper(tables.main_table(curves[curves.method == "stw_paper"], 4096), paper)
    md = tables.save(table, tmp_path, "main_table", profile="synthetic", models="m")[1].read_text()
    shown = {(r["model"], r["benchmark"]): r[PAPER_MD] for r in _md_rows(md)}
    assert shown[("base", "gpqa_diamond")] == ("37.4 (Qwen2.5-Coder-7B-Instruct on GPQA Diamond; unverified: "
                                               "a secondary summary only)")
    assert shown[("z1", "gpqa_diamond")] == "47.5 (Z1-7B on GPQA Diamond)"
    assert "unverified" in tables.comparison_markdown(table)
