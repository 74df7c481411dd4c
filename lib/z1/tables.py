"""The main table: pass@1 with its 95 % CI and average thinking tokens per model and benchmark at the
profile's main window, taken number for number from the evaluation stage's metrics file.

    doc = json.loads(Path("results/mini/metrics/evaluation.json").read_text())
    table = tables.main_table(tables.metrics_rows(doc), main_window=256)
    tables.save(table, "results/mini/tables", "main_table", profile="mini", models="base = ...")
        -> main_table.csv (the numbers, unchanged) and main_table.md (the same numbers, for reading)

The Markdown shows pass@1 and its interval with 2 decimals and thinking tokens with 1, the precision
`metrics/evaluation.json` stores, so no number in either file differs from the metrics file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from z1.evaluation import benchmark_label

NUMBERS = ("problems", "pass_at_1", "ci_low", "ci_high", "avg_thinking_tokens")
COLUMNS = ("model", "benchmark", "benchmark_label", "method", "window", *NUMBERS)


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


def main_table(tidy: pd.DataFrame, main_window: int) -> pd.DataFrame:
    """The rows of `tidy` at `main_window`, in the file's order, with the columns of COLUMNS."""
    rows = tidy[tidy["window"] == int(main_window)]
    if rows.empty:
        raise ValueError(f"no results at the main window {main_window}; windows present: "
                         f"{sorted(tidy['window'].unique().tolist())}")
    if "benchmark_label" not in rows:
        rows = rows.assign(benchmark_label=rows["benchmark"])
    return rows.loc[:, list(COLUMNS)].reset_index(drop=True)


def to_markdown(table: pd.DataFrame, *, profile: str, models: str) -> str:
    """A caption naming the profile, window and models, then the table (numbers as stored)."""
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
    caption = (f"Main table (profile: {profile}; thinking window W = {windows}; models: {models}). "
               "pass@1 over problems with a 95 % bootstrap CI; thinking tokens averaged over samples.")
    align = ("left", "left", "left", "right", "right", "right", "right")
    return caption + "\n\n" + shown.to_markdown(index=False, disable_numparse=True, colalign=align) + "\n"


def save(table: pd.DataFrame, out_dir: str | Path, name: str, *, profile: str, models: str) -> list[Path]:
    """Write `<name>.csv` (with a profile column) and `<name>.md` under out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.csv", out_dir / f"{name}.md"]
    table.assign(profile=profile).to_csv(paths[0], index=False)
    paths[1].write_text(to_markdown(table, profile=profile, models=models))
    return paths
