"""Paper figures from tidy tables: one function per figure, each returning a matplotlib Figure.

Inputs are the evaluation stage's curve table (one row per model/benchmark/method/window with
`avg_thinking_tokens` and `pass_at_1`), its per-sample table (`samples.csv`: thinking tokens and
problem difficulty), the data stage's report (`metrics/data.json`) and `references/paper_reported.csv`
(the paper's points, read off its figures). Our curves have filled markers; the paper's are dashed,
gray, hollow and labelled "paper (reported)", so the two never blend, also in grayscale. Figures
for which the paper reports nothing comparable say so on the figure.

    fig = plots.test_time_scaling(curves, plots.read_paper_points(), profile="mini", models="base = ...")
    plots.save(fig, "results/mini/figures", "test_time_scaling")     # .png + .pdf

`test_time_controls` puts the test-time controls (STW corrected and as in the authors' code, R1-style
truncation, s1 budget forcing) of one model side by side; `generation_examples` shows the simple and the
complex generation that `z1.examples.pick` chose.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from z1.data import rank_correlation  # noqa: E402
from z1.examples import excerpt  # noqa: E402
from z1.labels import benchmark_label  # noqa: E402
from z1.tables import PAPER_BENCHMARK, PAPER_BENCHMARK_LABELS, STAND_INS, UNVERIFIED, figure_1b_benchmarks  # noqa: E402  (one copy, shared with the tables)

METHOD_LABELS = {"stw": "STW (corrected)", "stw_paper": "STW (authors' code)", "r1": "R1-style truncation",
                 "s1": "s1 budget forcing", "no_cap": "no cap"}
MARKERS = ["o", "s", "^", "D", "v", "P"]
LINESTYLES = ["-", "-.", ":", (0, (5, 1))]


def read_paper_points(path: str | Path = "references/paper_reported.csv") -> pd.DataFrame:
    return pd.read_csv(path)


def _style() -> None:
    sns.set_theme(style="whitegrid", context="paper", palette="colorblind")


def _footer(fig, profile: str, models: str, who: str = "models") -> None:
    fig.text(0.01, 0.005, f"profile: {profile} | {who}: {models}", fontsize=7, color="0.35", ha="left", va="bottom")


def _draw_ours(ax, df: pd.DataFrame, series: list[str]) -> None:
    for i, (label, g) in enumerate(df.groupby(series, sort=True)):
        g = g.sort_values("avg_thinking_tokens")
        name = " / ".join(label) if isinstance(label, tuple) else str(label)
        (line,) = ax.plot(g["avg_thinking_tokens"], g["pass_at_1"], marker=MARKERS[i % len(MARKERS)],
                          linestyle=LINESTYLES[i % len(LINESTYLES)], linewidth=1.6, label=name)
        if {"ci_low", "ci_high"} <= set(g.columns):  # the band in its curve's colour
            ax.fill_between(g["avg_thinking_tokens"], g["ci_low"], g["ci_high"], alpha=0.12, color=line.get_color())


def _draw_paper(ax, paper: pd.DataFrame, note: str = "") -> None:
    """The paper's points per model: dashed gray, hollow markers; rows whose `status` is unverified
    (only in a secondary summary) drawn as crosses and labelled so."""
    for i, (model, g) in enumerate(paper.groupby("model", sort=True)):
        g = g.sort_values("avg_thinking_tokens")
        ax.plot(g["avg_thinking_tokens"], g["pass_at_1"], linestyle="--", color="0.45",
                marker=MARKERS[(i + 3) % len(MARKERS)], markerfacecolor="white", markersize=5,
                linewidth=1.0, label=f"paper (reported): {model}{note}")
        shaky = g[g["status"] == UNVERIFIED] if "status" in g else g.iloc[:0]
        if not shaky.empty:
            ax.scatter(shaky["avg_thinking_tokens"], shaky["pass_at_1"], marker="x", color="0.2", s=40, zorder=6,
                       label=f"paper (unverified: secondary summary only): {model}")


def _scaling_panels(rows: pd.DataFrame, paper: pd.DataFrame | None, series: list[str], *,
                    paper_models: list[str] | None = None, paper_note: str = ""):
    """One panel per benchmark: pass@1 against average thinking tokens, one curve per `series` group,
    the paper's test-time-scaling points (of `paper_models`, default all) for the panel's paper
    benchmark, log2 x-axis."""
    benches = list(dict.fromkeys(rows["benchmark"]))
    fig, axes = plt.subplots(1, len(benches), figsize=(4.2 * len(benches), 3.8), squeeze=False)
    for ax, bench in zip(axes[0], benches, strict=True):
        sub = rows[rows["benchmark"] == bench]
        _draw_ours(ax, sub, series)
        ref = PAPER_BENCHMARK.get(bench)
        if paper is not None and ref is not None:
            reported = paper[(paper["figure"] == "test_time_scaling") & (paper["benchmark"] == ref)]
            if paper_models is not None:
                reported = reported[reported["model"].isin(paper_models)]
            _draw_paper(ax, reported, note=paper_note)
        label = sub["benchmark_label"].iloc[0] if "benchmark_label" in sub else bench
        ax.set_title(label if len(label) < 40 else label.replace(" (", "\n("), fontsize=9)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("average thinking tokens (log2)")
        ax.set_ylabel("pass@1 (%)")
        ax.legend(fontsize=6.5, loc="best")
    return fig


def test_time_scaling(curves: pd.DataFrame, paper: pd.DataFrame | None, *, profile: str, models: str):
    """pass@1 against average thinking tokens across windows, one panel per benchmark (log2 x-axis)."""
    _style()
    fig = _scaling_panels(curves, paper, ["model", "method"])
    fig.suptitle("Test-time scaling with the shifted thinking window", fontsize=11)
    _footer(fig, profile, models)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def test_time_controls(curves: pd.DataFrame, paper: pd.DataFrame | None, *, model: str, profile: str, models: str):
    """The test-time controls run on one model, one curve per method (pass@1 against average thinking
    tokens across windows, log2 x-axis), one panel per benchmark. The paper reports test-time scaling
    for STW only, so its Z1-7B points are overlaid as such and the figure says it compares no other control."""
    _style()
    rows = curves[curves["model"] == model]
    if rows.empty:
        raise ValueError(f"no curves of model {model!r}; models present: {sorted(curves['model'].unique().tolist())}")
    rows = rows.assign(method=rows["method"].map(method_label))
    fig = _scaling_panels(rows, paper, ["method"], paper_models=["Z1-7B"], paper_note=" (STW only)")
    fig.suptitle(f"Test-time controls on {model}", fontsize=11)
    fig.text(0.99, 0.005, "paper: reports test-time scaling for STW only and compares no other test-time control",
             fontsize=6.5, color="0.35", ha="right", va="bottom")
    _footer(fig, profile, models)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def average_curve(curves: pd.DataFrame) -> pd.DataFrame:
    """Figure 1b's data: per model/method/window, pass@1 and thinking tokens averaged over the paper's
    three benchmarks (LiveCodeBench v5 on the authors' date window, GPQA Diamond, MATH500), each once:
    ``tables.figure_1b_benchmarks`` picks which of ours stands for each (the full LiveCodeBench row,
    BigCodeBench and any other benchmark are left out). Only model/method/window groups that have every
    chosen benchmark are kept, so no point averages fewer benchmarks than another."""
    chosen = figure_1b_benchmarks(curves["benchmark"].unique())
    if not chosen:
        raise ValueError(f"none of the paper's Figure 1b benchmarks in the curves; present: "
                         f"{sorted(curves['benchmark'].unique().tolist())}")
    rows = curves[curves["benchmark"].isin(chosen.values())]
    keys = ["model", "method", "window"]
    avg = (rows.groupby(keys, as_index=False)
           .agg(pass_at_1=("pass_at_1", "mean"), avg_thinking_tokens=("avg_thinking_tokens", "mean"),
                benchmarks=("benchmark", "nunique")))
    return avg[avg["benchmarks"] == len(chosen)].reset_index(drop=True)


def figure_1b_caption(curves: pd.DataFrame) -> str:
    """Which benchmarks Figure 1b averages (ours -> the paper's), and which of the paper's three are missing."""
    chosen = figure_1b_benchmarks(curves["benchmark"].unique())
    used = ", ".join(f"{PAPER_BENCHMARK_LABELS[p]} <- {ours}" + (" (offline stand-in)" if ours in STAND_INS else "")
                     for p, ours in chosen.items())
    missing = [PAPER_BENCHMARK_LABELS[p] for p in PAPER_BENCHMARK_LABELS if p not in chosen]
    return f"average over the paper's three benchmarks, once each: {used}" + (
        f"; missing here: {', '.join(missing)}" if missing else "")


def figure_1b(curves: pd.DataFrame, paper: pd.DataFrame | None, *, profile: str, models: str, main_window: int):
    """Average pass@1 over the paper's three benchmarks against average thinking tokens; the main window marked."""
    _style()
    avg = average_curve(curves)
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
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
    fig.text(0.01, 0.035, figure_1b_caption(curves), fontsize=6.3, color="0.35", ha="left", va="bottom", wrap=True)
    _footer(fig, profile, models)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def thinking_vs_difficulty(samples: pd.DataFrame, *, window: int, profile: str, models: str,
                           correlations: pd.DataFrame | None = None):
    """Thinking tokens against problem difficulty per model at one window (the paper's "dynamic
    reasoning": a model that adapts thinks longer on harder problems), one panel per benchmark that
    has per-problem difficulty; mean and standard error per level, Spearman's rho in the legend: with
    its bootstrap interval, and each later model's paired change against the first, when
    ``correlations`` (``z1.paired.difficulty_correlations``, the evaluation stage's difficulty.csv) has
    the row; else rho over samples alone. Benchmarks without difficulty are left out and named in a
    note on the figure."""
    _style()
    rows = samples[samples["window"] == int(window)]
    if rows.empty:
        raise ValueError(f"no samples at window {window}; windows present: {sorted(samples['window'].unique().tolist())}")
    if "difficulty" not in rows:
        rows = rows.assign(difficulty=float("nan"))
    has = rows.groupby("benchmark", sort=True)["difficulty"].apply(lambda d: d.notna().any())
    benches, left_out = list(has[has].index), list(has[~has].index)
    left = f"left out (no per-problem difficulty): {', '.join(left_out)}" if left_out else ""
    paper_note = "paper: no comparable points reported"
    note = "; ".join(filter(None, (left, paper_note)))
    if not benches:
        fig, ax = plt.subplots(figsize=(6.0, 2.4))
        ax.axis("off")
        ax.text(0.5, 0.55, f"No benchmark of this run has per-problem difficulty (W = {window}).\n{left}\n{paper_note}",
                ha="center", va="center", fontsize=9)
        ax.set_title("Thinking tokens vs problem difficulty", fontsize=10)
        _footer(fig, profile, models)
        return fig
    fig, axes = plt.subplots(1, len(benches), figsize=(4.6 * len(benches), 3.9), squeeze=False)
    model_names = list(dict.fromkeys(rows["model"]))
    for ax, bench in zip(axes[0], benches, strict=True):
        sub = rows[(rows["benchmark"] == bench) & rows["difficulty"].notna()]
        levels = sorted(sub["difficulty"].unique())
        for i, model in enumerate(model_names):
            g = sub[sub["model"] == model]
            if g.empty:
                continue
            stats = g.groupby("difficulty")["thinking_tokens"].agg(["mean", "sem"]).reindex(levels).dropna(subset=["mean"])
            offset = 0.06 * (i - (len(model_names) - 1) / 2)  # side by side, so error bars stay apart
            ax.errorbar(stats.index + offset, stats["mean"], yerr=stats["sem"].fillna(0), capsize=3,
                        marker=MARKERS[i % len(MARKERS)], linestyle=LINESTYLES[i % len(LINESTYLES)], linewidth=1.6,
                        label=_rho_label(model, g, correlations, bench=bench, window=window))
        ax.axhline(window, color="0.5", linestyle=":", linewidth=1.0, label=f"thinking window W = {window}")
        stand_in = sub["stand_in_for"].dropna().astype(str) if "stand_in_for" in sub else pd.Series(dtype=str)
        label = benchmark_label(bench, stand_in.iloc[0] if len(stand_in) else "")
        ax.set_title(label if len(label) < 40 else label.replace(" (", "\n("), fontsize=9)
        ax.set_xticks(levels)
        ax.set_xlabel("problem difficulty (benchmark level)")
        ax.set_ylabel("thinking tokens per sample (tokens)")
        ax.legend(fontsize=6.5, loc="best")
    fig.suptitle(f"Thinking tokens vs problem difficulty (W = {window})", fontsize=11)
    fig.text(0.01, 0.04, note, fontsize=6.5, color="0.35", ha="left", va="bottom")  # above the footer:
    _footer(fig, profile, models)                                                 # one panel is narrow
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _rho_label(model: str, rows: pd.DataFrame, correlations: pd.DataFrame | None, *, bench: str, window: int) -> str:
    """A model's legend entry in the thinking-vs-difficulty figure: rho [interval] over problems and,
    for a later model, its paired change against the first; rho over samples when no table row fits."""
    def signed(v) -> str:
        return "n/a" if v is None or v != v else f"{v:+.2f}"

    if correlations is not None and not correlations.empty:
        match = correlations[(correlations["benchmark"] == bench) & (correlations["window"] == int(window))
                             & (correlations["model"] == model) & correlations["method"].isin(rows["method"].unique())]
        if len(match):
            r = match.iloc[0]
            label = f"{model}: rho {signed(r['rho'])} [{signed(r['rho_low'])}, {signed(r['rho_high'])}], {int(r['problems'])} problems"
            if r["reference_model"] != model and r["rho_diff"] == r["rho_diff"]:
                label += (f"\n  vs {r['reference_model']}: {signed(r['rho_diff'])} "
                          f"[{signed(r['rho_diff_low'])}, {signed(r['rho_diff_high'])}] (paired)")
            return label
    corr = rank_correlation(rows, "difficulty", "thinking_tokens")
    return f"{model} (Spearman rho {signed(corr['spearman_rho'])}, n = {corr['n']})"


SELECT_MODE_LABELS = {"length": "longest-first\n(mode length)", "sample": "shortest-first\n(mode sample)"}


def token_matched_subsets(section: dict, *, profile: str, teacher: str):
    """The data report's `token_matched_subsets`: tokens and rows that the longest-first and the
    shortest-first selection keep at the same token budget (the paper's data ablation; its numbers
    are not recovered, so there is no paper overlay)."""
    _style()
    subsets = pd.DataFrame(section["subsets"])
    labels = [SELECT_MODE_LABELS.get(m, m) for m in subsets["mode"]]
    hatches = [("//", "..", "xx")[i % 3] for i in range(len(subsets))]  # tells the bars apart in grayscale
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.2))
    for ax, column, ylabel in ((axes[0], "tokens", "tokens selected (Qwen2.5 tokens)"),
                               (axes[1], "rows", "trajectories selected (rows)")):
        bars = ax.bar(labels, subsets[column], width=0.55, edgecolor="black",
                      color=sns.color_palette()[:len(subsets)], hatch=hatches)
        ax.bar_label(bars, labels=[f"{v:,}" for v in subsets[column]], fontsize=7, padding=2)
        ax.set_ylabel(ylabel)
        ax.margins(y=0.35)  # room for the legend above the bars
    axes[0].axhline(section["token_budget"], color="0.3", linestyle="--", linewidth=1.0,
                    label=f"token budget {section['token_budget']:,}")
    axes[0].legend(fontsize=7, loc="upper center", framealpha=0.95)
    fig.suptitle("Token-matched subsets at equal token budget", fontsize=11)
    fig.text(0.99, 0.005, f"budget: {section.get('budget_from', '')}; paper: ablation numbers not recovered",
             fontsize=6.5, color="0.35", ha="right", va="bottom")
    _footer(fig, profile, teacher, who="teacher")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def generation_examples(examples: pd.DataFrame, *, profile: str, models: str,
                        width: int = 78, question_lines: int = 10, trajectory_lines: int = 48):
    """`examples.pick`'s two generations side by side (simple | complex): question and trajectory in
    monospace, wrapped at `width` and cut with a "… (N more lines)" marker; titled with the thinking
    tokens and the verdict."""
    _style()
    by_kind = examples.set_index("kind")
    missing = [k for k in ("simple", "complex") if k not in by_kind.index]
    if missing:
        raise ValueError(f"examples lack {missing}; kinds present: {list(by_kind.index)}")
    bodies = {}
    for kind in ("simple", "complex"):
        ex = by_kind.loc[kind]
        bodies[kind] = (f"question:\n{excerpt(ex['question'], width=width, max_lines=question_lines)}\n\n"
                        "trajectory (thinking, hint, answer):\n"
                        f"{excerpt(ex['trajectory'], width=width, max_lines=trajectory_lines)}")
    lines = max(b.count("\n") + 1 for b in bodies.values())
    fig, axes = plt.subplots(1, 2, figsize=(13.0, max(3.0, 1.3 + 0.11 * lines)))  # as tall as the text
    for ax, kind in zip(axes, ("simple", "complex"), strict=True):
        ex = by_kind.loc[kind]
        ax.axis("off")
        # parse_math=False: MATH500 trajectories are full of $...$, which is text here, not mathtext
        ax.text(0.0, 1.0, bodies[kind], transform=ax.transAxes, ha="left", va="top", family="monospace",
                fontsize=6.3, parse_math=False)
        verdict = "correct" if ex["correct"] else "incorrect"
        window = "hit the window" if ex["window_hit"] else "finished inside the window"
        ax.set_title(f"{kind}: {int(ex['thinking_tokens'])} thinking tokens, {verdict}\n"
                     f"{ex['problem_id']} ({window})", fontsize=9, loc="left")
    fig.suptitle("Simple vs complex generations", fontsize=11)
    _footer(fig, profile, models)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def paired_rows(table: pd.DataFrame, *, main_method: str, main_window: int) -> pd.DataFrame:
    """The comparisons the paired-differences figure draws, labelled: models against each other (main
    method, every window), each arm's smallest against its largest window (main method), and the
    other methods against the main one (main window)."""
    t = table.copy()
    spans = t[t.comparison == "window"].groupby(["model_a", "benchmark", "method_a"])
    widest = spans.apply(lambda g: g.assign(span=g.window_b - g.window_a).nlargest(1, "span"), include_groups=False)
    keep = pd.concat([
        t[(t.comparison == "model") & (t.method_a == main_method)],
        widest.reset_index(level=[0, 1, 2]).query("method_a == @main_method").drop(columns="span"),
        t[(t.comparison == "method") & (t.window_a == main_window)],
    ], ignore_index=True)
    label = {"model": lambda r: f"{r.model_b} − {r.model_a}, W={r.window_a}",
             "window": lambda r: f"{r.model_a}: W {r.window_a} → {r.window_b}",
             "method": lambda r: f"{r.model_a}: {method_label(r.method_b)} − {method_label(r.method_a)}"}
    keep["label"] = [f"{r.benchmark} · {label[r.comparison](r)}" for r in keep.itertuples()]
    return keep


def paired_differences(table: pd.DataFrame, *, main_method: str, main_window: int, profile: str, models: str):
    """Forest plot of paired differences (b minus a on the same problems, 95 % bootstrap interval):
    pass@1 points on the left, thinking tokens on the right; an interval that excludes 0 is drawn dark."""
    _style()
    rows = paired_rows(table, main_method=main_method, main_window=main_window)
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.32 * len(rows) + 1.6), sharey=True)
    y = range(len(rows))[::-1]
    for ax, col, unit in ((axes[0], "pass_diff", "pass@1 difference (points)"),
                          (axes[1], "tokens_diff", "thinking-token difference")):
        sig = (rows[f"{col}_low"] > 0) | (rows[f"{col}_high"] < 0)
        for yi, (_, r), s in zip(y, rows.iterrows(), sig, strict=True):
            colour = "0.15" if s else "0.65"
            ax.plot([r[f"{col}_low"], r[f"{col}_high"]], [yi, yi], color=colour, linewidth=2)
            ax.plot([r[col]], [yi], marker="o", color=colour, markersize=4)
        ax.axvline(0, color="tab:red", linewidth=0.8)
        ax.set_xlabel(unit)
    axes[0].set_yticks(list(y), rows["label"], fontsize=7)
    n = int(rows["problems"].min()) if len(rows) else 0
    fig.suptitle(f"Paired differences on the same problems (≥ {n} per comparison; dark: 95 % interval excludes 0)",
                 fontsize=10)
    _footer(fig, profile, models)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def save(fig, out_dir: str | Path, name: str, data: pd.DataFrame | None = None) -> list[Path]:
    """Save as PNG (for the README) and PDF (for papers); with ``data``, also the numbers drawn as
    ``<name>.csv`` (results as data first: e.g. Figure 1b's averages)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    if data is not None:
        paths.append(out_dir / f"{name}.csv")
        data.to_csv(paths[2], index=False, float_format="%.4f")
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})  # reproducible bytes
    plt.close(fig)
    return paths
