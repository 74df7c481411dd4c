"""Stage 04, evaluation: grade the saved generations (never regenerate) and write the files the stage
declares (``dvc.yaml``: samples.csv, paired.csv, difficulty.csv, curves/scaling.csv,
metrics/evaluation.json and its headline).

    result = stages.evaluation.run(cfg, paths)
    result.summary, result.comparisons, result.difficulty, result.written

Code answers run in the sandbox, in parallel (``evaluation.workers``); pass@1 intervals, the paired
comparisons and the difficulty correlations bootstrap over problems with ``evaluation.bootstrap``
iterations from ``evaluation.seed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from z1 import evaluation, generations, metrics, paired
from z1.paths import Paths


@dataclass(frozen=True)
class Evaluation:
    samples: pd.DataFrame      # one graded row per sample (no model text)
    summary: pd.DataFrame      # pass@1 with intervals, thinking tokens, hit and finish rates per arm
    comparisons: pd.DataFrame  # every paired difference (z1.paired.comparisons)
    difficulty: pd.DataFrame   # rho of thinking tokens vs difficulty (z1.paired.difficulty_correlations)
    written: dict[str, Path]


def run(cfg: Mapping, paths: Paths, *, progress: bool = True) -> Evaluation:
    ecfg = cfg["evaluation"]
    bootstrap, seed = int(ecfg["bootstrap"]), int(ecfg["seed"])
    rows = generations.read_generations(paths.generations)
    samples = evaluation.grade_rows(rows, workers=int(ecfg["workers"]), progress=progress)
    summary = metrics.summarize(samples, bootstrap=bootstrap, seed=seed)
    # every difference the figures and tables show, paired on the same problems (base vs fine-tuned,
    # window vs window, control vs the main method), with its bootstrap interval
    comparisons = paired.comparisons(samples, bootstrap=bootstrap, seed=seed)
    # dynamic reasoning: Spearman's rho of thinking tokens vs difficulty per model, with intervals over problems
    difficulty = paired.difficulty_correlations(samples, bootstrap=bootstrap, seed=seed)
    written = evaluation.write_results(samples, summary, paths.results, profile=cfg["name"],
                                       generation_provenance=evaluation.generation_provenance(rows),
                                       grading={"bootstrap": bootstrap, "seed": seed},
                                       paired=comparisons, difficulty=difficulty)
    return Evaluation(samples, summary, comparisons, difficulty, written)
