"""z1.paired: differences between arms graded on the same problems, with paired bootstrap intervals."""

import numpy as np
import pandas as pd
import pytest

from z1 import metrics, paired, tables


def arm(model, method, window, correct, tokens, bench="b"):
    return pd.DataFrame({"model": model, "benchmark": bench, "method": method, "window": window,
                         "problem_id": [f"p{i}" for i in range(len(correct))], "correct": correct,
                         "thinking_tokens": tokens})


def test_paired_bootstrap_is_the_mean_difference_with_a_seeded_interval():
    d, lo, hi = paired.paired_bootstrap([0, 0, 1, 1], [1, 0, 1, 1], iterations=500, seed=3)
    assert d == pytest.approx(0.25) and lo <= d <= hi
    assert (d, lo, hi) == paired.paired_bootstrap([0, 0, 1, 1], [1, 0, 1, 1], iterations=500, seed=3)
    assert paired.paired_bootstrap([1, 2], [3, 4]) == (2.0, 2.0, 2.0)  # every pair moves by 2
    assert all(np.isnan(paired.paired_bootstrap([], [])))


def test_pairing_sees_a_consistent_gain_that_overlapping_arm_intervals_hide():
    """Arm b solves every problem a solves plus a third more: each arm's own interval is wide and the
    two overlap, yet the paired interval of the difference excludes zero."""
    rng = np.random.default_rng(0)
    a = rng.random(30) < 0.4
    b = a | (np.arange(30) % 3 == 0)
    lo_a, hi_a = metrics.bootstrap_ci(a.astype(float), seed=0)
    lo_b, hi_b = metrics.bootstrap_ci(b.astype(float), seed=0)
    assert lo_b < hi_a  # the arms' intervals overlap
    row = paired.compare(arm("m", "stw", 8, a, [10] * 30), arm("m", "stw", 16, b, [12] * 30))
    assert row["pass_diff"] == pytest.approx(100 * (b.mean() - a.mean()))
    assert row["pass_diff_low"] > 0
    assert row["tokens_diff"] == row["tokens_diff_low"] == row["tokens_diff_high"] == 2.0


def test_only_problems_both_arms_have_are_compared():
    a = arm("base", "stw", 8, [True, False, True], [5, 6, 7])
    b = arm("sft", "stw", 8, [True, True], [4, 4])  # p0, p1 only
    row = paired.compare(a, b)
    assert row["problems"] == 2 and row["pass_a"] == 50.0 and row["pass_b"] == 100.0
    assert row["tokens_diff"] == pytest.approx(-1.5)


def test_comparisons_cover_models_windows_and_methods():
    parts = []
    for model, method in (("base", "stw"), ("sft", "stw"), ("sft", "s1")):
        for w in (8, 16, 32):
            parts.append(arm(model, method, w, [w > 8, w == 32, False, True], [w] * 4))
    table = paired.comparisons(pd.concat(parts), bootstrap=100)
    assert list(table.columns) == list(paired.COLUMNS)
    kinds = table.groupby("comparison").size().to_dict()
    assert kinds == {"model": 3, "window": 9, "method": 3}  # base-sft on stw x 3 windows; 3 arms x 3 pairs; s1 vs stw
    w = table[(table.comparison == "window") & (table.model_a == "sft") & (table.method_a == "s1")]
    assert sorted(zip(w.window_a, w.window_b, strict=True)) == [(8, 16), (8, 32), (16, 32)]
    m = table[table.comparison == "model"].iloc[0]
    assert (m.model_a, m.model_b, m.pass_diff) == ("base", "sft", 0.0)
    s8 = table[(table.comparison == "window") & (table.window_a == 8) & (table.window_b == 32)].iloc[0]
    assert s8.pass_diff == pytest.approx(50.0) and s8.tokens_diff == 24
    assert paired.significant(table, "tokens_diff").sum() == 9  # every window step moves the token count


def test_between_runs_pairs_each_shared_arm_of_two_runs():
    """The same arms run twice (say float32, then bfloat16): one row per shared arm, b minus a on the
    problems both graded; an arm only one run has is left out."""
    run_a = pd.concat([arm("base", "stw", 64, [True, False, False, True], [64, 64, 40, 64]),
                       arm("base", "stw", 256, [True, True, False, True], [200, 256, 40, 90]),
                       arm("sft", "stw", 64, [False] * 4, [64] * 4)])
    run_b = pd.concat([arm("base", "stw", 64, [True, True, False, True], [64, 64, 52, 64]),
                       arm("base", "stw", 256, [True, True, False], [200, 256, 40])])
    table = paired.between_runs(run_a, run_b, bootstrap=200)
    assert list(table.columns) == list(paired.RUN_COLUMNS)
    assert list(zip(table.model, table.window, table.problems, strict=True)) == [("base", 64, 4), ("base", 256, 3)]
    w64 = table.iloc[0]
    assert (w64.pass_a, w64.pass_b, w64.pass_diff) == (50.0, 75.0, 25.0)
    assert w64.tokens_diff == pytest.approx(3.0) and w64.pass_diff_low <= 25.0 <= w64.pass_diff_high
    assert table.iloc[1].pass_diff == 0.0 and table.iloc[1].tokens_diff == 0.0
    md = tables.runs_comparison_markdown(table, ("float32", "bfloat16")).splitlines()
    assert "pass@1 % float32 → bfloat16" in md[0] and len(md) == 4
    assert md[2].startswith("| b | base | 64 | 4 | 50.0 → 75.0 | +25.0 [")


def test_a_method_without_the_main_method_is_not_compared():
    table = paired.comparisons(pd.concat([arm("m", "r1", 8, [True], [3])]), bootstrap=10)
    assert table.empty and list(table.columns) == list(paired.COLUMNS)


def test_the_forest_plot_draws_models_widest_windows_and_methods(tmp_path):
    from z1 import plots

    parts = [arm(model, method, w, [w > 8, w == 32, False, True], [w] * 4)
             for model, method in (("base", "stw"), ("sft", "stw"), ("sft", "s1")) for w in (8, 16, 32)]
    table = paired.comparisons(pd.concat(parts), bootstrap=50)
    rows = plots.paired_rows(table, main_method="stw", main_window=32)
    assert sorted(rows.comparison.value_counts().items()) == [("method", 1), ("model", 3), ("window", 2)]
    assert set(zip(rows[rows.comparison == "window"].window_a, rows[rows.comparison == "window"].window_b,
                   strict=True)) == {(8, 32)}
    assert "b · sft − base, W=8" in set(rows.label)
    fig = plots.paired_differences(table, main_method="stw", main_window=32, profile="test", models="m")
    saved = plots.save(fig, tmp_path, "paired_differences")
    assert all(p.stat().st_size > 0 for p in saved)


def _rated(model, tokens, difficulty, bench="codeio_heldout", window=64):
    return pd.DataFrame({"model": model, "benchmark": bench, "method": "stw", "window": window,
                         "problem_id": [f"p{i}" for i in range(len(tokens))], "correct": False,
                         "thinking_tokens": tokens, "difficulty": difficulty})


def test_spearman_matches_pearson_on_average_ranks_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(100):
        x, y = rng.integers(0, 4, size=15).astype(float), rng.integers(0, 6, size=15).astype(float)
        want = pd.Series(x).rank().corr(pd.Series(y).rank())
        got = paired.spearman(x, y)
        assert (np.isnan(want) and np.isnan(got)) or got == pytest.approx(want)
    x, y = rng.integers(0, 4, size=(4, 12)).astype(float), rng.normal(size=(4, 12))
    assert paired.spearman(x, y) == pytest.approx([pd.Series(a).rank().corr(pd.Series(b).rank()) for a, b in zip(x, y, strict=True)])
    assert np.isnan(paired.spearman([1, 1, 1, 1], [1, 2, 3, 4])) and np.isnan(paired.spearman([1, 2], [1, 2]))


def test_difficulty_correlations_give_rho_intervals_and_the_paired_change_against_the_first_model():
    rng = np.random.default_rng(0)
    difficulty = np.repeat([6.0, 7.0, 8.0, 9.0], 12)
    adaptive = 40 * difficulty + rng.normal(0, 20, size=difficulty.size)  # thinks longer on harder problems
    flat = rng.normal(300, 20, size=difficulty.size)                       # does not
    samples = pd.concat([_rated("base", flat, difficulty), _rated("sft", adaptive, difficulty),
                         _rated("base", flat, np.nan, bench="humaneval")])  # no difficulty: left out
    table = paired.difficulty_correlations(samples, bootstrap=400, seed=0)
    assert list(table.columns) == list(paired.DIFFICULTY_COLUMNS)
    assert set(table["benchmark"]) == {"codeio_heldout"}
    base, sft = (table[table.model == m].iloc[0] for m in ("base", "sft"))
    assert base.problems == sft.problems == 48 and base.levels == 4
    assert sft.rho > 0.8 and sft.rho_low > 0.6 and sft.rho_low <= sft.rho <= sft.rho_high
    assert base.rho_low < 0 < base.rho_high  # no relation: the interval straddles 0
    assert base.reference_model == sft.reference_model == "base" and np.isnan(base.rho_diff)
    assert sft.rho_diff == pytest.approx(sft.rho - base.rho) and sft.rho_diff_low > 0
    again = paired.difficulty_correlations(samples, bootstrap=400, seed=0)
    pd.testing.assert_frame_equal(table, again)  # seeded
    # per problem: several samples of one problem count once (their mean), not as extra evidence
    doubled = pd.concat([samples, samples.assign(thinking_tokens=samples["thinking_tokens"] + 1)])
    assert paired.difficulty_correlations(doubled, bootstrap=50)["problems"].tolist() == [48, 48]
    assert paired.difficulty_correlations(samples.drop(columns="difficulty")).empty


def test_readme_tables_render_the_paired_rows_with_their_intervals():
    from z1 import tables

    a = arm("base", "stw", 64, [True, False, True, False], [64, 64, 40, 64])
    b = arm("sft", "stw", 64, [True, True, True, False], [30, 64, 20, 50])
    table = paired.comparisons(pd.concat([a, b]), bootstrap=200, seed=0)
    text = tables.model_comparison_markdown(table, method="stw")
    row = table[table.comparison == "model"].iloc[0]
    want = (f"| b | 64 | base → sft | 4 | 50.0 → 75.0 | +25.0 [{row.pass_diff_low:+.1f}, {row.pass_diff_high:+.1f}] "
            f"| 58.0 → 41.0 | −17.0 [{row.tokens_diff_low:+.1f}, {row.tokens_diff_high:+.1f}] |").replace("-", "−")
    assert want in text.splitlines()
    with pytest.raises(ValueError, match="no model comparison for method 'r1'"):
        tables.model_comparison_markdown(table, method="r1")
    rated = pd.concat([a.assign(difficulty=[1, 2, 3, 4]), b.assign(difficulty=[1, 2, 3, 4])])
    corr = paired.difficulty_correlations(rated, bootstrap=100)
    lines = tables.difficulty_markdown(corr, method="stw", window=64).splitlines()
    assert lines[2].startswith("| b | base | 4 | 4 | ") and lines[2].endswith("| – |")
    assert lines[3].startswith("| b | sft | 4 | 4 | ") and lines[3].endswith(" vs base |")
