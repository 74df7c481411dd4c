"""Stage 02, SFT: train the profile's base model on data/<profile>/trajectories.parquet and write the
files the stage declares (``dvc.yaml``: models/<profile>/sft, results/<profile>/sft/train_log.csv,
results/<profile>/metrics/sft.json).

    train_metrics, log_path = stages.sft.run(cfg, paths)

Checkpoints go to ``checkpoints/<profile>/sft/<key>``, the key hashing the settings, the data file and
the base model's weights (``Paths.sft_run_checkpoints``), so a killed stage resumes its own run and
never another's. ``sft.launcher`` null trains in this process; a list runs ``accelerate launch <list>
-m z1.sft`` (the ``paper`` profile: 8 GPUs, FSDP), see ``z1.sft_launch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from z1 import sft_launch
from z1.paths import Paths


def run(cfg: Mapping, paths: Paths) -> tuple[dict, Path]:
    settings = {**cfg["sft"], "dtype": cfg["compute"]["dtype"]}
    settings["checkpoint_dir"] = str(paths.sft_run_checkpoints(settings, paths.trajectories, paths.model("base")))
    train_metrics = sft_launch.run(paths.model("base"), paths.trajectories, paths.sft, settings)
    log_path = sft_launch.save_results(train_metrics, model_dir=paths.sft, results_dir=paths.results,
                                       metrics_path=paths.metrics / "sft.json", profile=cfg["name"],
                                       base_model=cfg["assets"]["models"]["base"])
    return train_metrics, log_path
