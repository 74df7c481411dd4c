"""Paper figures from tidy tables: one function per figure, each returning a matplotlib Figure.

Inputs are the evaluation stage's curve table (one row per model/benchmark/method/window with
`avg_thinking_tokens` and `pass_at_1`) and `references/paper_reported.csv` (the paper's points,
read off its figures). Our curves are solid with filled markers; the paper's are dashed, hollow
and labelled "paper (reported)", so the two never blend, also in grayscale.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

# Which of the paper's benchmarks each of ours is compared with (offline stand-ins included).
PAPER_BENCHMARK = {
    "humaneval": "livecodebench_v5",
    "livecodebench_v5": "livecodebench_v5",
    "gpqa_diamond": "gpqa_diamond",
    "math500": "math500",
}
MARKERS = ["o", "s", "^", "D", "v", "P"]
LINESTYLES = ["-", "-.", ":", (0, (5, 1))]


def read_paper_points(path: str | Path = "references/paper_reported.csv") -> pd.DataFrame:
    return pd.read_csv(path)


def _style() -> None:
    sns.set_theme(style="whitegrid", context="paper", palette="colorblind")


def _footer(fig, profile: str, models: str) -> None:
    fig.text(0.01, 0.005, f"profile: {profile} | models: {models}", fontsize=7, color="0.35", ha="left", va="bottom")


def _draw_ours(ax, df: pd.DataFrame, series: list[str]) -> None:
    for i, (label, g) in enumerate(df.groupby(series, sort=True)):
        g = g.sort_values("avg_thinking_tokens")
        name = " / ".join(label) if isinstance(label, tuple) else str(label)
        ax.plot(g["avg_thinking_tokens"], g["pass_at_1"], marker=MARKERS[i % len(MARKERS)],
                linestyle=LINESTYLES[i % len(LINESTYLES)], linewidth=1.6, label=name)
        if {"ci_low", "ci_high"} <= set(g.columns):
            ax.fill_between(g["avg_thinking_tokens"], g["ci_low"], g["ci_high"], alpha=0.12)


def _draw_paper(ax, paper: pd.DataFrame) -> None:
    for i, (model, g) in enumerate(paper.groupby("model", sort=True)):
        g = g.sort_values("avg_thinking_tokens")
        ax.plot(g["avg_thinking_tokens"], g["pass_at_1"], linestyle="--", color="0.45",
                marker=MARKERS[(i + 3) % len(MARKERS)], markerfacecolor="white", markersize=5,
                linewidth=1.0, label=f"paper (reported): {model}")


def test_time_scaling(curves: pd.DataFrame, paper: pd.DataFrame | None, *, profile: str, models: str):
    """pass@1 against average thinking tokens across windows, one panel per benchmark (log2 x-axis)."""
    _style()
    benches = list(dict.fromkeys(curves["benchmark"]))
    fig, axes = plt.subplots(1, len(benches), figsize=(4.2 * len(benches), 3.8), squeeze=False)
    for ax, bench in zip(axes[0], benches, strict=True):
        sub = curves[curves["benchmark"] == bench]
        _draw_ours(ax, sub, ["model", "method"])
        ref = PAPER_BENCHMARK.get(bench)
        if paper is not None and ref is not None:
            _draw_paper(ax, paper[(paper["figure"] == "test_time_scaling") & (paper["benchmark"] == ref)])
        label = sub["benchmark_label"].iloc[0] if "benchmark_label" in sub else bench
        ax.set_title(label if len(label) < 40 else label.replace(" (", "\n("), fontsize=9)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("average thinking tokens (log2)")
        ax.set_ylabel("pass@1 (%)")
        ax.legend(fontsize=6.5, loc="best")
    fig.suptitle("Test-time scaling with the shifted thinking window", fontsize=11)
    _footer(fig, profile, models)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def average_curve(curves: pd.DataFrame) -> pd.DataFrame:
    """Figure 1b's data: per model/method/window, pass@1 and thinking tokens averaged over benchmarks."""
    keys = ["model", "method", "window"]
    return (curves.groupby(keys, as_index=False)
            .agg(pass_at_1=("pass_at_1", "mean"), avg_thinking_tokens=("avg_thinking_tokens", "mean"),
                 benchmarks=("benchmark", "nunique")))


def figure_1b(curves: pd.DataFrame, paper: pd.DataFrame | None, *, profile: str, models: str, main_window: int):
    """Average pass@1 over the benchmarks against average thinking tokens; the main window marked."""
    _style()
    avg = average_curve(curves)
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    _draw_ours(ax, avg, ["model", "method"])
    main = avg[avg["window"] == main_window]
    ax.scatter(main["avg_thinking_tokens"], main["pass_at_1"], s=140, facecolors="none", edgecolors="black",
               linewidths=1.4, zorder=5, label=f"main setting (W = {main_window})")
    if paper is not None:
        _draw_paper(ax, paper[paper["figure"] == "figure_1b"])
    ax.set_xscale("log", base=2)
    ax.set_xlabel("average thinking tokens (log2)")
    ax.set_ylabel("average pass@1 over benchmarks (%)")
    ax.set_title("Figure 1b: accuracy vs thinking tokens", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    _footer(fig, profile, models)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def save(fig, out_dir: str | Path, name: str) -> list[Path]:
    """Save as PNG (for the README) and PDF (for papers)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})  # reproducible bytes
    plt.close(fig)
    return paths
