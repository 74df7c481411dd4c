"""Figures and tables of stage 01 (data construction), drawn from the dataset and its report only.

    fig = data_figures.length_distribution(trajectories, profile="mini", teacher="qwen2.5-coder-0.5b-instruct")
    plots.save(fig, "results/mini/data", "length_distribution")   # .png + .pdf (z1.plots.save)

Every figure carries a footer naming the profile and the teacher that produced it. The paper's
reference values (about 3 % repetitive trajectories removed, fewer than 1 % of kept ones truncated)
come from the data report (`paper_repetitive_rate`, `paper_truncated_rate_max`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from z1 import data


def _style() -> None:
    sns.set_theme(style="whitegrid", context="paper", palette="colorblind")


def _footer(fig, profile: str, teacher: str) -> None:
    fig.text(0.01, 0.005, f"profile: {profile} | teacher: {teacher}", fontsize=7, color="0.35", ha="left", va="bottom")


def length_distribution(trajectories: pd.DataFrame, *, profile: str, teacher: str):
    """Histogram of `token_num_qwen` per reasoning level (every trajectory the teacher wrote)."""
    _style()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    hue = "reasoning_level" if trajectories["reasoning_level"].notna().any() else None
    sns.histplot(trajectories, x="token_num_qwen", hue=hue, element="step", ax=ax)
    ax.set_xlabel("trajectory length (Qwen2.5 tokens)")
    ax.set_title("Trajectory length by reasoning level", fontsize=10)
    _footer(fig, profile, teacher)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def length_vs_difficulty(dataset: pd.DataFrame, *, profile: str, teacher: str):
    """Kept trajectory length against problem difficulty, with Spearman's rho in the title."""
    _style()
    corr = data.rank_correlation(dataset, "difficulty", "token_num_qwen")
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    shown = dataset.dropna(subset=["difficulty"])
    if len(shown):  # seaborn jitters with numpy's global generator: seeded here, so the figure is reproducible
        state = np.random.get_state()
        np.random.seed(0)
        try:
            sns.stripplot(shown, x="difficulty", y="token_num_qwen", hue="reasoning_level", ax=ax, size=6)
        finally:
            np.random.set_state(state)
    rho = "n/a" if corr["spearman_rho"] is None else f"{corr['spearman_rho']:+.2f}"
    ax.set_title(f"Length vs difficulty (dynamic reasoning): Spearman rho {rho}, n = {corr['n']}", fontsize=10)
    ax.set_ylabel("kept trajectory length (tokens)")
    _footer(fig, profile, teacher)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def rates_table(report: Mapping) -> pd.DataFrame:
    """Repetitive and truncated rates of this run beside the paper's (NaN where the run has none:
    the released dataset is not filtered again)."""
    return pd.DataFrame([
        {"rate": "repetitive trajectories", "ours": report.get("repetitive_rate", math.nan),
         "paper": report.get("paper_repetitive_rate", 0.03), "paper_says": "about 3 % removed"},
        {"rate": "truncated (kept rows)", "ours": report.get("truncated_rate", math.nan),
         "paper": report.get("paper_truncated_rate_max", 0.01), "paper_says": "fewer than 1 %"},
    ])


def rates_vs_paper(report: Mapping, *, profile: str, teacher: str):
    """Bar chart of :func:`rates_table`: ours as bars, the paper's value as a dashed mark on each."""
    _style()
    table = rates_table(report)
    fig, ax = plt.subplots(figsize=(5.0, 3.0))
    x = range(len(table))
    ax.bar(x, 100 * table["ours"], width=0.5, label="this run")
    ax.hlines(100 * table["paper"], [i - 0.3 for i in x], [i + 0.3 for i in x], colors="0.3", linestyles="--",
              label="paper (reported)")
    for i, (ours, paper_says) in enumerate(zip(table["ours"], table["paper_says"], strict=True)):
        label = "n/a" if math.isnan(ours) else f"{100 * ours:.1f} %"
        ax.annotate(f"{label}\n(paper: {paper_says})", (i, 100 * (0 if math.isnan(ours) else ours)),
                    ha="center", va="bottom", fontsize=7, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(list(x), table["rate"])
    ax.margins(y=0.2)
    ax.set_ylabel("% of trajectories")
    ax.set_title("Filter and truncation rates", fontsize=10)
    ax.legend(fontsize=7)
    _footer(fig, profile, teacher)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def contamination_table(report: Mapping) -> pd.DataFrame:
    """Contaminated problems per benchmark (counts and training ids; never benchmark text)."""
    section = report.get("decontamination") or {"benchmarks": {}}
    return pd.DataFrame([
        {"benchmark": name, "problems_indexed": b["problems_indexed"], "too_short": b["too_short"],
         "contaminated": b["contaminated"], "ids": ", ".join(b["ids"])}
        for name, b in section["benchmarks"].items()
    ], columns=["benchmark", "problems_indexed", "too_short", "contaminated", "ids"])


def simple_vs_complex(dataset: pd.DataFrame, *, exclude: Collection[str] = (), max_chars: int = 1200) -> list[dict]:
    """The shortest and the longest kept rows (the paper's "simple vs complex" illustration), texts
    cut at `max_chars`; rows whose `source_id` (or `id`) is in `exclude` are never shown."""
    key = "source_id" if dataset["source_id"].notna().all() else "id"
    rows = dataset[~dataset[key].isin(set(exclude))].sort_values("token_num_qwen", kind="stable")
    if rows.empty:
        return []
    picked = [rows.iloc[0]] if len(rows) == 1 else [rows.iloc[0], rows.iloc[-1]]
    return [{"example": label, "id": r["id"], "difficulty": r["difficulty"], "reasoning_level": r["reasoning_level"],
             "token_num_qwen": int(r["token_num_qwen"]), "question": _cut(r["question"], max_chars),
             "response": _cut(r["response"], max_chars)}
            for label, r in zip(("simple (shortest)", "complex (longest)"), picked, strict=False)]


def _cut(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[:max_chars] + f" [... {len(text) - max_chars} more characters]"
