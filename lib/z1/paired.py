"""Paired comparisons: every difference a figure or table shows, with its own interval.

Two arms graded on the same problems (base vs fine-tuned at one window, one window vs another, a
control vs the main method) are compared problem by problem: the difference of the arms' per-problem
pass@1 (and of their mean thinking tokens), averaged over the problems both arms have, with a
percentile bootstrap interval that resamples problems. Because each problem is its own control, the
interval of a difference is usually far narrower than the two arms' own intervals side by side
suggest (overlapping per-arm intervals do not mean "no difference").

    table = paired.comparisons(samples, bootstrap=1000, seed=0)     # samples: evaluation.grade_rows(...)
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from z1.metrics import per_problem_pass_at_k

COLUMNS = ("comparison", "benchmark", "model_a", "method_a", "window_a", "model_b", "method_b", "window_b",
           "problems", "pass_a", "pass_b", "pass_diff", "pass_diff_low", "pass_diff_high",
           "tokens_a", "tokens_b", "tokens_diff", "tokens_diff_low", "tokens_diff_high")


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, iterations: int = 1000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``b - a`` over paired values and its percentile bootstrap interval (resampling pairs)."""
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if d.size == 0:
        return (float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(iterations, d.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(d.mean()), float(lo), float(hi)


def _per_problem(df: pd.DataFrame) -> pd.DataFrame:
    """pass@1 (0-1) and mean thinking tokens of each problem of one arm."""
    return pd.DataFrame({"pass": per_problem_pass_at_k(df, 1),
                         "tokens": df.groupby("problem_id")["thinking_tokens"].mean()})


def compare(arm_a: pd.DataFrame, arm_b: pd.DataFrame, *, iterations: int = 1000, seed: int = 0) -> dict:
    """The paired numbers of two arms on the problems both have (pass in %, tokens in tokens)."""
    a, b = _per_problem(arm_a), _per_problem(arm_b)
    common = a.index.intersection(b.index)
    a, b = a.loc[common], b.loc[common]
    pd_, plo, phi = paired_bootstrap(a["pass"], b["pass"], iterations=iterations, seed=seed)
    td, tlo, thi = paired_bootstrap(a["tokens"], b["tokens"], iterations=iterations, seed=seed)
    return {"problems": int(len(common)),
            "pass_a": 100 * float(a["pass"].mean()), "pass_b": 100 * float(b["pass"].mean()),
            "pass_diff": 100 * pd_, "pass_diff_low": 100 * plo, "pass_diff_high": 100 * phi,
            "tokens_a": float(a["tokens"].mean()), "tokens_b": float(b["tokens"].mean()),
            "tokens_diff": td, "tokens_diff_low": tlo, "tokens_diff_high": thi}


def _in_order(values: pd.Series) -> list:
    return list(dict.fromkeys(values))


def comparisons(samples: pd.DataFrame, *, bootstrap: int = 1000, seed: int = 0,
                main_method: str = "stw") -> pd.DataFrame:
    """Every paired comparison the results make, one row each (columns ``COLUMNS``; b minus a):

    * ``model``: each pair of models (in the order the samples list them) on a benchmark, method
      and window both ran;
    * ``window``: for each model, benchmark and method, each window against the next larger one,
      and the smallest against the largest when there are more than two;
    * ``method``: for each model, benchmark and window, each other method against ``main_method``.
    """
    rows = []

    def add(kind: str, bench: str, a: tuple, b: tuple, arm_a: pd.DataFrame, arm_b: pd.DataFrame) -> None:
        rows.append({"comparison": kind, "benchmark": bench,
                     "model_a": a[0], "method_a": a[1], "window_a": int(a[2]),
                     "model_b": b[0], "method_b": b[1], "window_b": int(b[2]),
                     **compare(arm_a, arm_b, iterations=bootstrap, seed=seed)})

    arms = {key: df for key, df in samples.groupby(["model", "benchmark", "method", "window"], sort=False)}
    models = _in_order(samples["model"])
    for (bench, method, window), _ in samples.groupby(["benchmark", "method", "window"], sort=False):
        present = [m for m in models if (m, bench, method, window) in arms]
        for ma, mb in combinations(present, 2):
            add("model", bench, (ma, method, window), (mb, method, window),
                arms[(ma, bench, method, window)], arms[(mb, bench, method, window)])
    for (model, bench, method), group in samples.groupby(["model", "benchmark", "method"], sort=False):
        ws = sorted(group["window"].unique())
        pairs = list(zip(ws[:-1], ws[1:], strict=True)) + ([(ws[0], ws[-1])] if len(ws) > 2 else [])
        for wa, wb in pairs:
            add("window", bench, (model, method, wa), (model, method, wb),
                arms[(model, bench, method, wa)], arms[(model, bench, method, wb)])
    for (model, bench, window), group in samples.groupby(["model", "benchmark", "window"], sort=False):
        if (model, bench, main_method, window) not in arms:
            continue
        for method in _in_order(group["method"]):
            if method != main_method:
                add("method", bench, (model, main_method, window), (model, method, window),
                    arms[(model, bench, main_method, window)], arms[(model, bench, method, window)])
    return pd.DataFrame(rows, columns=list(COLUMNS))


RUN_COLUMNS = ("benchmark", "model", "method", "window", *COLUMNS[COLUMNS.index("problems"):])


def between_runs(run_a: pd.DataFrame, run_b: pd.DataFrame, *, bootstrap: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Two runs of the same arms (one profile run twice with one setting changed, e.g. float32 vs
    bfloat16), compared arm by arm on the problems both graded: one row per (benchmark, model,
    method, window) the runs share, with ``compare``'s paired numbers (b minus a)."""
    keys = ["benchmark", "model", "method", "window"]
    arms_b = dict(iter(run_b.groupby(keys, sort=False)))
    rows = [{**dict(zip(keys, key, strict=True)), "window": int(key[3]),
             **compare(arm_a, arms_b[key], iterations=bootstrap, seed=seed)}
            for key, arm_a in run_a.groupby(keys, sort=True) if key in arms_b]
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def significant(table: pd.DataFrame, column: str = "pass_diff") -> pd.Series:
    """Rows whose interval for ``column`` excludes 0."""
    return (table[f"{column}_low"] > 0) | (table[f"{column}_high"] < 0)


# --------------------------------------------------------------------------- dynamic reasoning
DIFFICULTY_COLUMNS = ("benchmark", "method", "window", "model", "problems", "levels", "rho", "rho_low", "rho_high",
                      "reference_model", "rho_diff", "rho_diff_low", "rho_diff_high")


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank), as Spearman's rho needs."""
    return pd.DataFrame(x.reshape(-1, x.shape[-1])).rank(axis=1).to_numpy(dtype=float, copy=True).reshape(x.shape)


def spearman(x: Sequence[float], y: Sequence[float]) -> np.ndarray | float:
    """Spearman's rho of paired values (Pearson on average ranks); along the last axis for 2-D input.
    NaN where either side is constant or fewer than 3 pairs remain."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape[-1] < 3:
        return float("nan") if x.ndim == 1 else np.full(x.shape[:-1], np.nan)
    rx, ry = _ranks(x), _ranks(y)
    rx -= rx.mean(axis=-1, keepdims=True)
    ry -= ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=-1) * (ry * ry).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(den > 0, (rx * ry).sum(axis=-1) / np.where(den > 0, den, 1), np.nan)
    return float(rho) if rho.ndim == 0 else rho


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def difficulty_correlations(samples: pd.DataFrame, *, bootstrap: int = 1000, seed: int = 0,
                            level: float = 0.95) -> pd.DataFrame:
    """Dynamic reasoning as numbers: for each benchmark with per-problem difficulty, method, window and
    model, Spearman's rho between a problem's difficulty and its mean thinking tokens, with a percentile
    bootstrap interval over problems (columns ``DIFFICULTY_COLUMNS``). Every other model is also compared
    with the first one (``reference_model``) on the problems both have: ``rho_diff`` = its rho minus the
    reference's, with a paired interval (both rhos from the same resampled problems each iteration), so
    "the fine-tune tracks difficulty more closely" is a claim with its own interval."""
    if "difficulty" not in samples:
        return pd.DataFrame(columns=list(DIFFICULTY_COLUMNS))
    rated = samples[samples["difficulty"].notna()]
    models = _in_order(samples["model"])
    rows = []
    for (bench, method, window), group in rated.groupby(["benchmark", "method", "window"], sort=False):
        per_model = {m: g.groupby("problem_id").agg(difficulty=("difficulty", "first"), tokens=("thinking_tokens", "mean"))
                     for m, g in group.groupby("model", sort=False)}
        present = [m for m in models if m in per_model]
        reference = present[0] if present else None
        for model in present:
            t = per_model[model]
            rng = np.random.default_rng(seed)
            idx = rng.integers(0, len(t), size=(bootstrap, len(t)))
            d, k = t["difficulty"].to_numpy(), t["tokens"].to_numpy()
            lo, hi = _interval(spearman(d[idx], k[idx]), level) if len(t) >= 3 else (float("nan"), float("nan"))
            row = {"benchmark": bench, "method": method, "window": int(window), "model": model,
                   "problems": int(len(t)), "levels": int(t["difficulty"].nunique()),
                   "rho": spearman(d, k), "rho_low": lo, "rho_high": hi, "reference_model": reference,
                   "rho_diff": float("nan"), "rho_diff_low": float("nan"), "rho_diff_high": float("nan")}
            if model != reference:
                ref = per_model[reference]
                common = t.index.intersection(ref.index)
                if len(common) >= 3:
                    a, b = ref.loc[common], t.loc[common]
                    idx = np.random.default_rng(seed).integers(0, len(common), size=(bootstrap, len(common)))
                    da, ka = a["difficulty"].to_numpy(), a["tokens"].to_numpy()
                    db, kb = b["difficulty"].to_numpy(), b["tokens"].to_numpy()
                    diffs = spearman(db[idx], kb[idx]) - spearman(da[idx], ka[idx])
                    lo, hi = _interval(diffs, level)
                    row.update(rho_diff=spearman(db, kb) - spearman(da, ka), rho_diff_low=lo, rho_diff_high=hi)
            rows.append(row)
    return pd.DataFrame(rows, columns=list(DIFFICULTY_COLUMNS))
