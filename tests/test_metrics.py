"""z1.metrics: unbiased pass@k, bootstrap intervals, the per-window summary."""

import math

import pandas as pd
import pytest

from z1 import metrics


def test_pass_at_k_known_values():
    assert metrics.pass_at_k(1, 1, 1) == 1.0
    assert metrics.pass_at_k(1, 0, 1) == 0.0
    assert metrics.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    # 1 - C(7,5)/C(10,5) = 1 - 21/252
    assert metrics.pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)
    assert metrics.pass_at_k(5, 4, 2) == 1.0
    with pytest.raises(ValueError):
        metrics.pass_at_k(2, 3, 1)
    with pytest.raises(ValueError, match="samples"):
        metrics.pass_at_k(2, 1, 3)


def test_bootstrap_ci_contains_mean_and_is_deterministic():
    vals = [1, 0, 1, 1, 0, 1, 0, 1]
    lo, hi = metrics.bootstrap_ci(vals, iterations=500, seed=1)
    assert lo <= sum(vals) / len(vals) <= hi
    assert (lo, hi) == metrics.bootstrap_ci(vals, iterations=500, seed=1)
    assert metrics.bootstrap_ci([1, 1, 1]) == (1.0, 1.0)
    assert all(math.isnan(x) for x in metrics.bootstrap_ci([]))


def test_summarize_groups_and_counts():
    df = pd.DataFrame({
        "model": ["m"] * 6, "benchmark": ["b"] * 6, "method": ["stw"] * 6,
        "window": [16, 16, 16, 32, 32, 32], "problem_id": ["p0", "p1", "p2"] * 2,
        "correct": [True, False, False, True, True, False],
        "thinking_tokens": [16, 16, 5, 20, 32, 5], "thinking_tokens_only": [16, 16, 3, 18, 32, 3],
        "window_hit": [True, True, False, False, True, False],
        "finished": [True, False, True, True, True, True],
    })
    s = metrics.summarize(df, bootstrap=100).set_index("window")
    assert s.loc[16, "finish_rate"] == pytest.approx(2 / 3) and s.loc[32, "finish_rate"] == 1.0
    assert s.loc[16, "pass_at_1"] == pytest.approx(100 / 3)
    assert s.loc[32, "pass_at_1"] == pytest.approx(200 / 3)
    assert s.loc[16, "avg_thinking_tokens"] == pytest.approx(37 / 3)
    assert s.loc[32, "avg_thinking_tokens_only"] == pytest.approx(53 / 3)
    assert s.loc[16, "window_hit_rate"] == pytest.approx(2 / 3)
    assert (s["problems"] == 3).all()
