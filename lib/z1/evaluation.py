"""Evaluation stage: grade saved generations (never regenerates) and write metrics with provenance.

    samples = grade_rows(read_generations(gen_dir))      # one row per sample, no model text
    summary = metrics.summarize(samples)                  # one row per model/benchmark/method/window
    write_results(samples, summary, results_dir, ...)     # metrics JSON + curve CSV + samples CSV
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from z1 import benchmarks, headline, provenance
from z1.labels import LCB_PAPER_WINDOW, PAPER_START_DATE, benchmark_label  # noqa: F401 - re-exported


def grade_rows(rows: Sequence[Mapping], *, workers: int = 2, progress: bool = False) -> pd.DataFrame:
    """Grade each generation row's answer with its benchmark's grader. The result keeps ids, verdicts
    and token counts only - no question or model text (GPQA must not be republished).  ``progress``:
    a bar for the answers graded in process and one for the programs run in the sandbox."""
    if not rows:
        raise ValueError("no generation rows to grade")
    problems = [r["problem"] for r in rows]
    answers = [r["record"]["answer"] for r in rows]
    grades = benchmarks.grade_many(problems, answers, workers=workers, progress=progress)
    out = []
    for row, grade in zip(rows, grades, strict=True):
        rec, prob = row["record"], row["problem"]
        verdict = grade.details.get("verdict")  # the sandbox verdict, for code benchmarks
        out.append({
            "model": row["model"],
            "benchmark": row["benchmark"],
            "stand_in_for": ",".join(prob.get("stand_in_for") or ()),
            "method": row["method"],
            "window": int(row["window"]),
            "problem_id": row["problem_id"],
            "sample_index": int(row["sample_index"]),
            "difficulty": prob.get("difficulty"),
            "correct": bool(grade.correct),
            "strict_correct": grade.details.get("strict_correct"),
            "verdict": verdict.get("status") if isinstance(verdict, dict) else None,
            "thinking_tokens": int(rec["thinking_tokens"]),
            "thinking_tokens_only": int(rec.get("thinking_tokens_only", rec["thinking_tokens"])),
            "answer_tokens": int(len(rec.get("pass2_token_ids") or [])),
            "window_hit": bool(rec["window_hit"]),
            "finished": rec["finish_reason"] == "stop",  # the kept output ended itself, not at its token cap
            "contest_date": (prob.get("meta") or {}).get("contest_date"),
        })
    return with_paper_date_window(pd.DataFrame(out))


def generation_provenance(rows: Sequence[Mapping]) -> dict:
    """What produced the graded rows, for metrics/evaluation.json: each model's source, the engines
    (their info, one JSON string each), dtypes, max_tokens values, the sampling and every method."""
    return {
        "models": {r["model"]: r["model_source"] for r in rows},
        "engines": sorted({json.dumps(r["engine"], sort_keys=True) for r in rows}),
        "dtype": sorted({r["dtype"] for r in rows}),
        "max_tokens": sorted({r["max_tokens"] for r in rows}),
        "sampling": rows[0]["sampling"],
        "methods": {r["method"]: {"function": r["method_function"], **r["method_options"]} for r in rows},
    }


def with_paper_date_window(samples: pd.DataFrame) -> pd.DataFrame:
    """Add the authors' LiveCodeBench window as its own benchmark: the rows of ``livecodebench_v5``
    with ``contest_date >= 2024-09-01`` again, named LCB_PAPER_WINDOW, so a run over all 880 problems
    reports both the full set (ours) and the paper's window (the set its numbers are compared with)."""
    lcb = samples[(samples["benchmark"] == "livecodebench_v5") & samples["contest_date"].notna()]
    window = lcb[lcb["contest_date"].astype(str).str[:10] >= PAPER_START_DATE].copy()
    if window.empty:
        return samples
    window["benchmark"] = LCB_PAPER_WINDOW
    return pd.concat([samples, window], ignore_index=True)


def nested_metrics(summary: pd.DataFrame) -> dict:
    """model -> benchmark -> method -> window -> numbers (the shape `dvc metrics show` flattens)."""
    out: dict = {}
    for _, r in summary.iterrows():
        leaf = out.setdefault(r["model"], {}).setdefault(r["benchmark"], {}).setdefault(r["method"], {})
        leaf[f"w{int(r['window'])}"] = {
            "pass_at_1": round(float(r["pass_at_1"]), 2),
            "ci_low": round(float(r["ci_low"]), 2),
            "ci_high": round(float(r["ci_high"]), 2),
            "avg_thinking_tokens": round(float(r["avg_thinking_tokens"]), 1),
            "avg_thinking_tokens_only": round(float(r["avg_thinking_tokens_only"]), 1),
            "window_hit_rate": round(float(r["window_hit_rate"]), 3),
            "finish_rate": round(float(r["finish_rate"]), 3),
            "problems": int(r["problems"]),
        }
    return out


def write_results(samples: pd.DataFrame, summary: pd.DataFrame, results_dir: Path, *, profile: str,
                  generation_provenance: Mapping, grading: Mapping,
                  paired: pd.DataFrame | None = None, difficulty: pd.DataFrame | None = None) -> dict[str, Path]:
    """metrics/evaluation.json (with provenance), curves/scaling.csv (for dvc plots), samples.csv,
    paired.csv (``z1.paired.comparisons``: every difference with its paired interval) and difficulty.csv
    (``z1.paired.difficulty_correlations``: rho of thinking tokens vs difficulty) when given."""
    results_dir = Path(results_dir)
    paths = {
        "metrics": results_dir / "metrics" / "evaluation.json",
        "curves": results_dir / "curves" / "scaling.csv",
        "samples": results_dir / "samples.csv",
    }
    if paired is not None:
        paths["paired"] = results_dir / "paired.csv"
    if difficulty is not None:
        paths["difficulty"] = results_dir / "difficulty.csv"
    for p in paths.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    stand_ins = samples.groupby("benchmark")["stand_in_for"].first().to_dict()
    curves = summary.copy()
    curves["benchmark_label"] = [benchmark_label(b, stand_ins.get(b, "")) for b in curves["benchmark"]]
    curves.to_csv(paths["curves"], index=False, float_format="%.4f")
    samples.to_csv(paths["samples"], index=False)
    if paired is not None:
        paired.to_csv(paths["paired"], index=False, float_format="%.4f")
    if difficulty is not None:
        difficulty.to_csv(paths["difficulty"], index=False, float_format="%.4f")
    doc = {
        "provenance": {**provenance.base(profile), "generation": dict(generation_provenance),
                       "grading": dict(grading),
                       "benchmarks": {b: {"problems": int(samples[samples.benchmark == b].problem_id.nunique()),
                                          "stand_in_for": stand_ins.get(b) or None}
                                      for b in sorted(samples.benchmark.unique())}},
        "results": nested_metrics(summary),
    }
    paths["metrics"].write_text(json.dumps(doc, indent=2) + "\n")
    paths["headline"] = headline.write(headline.path(results_dir / "metrics", "evaluation"),
                                       headline.evaluation(summary))
    return paths
