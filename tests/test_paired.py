"""z1.paired: differences between arms graded on the same problems, with paired bootstrap intervals."""

import numpy as np
import pandas as pd
import pytest

from z1 import metrics, paired


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
