"""Metrics: pass@k (unbiased), bootstrap confidence intervals, thinking-token statistics.

Per-sample graded records come in as a DataFrame with at least `problem_id`, `correct`,
`thinking_tokens`; `summarize` turns them into one row per (model, benchmark, method, window).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np
import pandas as pd

GROUP_KEYS = ("model", "benchmark", "method", "window")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of Chen et al. (2021) for n samples of which c are correct."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n} c={c} k={k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def per_problem_pass_at_k(df: pd.DataFrame, k: int = 1) -> pd.Series:
    grouped = df.groupby("problem_id")["correct"]
    return grouped.apply(lambda s: pass_at_k(len(s), int(s.sum()), k))


def bootstrap_ci(values: Sequence[float], *, iterations: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over problems (resampling problems)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(iterations, arr.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def _strict_pass_at_1(df: pd.DataFrame) -> float:
    """pass@1 (%) under the grader's strict rule (``strict_correct``: GPQA the authors' last-\\boxed{}
    rule, MATH500 normalised string equality); NaN where the benchmark has none."""
    strict = df["strict_correct"] if "strict_correct" in df else pd.Series(dtype=object)
    if strict.isna().all():
        return float("nan")
    return 100.0 * float(df.assign(correct=strict.fillna(False).astype(bool))
                         .pipe(per_problem_pass_at_k, 1).mean())


def summarize(samples: pd.DataFrame, *, bootstrap: int = 1000, seed: int = 0,
              keys: Sequence[str] = GROUP_KEYS) -> pd.DataFrame:
    """One row per group: problems, samples, pass@1 (%) with a bootstrap CI, average thinking tokens
    (the paper's count and the thinking-only count), the share of samples that hit the window, the
    share whose kept output ended itself (EOS / stop) rather than at its token cap (``finish_rate``:
    an answer cut off by the budget rarely grades correct), and pass@1 under the grader's strict rule
    where it has one (``strict_pass_at_1``)."""
    rows = []
    for group, df in samples.groupby(list(keys), sort=True, dropna=False):
        per_problem = per_problem_pass_at_k(df, 1)
        lo, hi = bootstrap_ci(per_problem.values, iterations=bootstrap, seed=seed)
        row = dict(zip(keys, group if isinstance(group, tuple) else (group,), strict=True))
        row.update({
            "problems": int(per_problem.size),
            "samples": int(len(df)),
            "pass_at_1": 100.0 * float(per_problem.mean()),
            "ci_low": 100.0 * lo,
            "ci_high": 100.0 * hi,
            "avg_thinking_tokens": float(df["thinking_tokens"].mean()),
            "avg_thinking_tokens_only": float(df.get("thinking_tokens_only", df["thinking_tokens"]).mean()),
            "window_hit_rate": float(df["window_hit"].mean()) if "window_hit" in df else float("nan"),
            "finish_rate": float(df["finished"].mean()) if "finished" in df else float("nan"),
            "strict_pass_at_1": _strict_pass_at_1(df),
        })
        rows.append(row)
    return pd.DataFrame(rows)
