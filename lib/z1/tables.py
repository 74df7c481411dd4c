"""The main table: pass@1 with its 95 % CI and average thinking tokens per model and benchmark at the
profile's main window, taken number for number from the evaluation stage's metrics file.

    doc = json.loads(Path("results/mini/metrics/evaluation.json").read_text())
    table = tables.main_table(tables.metrics_rows(doc), main_window=256)
    tables.save(table, "results/mini/tables", "main_table", profile="mini", models="base = ...")
        -> main_table.csv (the numbers, unchanged) and main_table.md (the same numbers, for reading)

The Markdown shows pass@1 and its interval with 2 decimals and thinking tokens with 1, the precision
`metrics/evaluation.json` stores, so no number in either file differs from the metrics file.

The paper's own main-table numbers (rows of `references/paper_reported.csv` with figure == "main_table",
its 7B models on the full benchmarks) can sit beside ours, for reference only, in separate `paper_*`
columns:

    table = tables.with_paper(table, plots.read_paper_points())   # paper_model, paper_pass_at_1, ...
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from z1.labels import LCB_PAPER_WINDOW, benchmark_label

NUMBERS = ("problems", "pass_at_1", "ci_low", "ci_high", "avg_thinking_tokens")
COLUMNS = ("model", "benchmark", "benchmark_label", "method", "window", *NUMBERS)
PAPER_COLUMNS = ("paper_model", "paper_benchmark", "paper_pass_at_1", "paper_avg_thinking_tokens")
# with_paper also adds `paper_status`, the `status` of references/paper_reported.csv: verified (in the
# paper's text), figure (read off the authors' figure), unverified (found only in a secondary summary),
# printed and drawn as such.
UNVERIFIED = "unverified"

# Which of the paper's benchmarks each of ours is compared with (offline stand-ins included). The
# paper's LiveCodeBench numbers are scored on contest_date >= 2024-09-01 (the authors' test.sh), so only
# that window carries them; `livecodebench_v5` (all of release_v5) is our extra row, compared with nothing.
PAPER_BENCHMARK = {
    "humaneval": "livecodebench_v5",
    LCB_PAPER_WINDOW: "livecodebench_v5",
    "gpqa_diamond": "gpqa_diamond",
    "math500": "math500",
}
STAND_INS = {"humaneval"}  # offline benchmarks that stand in for one of the paper's
# Figure 1b averages exactly these three of the paper's benchmarks, each once: per paper benchmark, the
# first of our benchmarks listed that a run has (the real one before its offline stand-in).
FIGURE_1B = {
    "livecodebench_v5": (LCB_PAPER_WINDOW, "humaneval"),
    "gpqa_diamond": ("gpqa_diamond",),
    "math500": ("math500",),
}
# Which of the paper's models each of our model keys is compared with (sft is our Z1 stand-in).
PAPER_MODEL = {"z1": "Z1-7B", "sft": "Z1-7B", "base": "Qwen2.5-Coder-7B-Instruct", "r1_distill": "R1-Distill-Qwen-7B"}
PAPER_BENCHMARK_LABELS = {"livecodebench_v5": "LiveCodeBench v5", "gpqa_diamond": "GPQA Diamond", "math500": "MATH500"}


def metrics_rows(doc: Mapping) -> pd.DataFrame:
    """evaluation.json's nested results (model -> benchmark -> method -> w<window> -> numbers) as one
    tidy row per model/benchmark/method/window, with the benchmark's label (stand-ins named)."""
    stand_ins = {b: v.get("stand_in_for") or "" for b, v in doc.get("provenance", {}).get("benchmarks", {}).items()}
    rows = []
    for model, benches in doc["results"].items():
        for bench, methods in benches.items():
            for method, windows in methods.items():
                for key, leaf in windows.items():
                    rows.append({"model": model, "benchmark": bench,
                                 "benchmark_label": benchmark_label(bench, stand_ins.get(bench, "")),
                                 "method": method, "window": int(key.removeprefix("w")), **leaf})
    return pd.DataFrame(rows)


def figure_1b_benchmarks(benchmarks) -> dict[str, str]:
    """Paper benchmark -> the one of ``benchmarks`` that stands for it in Figure 1b (see FIGURE_1B)."""
    present = set(benchmarks)
    return {paper: next(b for b in ours if b in present)
            for paper, ours in FIGURE_1B.items() if any(b in present for b in ours)}


def main_method_rows(rows: pd.DataFrame, main_method: str, model_methods: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The rows of each model's main method: ``model_methods[model]`` where given (the paper's
    R1-Distill baseline is R1-style truncation), else ``main_method``."""
    chosen = rows["model"].map(lambda m: (model_methods or {}).get(m, main_method))
    return rows[rows["method"] == chosen]


def main_table(tidy: pd.DataFrame, main_window: int) -> pd.DataFrame:
    """The rows of `tidy` at `main_window`, in the file's order, with the columns of COLUMNS."""
    rows = tidy[tidy["window"] == int(main_window)]
    if rows.empty:
        raise ValueError(f"no results at the main window {main_window}; windows present: "
                         f"{sorted(tidy['window'].unique().tolist())}")
    if "benchmark_label" not in rows:
        rows = rows.assign(benchmark_label=rows["benchmark"])
    return rows.loc[:, list(COLUMNS)].reset_index(drop=True)


def with_paper(table: pd.DataFrame, paper_points: pd.DataFrame) -> pd.DataFrame:
    """`table` with PAPER_COLUMNS and `paper_status` added: the paper's model and benchmark that each row is compared with
    (PAPER_MODEL, PAPER_BENCHMARK) and that pair's numbers from the paper rows with figure ==
    "main_table"; NaN where the paper reports nothing. Our columns are left as they are."""
    reported = paper_points[paper_points["figure"] == "main_table"]
    twice = reported[reported.duplicated(["model", "benchmark"], keep=False)]
    if not twice.empty:
        raise ValueError("the paper's main table has more than one row for "
                         f"{sorted(set(zip(twice['model'], twice['benchmark'], strict=True)))}")
    reported = reported.set_index(["model", "benchmark"])
    out = table.assign(paper_model=table["model"].map(PAPER_MODEL),
                       paper_benchmark=table["benchmark"].map(PAPER_BENCHMARK))
    keys = list(zip(out["paper_model"], out["paper_benchmark"], strict=True))
    for column in ("pass_at_1", "avg_thinking_tokens"):
        numbers = reported[column] if column in reported else pd.Series(dtype=float)
        out[f"paper_{column}"] = [float(numbers.get(key, float("nan"))) for key in keys]
    status = reported["status"] if "status" in reported else pd.Series(dtype=object)
    out["paper_status"] = [status.get(key, None) if key in reported.index else None for key in keys]
    return out


def _paper_cell(row) -> str:
    if pd.isna(row["paper_pass_at_1"]):
        return "–"
    bench = PAPER_BENCHMARK_LABELS.get(row["paper_benchmark"], row["paper_benchmark"])
    return f"{row['paper_pass_at_1']:g} ({row['paper_model']} on {bench}{_unverified(row)})"


def _unverified(row) -> str:
    return "; unverified: a secondary summary only" if row.get("paper_status") == UNVERIFIED else ""


def to_markdown(table: pd.DataFrame, *, profile: str, models: str, title: str = "Main table") -> str:
    """A caption naming the profile, window and models, then the table (numbers as stored); with the
    columns of `with_paper`, also the paper's reported pass@1 ("–" where it reports none)."""
    shown = pd.DataFrame({
        "model": table["model"],
        "benchmark": table["benchmark_label"],
        "method": table["method"],
        "problems": table["problems"].astype(int),
        "pass@1 (%)": table["pass_at_1"].map("{:.2f}".format),
        "95 % CI (%)": [f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(table["ci_low"], table["ci_high"], strict=True)],
        "avg thinking tokens": table["avg_thinking_tokens"].map("{:.1f}".format),
    })
    windows = ", ".join(str(w) for w in dict.fromkeys(table["window"]))
    caption = (f"{title} (profile: {profile}; thinking window W = {windows}; models: {models}). "
               "pass@1 over problems with a 95 % bootstrap CI; thinking tokens averaged over samples.")
    align = ("left", "left", "left", "right", "right", "right", "right")
    if set(PAPER_COLUMNS) <= set(table.columns):
        shown["paper (reported) pass@1 (%)"] = [_paper_cell(row) for _, row in table.iterrows()]
        caption += (" The paper (reported) column is the Z1 paper's own number for its 7B models on the full"
                    " benchmarks (main_table rows of references/paper_reported.csv), for reference only: where"
                    " our models are smaller or our benchmarks are slices or stand-ins, it is not our number."
                    " A number marked unverified was found only in a secondary summary of the paper.")
        align += ("right",)
    return caption + "\n\n" + shown.to_markdown(index=False, disable_numparse=True, colalign=align) + "\n"


def save(table: pd.DataFrame, out_dir: str | Path, name: str, *, profile: str, models: str,
         title: str = "Main table") -> list[Path]:
    """Write `<name>.csv` (with a profile column) and `<name>.md` under out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.csv", out_dir / f"{name}.md"]
    table.assign(profile=profile).to_csv(paths[0], index=False)
    paths[1].write_text(to_markdown(table, profile=profile, models=models, title=title))
    return paths


def comparison_markdown(table: pd.DataFrame) -> str:
    """The README's "ours beside the paper" table from a saved main table with paper columns: per row
    our pass@1 [CI] and thinking tokens, the paper's number for the model/benchmark it is compared
    with, and the gap in points (ours - paper; "–" where the paper reports nothing)."""
    missing = [c for c in (*COLUMNS, *PAPER_COLUMNS) if c not in table]
    if missing:
        raise ValueError(f"the table lacks columns {missing}: build it with main_table(...) then with_paper(...)")
    lines = ["| model | benchmark (ours) | ours: pass@1 % [95 % CI] | ours: thinking tokens "
             "| paper (reported) | paper: pass@1 % | paper: thinking tokens | gap (points) |",
             "|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        reported = not pd.isna(r["paper_pass_at_1"])
        bench = PAPER_BENCHMARK_LABELS.get(r["paper_benchmark"], r["paper_benchmark"])
        tokens = r["paper_avg_thinking_tokens"]
        lines.append(" | ".join([
            f"| {r['model']}", str(r["benchmark_label"]),
            f"{r['pass_at_1']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]", f"{r['avg_thinking_tokens']:.1f}",
            f"{r['paper_model']} on {bench}{_unverified(r)}" if reported else "–",
            f"{r['paper_pass_at_1']:g}" if reported else "–",
            f"{tokens:g}" if reported and not pd.isna(tokens) else "–",
            f"{r['pass_at_1'] - r['paper_pass_at_1']:+.1f}" if reported else "–",
        ]) + " |")
    return "\n".join(lines) + "\n"


def _ci(value: float, low: float, high: float, fmt: str = "+.1f") -> str:
    """``+1.0 [−2.0, +3.0]`` (typographic minus, as the README writes it); "n/a" for a missing value."""
    if value != value:
        return "n/a"
    return f"{value:{fmt}} [{low:{fmt}}, {high:{fmt}}]".replace("-", "−")


def model_comparison_markdown(paired: pd.DataFrame, *, method: str) -> str:
    """The README's base-vs-fine-tuned table from ``paired.csv`` (``z1.paired.comparisons``): per
    benchmark and window, each arm's pass@1 and mean thinking tokens and the paired differences
    (b − a) with their 95 % bootstrap intervals. "Fewer thinking tokens at matched accuracy" reads as
    a token interval below 0 beside a pass@1 interval that includes 0."""
    rows = paired[(paired["comparison"] == "model") & (paired["method_a"] == method) & (paired["method_b"] == method)]
    if rows.empty:
        raise ValueError(f"paired.csv has no model comparison for method {method!r}")
    lines = ["| benchmark | W | models (a → b) | problems | pass@1 % a → b | Δ pass@1 (points) [95 % CI] "
             "| thinking tokens a → b | Δ thinking tokens [95 % CI] |",
             "|---|---|---|---|---|---|---|---|"]
    for _, r in rows.sort_values(["benchmark", "window_a"], kind="stable").iterrows():
        lines.append(" | ".join([
            f"| {r['benchmark']}", str(int(r["window_a"])), f"{r['model_a']} → {r['model_b']}", str(int(r["problems"])),
            f"{r['pass_a']:.1f} → {r['pass_b']:.1f}", _ci(r["pass_diff"], r["pass_diff_low"], r["pass_diff_high"]),
            f"{r['tokens_a']:.1f} → {r['tokens_b']:.1f}",
            _ci(r["tokens_diff"], r["tokens_diff_low"], r["tokens_diff_high"]),
        ]) + " |")
    return "\n".join(lines) + "\n"


def runs_comparison_markdown(table: pd.DataFrame, labels: tuple[str, str] = ("a", "b")) -> str:
    """Two runs of one profile arm by arm (``z1.paired.between_runs``): per benchmark, model and
    window, each run's pass@1 and mean thinking tokens and the paired differences (b − a)."""
    la, lb = labels
    lines = [f"| benchmark | model | W | problems | pass@1 % {la} → {lb} | Δ pass@1 (points) [95 % CI] "
             f"| thinking tokens {la} → {lb} | Δ thinking tokens [95 % CI] |",
             "|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(" | ".join([
            f"| {r['benchmark']}", str(r["model"]), str(int(r["window"])), str(int(r["problems"])),
            f"{r['pass_a']:.1f} → {r['pass_b']:.1f}", _ci(r["pass_diff"], r["pass_diff_low"], r["pass_diff_high"]),
            f"{r['tokens_a']:.1f} → {r['tokens_b']:.1f}",
            _ci(r["tokens_diff"], r["tokens_diff_low"], r["tokens_diff_high"]),
        ]) + " |")
    return "\n".join(lines) + "\n"


def difficulty_markdown(difficulty: pd.DataFrame, *, method: str, window: int) -> str:
    """The README's dynamic-reasoning table from ``difficulty.csv`` (``z1.paired.difficulty_correlations``):
    per rated benchmark and model at one window, Spearman's rho of thinking tokens vs difficulty with
    its interval, and a later model's paired change in rho against the first."""
    rows = difficulty[(difficulty["method"] == method) & (difficulty["window"] == int(window))]
    if rows.empty:
        raise ValueError(f"difficulty.csv has no rows for method {method!r} at window {window}")
    lines = ["| benchmark | model | problems | levels | Spearman ρ [95 % CI] | change vs first model [95 % CI] |",
             "|---|---|---|---|---|---|"]
    for _, r in rows.iterrows():
        change = ("–" if r["model"] == r["reference_model"]
                  else f"{_ci(r['rho_diff'], r['rho_diff_low'], r['rho_diff_high'], '+.2f')} vs {r['reference_model']}")
        lines.append(" | ".join([
            f"| {r['benchmark']}", str(r["model"]), str(int(r["problems"])), str(int(r["levels"])),
            _ci(r["rho"], r["rho_low"], r["rho_high"], "+.2f"), change,
        ]) + " |")
    return "\n".join(lines) + "\n"
