"""Stage 01, data construction: the released dataset or a teacher's regenerated trajectories, then
the files the stage declares (``dvc.yaml``: data/<profile>/*.parquet, results/<profile>/metrics/data.json).

    dataset, report, trajectories = stages.data.run(cfg, paths)

``source: released`` reads Z1-Code-Reasoning-107K (or a local copy) and recomputes token counts with the
profile's Qwen2.5 tokenizer; ``source: regenerate`` starts the teacher's engine, answers the pool in
resumable shards (``data/<profile>/shards``) and always closes the engine. ``trajectories`` is every
teacher output before the keep rule (None for the released data).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pandas as pd

from z1 import construct, headline, provenance
from z1.paths import Paths


def build(cfg: Mapping, paths: Paths) -> tuple[pd.DataFrame, dict, pd.DataFrame | None]:
    from transformers import AutoTokenizer

    from z1.engines import make_engine

    dcfg = cfg["data"]
    tokenizer = AutoTokenizer.from_pretrained(paths.tokenizer)
    if dcfg["source"] == "released":
        return construct.load_released(dcfg, tokenizer=tokenizer)
    teacher = make_engine(dcfg["engine"], paths.model(dcfg["teacher"]), device=cfg["compute"]["device"],
                          dtype=cfg["compute"]["dtype"], **(dcfg.get("engine_options") or {}))
    try:
        return construct.regenerate(dcfg, engine=teacher, tokenizer=tokenizer,
                                    teacher=cfg["assets"]["models"][dcfg["teacher"]]["id"],
                                    work_dir=paths.data / "shards")
    finally:
        teacher.close()


def save(dataset: pd.DataFrame, report: dict, trajectories: pd.DataFrame | None, paths: Paths) -> None:
    """The stage's outputs: the kept rows, every trajectory, and the report with provenance."""
    paths.data.mkdir(parents=True, exist_ok=True)
    dataset.to_parquet(paths.trajectories, index=False)
    (trajectories if trajectories is not None else dataset).to_parquet(paths.all_trajectories, index=False)
    paths.metrics.mkdir(parents=True, exist_ok=True)
    (paths.metrics / "data.json").write_text(json.dumps({"provenance": provenance.base(paths.profile), **report},
                                                        indent=2) + "\n")
    headline.write(paths.headline("data"), headline.data(report))


def run(cfg: Mapping, paths: Paths) -> tuple[pd.DataFrame, dict, pd.DataFrame | None]:
    dataset, report, trajectories = build(cfg, paths)
    save(dataset, report, trajectories, paths)
    return dataset, report, trajectories
