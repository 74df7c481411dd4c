"""Stage 03, inference: generate every (model, benchmark, method, window) row of the profile into
generations/<profile>/<model>/<benchmark>/<method>.jsonl, and the run's summary into
results/<profile>/inference_run.json (``dvc.yaml``).

    result = stages.inference.run(cfg, paths)
    result.summary, result.overview

Rows are content-keyed and appended as they finish (``z1.inference``), so a killed stage resumes
with identical output and a re-run reuses every row whose inputs did not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from z1 import inference
from z1.paths import Paths


@dataclass(frozen=True)
class Inference:
    summary: dict           # rows written, engine calls, tokens generated and reused, seconds (inference_run.json)
    overview: pd.DataFrame  # samples, mean thinking tokens and window-hit rate per model, benchmark, method, window

    def line(self) -> str:
        s = self.summary
        return (f"{s['rows_written']} rows written to {len(s['files'])} files; {s['engine_calls']} merged engine calls "
                f"(largest: {s['largest_engine_call']} requests); {s['generated_tokens']} tokens generated after "
                f"{s['prompt_tokens']} prompt tokens ({s['cached_prompt_tokens']} from the prefix cache) in "
                f"{s['generate_s']} s, + {s['engine_start_s']} s starting engines")


def overview(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame([{
        "model": r["model"], "benchmark": r["benchmark"], "method": r["method"], "window": r["window"],
        "thinking_tokens": r["record"]["thinking_tokens"], "window_hit": r["record"]["window_hit"],
    } for r in rows])
    return frame.groupby(["model", "benchmark", "method", "window"]).agg(
        samples=("thinking_tokens", "size"), avg_thinking_tokens=("thinking_tokens", "mean"),
        window_hit_rate=("window_hit", "mean")).round(2)


def run(cfg: Mapping, paths: Paths) -> Inference:
    model_dirs = {key: paths.model(key) for key in cfg["inference"]["models"]}
    summary = inference.run(cfg, model_dirs=model_dirs, out_dir=paths.generations,
                            summary_path=paths.results / "inference_run.json")
    return Inference(summary, overview(inference.read_generations(paths.generations)))
