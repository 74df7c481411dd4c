"""The few numbers a user compares across runs and experiments (``dvc metrics show`` / ``metrics diff``):
one small flat file per stage, ``results/<profile>/metrics/headline/{data,sft,evaluation}.json``.

The stages' full reports (``metrics/data.json``, ``sft.json``, ``evaluation.json``: provenance, every
model × benchmark × method × window cell, decontamination details) stay where they are as ordinary
outputs; DVC would print them as one table of ~500 columns.

* data: problems, rows kept, their tokens, the truncation and repetition rates, rows removed;
* sft: steps, first and last training loss, target tokens, rows used;
* evaluation: for each model and method at its largest window, pass@1 (%) and the average thinking
  tokens, each the plain mean over the benchmarks (the paper's Figure 1b average), and that window.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

DATA = ("problems", "rows", "tokens", "truncated_rate", "repetitive_rate", "removed_repetitive", "removed_incorrect")
SFT = ("steps", "train_loss_first", "train_loss_last", "train_tokens", "rows_kept")


def _pick(report: Mapping, keys) -> dict:
    return {k: (round(report[k], 4) if isinstance(report[k], float) else report[k])
            for k in keys if report.get(k) is not None}


def data(report: Mapping) -> dict:
    out = _pick(report, DATA)
    removed = (report.get("decontamination") or {}).get("removed_contaminated")
    if removed is not None:
        out["removed_contaminated"] = removed
    return out


def sft(train_metrics: Mapping) -> dict:
    return _pick(train_metrics, SFT)


def evaluation(summary: pd.DataFrame) -> dict:
    """``{model: {method: {pass_at_1, thinking_tokens, window}}}`` at each (model, method)'s largest window."""
    out: dict = {}
    for (model, method), rows in summary.groupby(["model", "method"], sort=True):
        top = rows[rows["window"] == rows["window"].max()]
        out.setdefault(str(model), {})[str(method)] = {
            "pass_at_1": round(float(top["pass_at_1"].mean()), 2),
            "thinking_tokens": round(float(top["avg_thinking_tokens"].mean()), 1),
            "window": int(top["window"].iloc[0]),
        }
    return out


def path(metrics_dir: str | Path, stage: str) -> Path:
    """Where a stage's headline numbers go (the stage's DVC metrics file in dvc.yaml)."""
    return Path(metrics_dir) / "headline" / f"{stage}.json"


def write(path: str | Path, numbers: Mapping) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(numbers), indent=2, sort_keys=True) + "\n")
    return path
