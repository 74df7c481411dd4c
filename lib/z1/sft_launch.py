"""Run SFT in the pipeline's own process or under ``accelerate launch``, as the profile's params say.

    metrics = sft_launch.run(model_dir, "data/paper/trajectories.parquet", "models/paper/sft", settings)

``settings["launcher"]`` (``<profile>.sft.launcher`` in params.yaml) picks the way:

* ``null``: ``z1.sft.train`` in this process (the CPU profiles);
* a list of ``accelerate launch`` arguments: ``accelerate launch <launcher> -m z1.sft --model-dir …
  --data … --out … --settings-json …`` as a child process; the ``paper`` profile's
  ``[--config_file, configs/accelerate_fsdp.yaml]`` trains on 8 GPUs with FSDP, so ``dvc repro`` runs
  the multi-GPU recipe itself. The child's output is relayed line by line; the metrics are the ones
  rank 0 wrote to ``<out>/sft_metrics.json``. A failed launch raises ``SFTLaunchError`` with the exit
  code and the end of the output; the checkpoints stay, so running it again resumes.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from z1 import sft


class SFTLaunchError(RuntimeError):
    """The ``accelerate launch`` child process failed."""


def _accelerate() -> str:
    beside = Path(sys.executable).with_name("accelerate")  # the venv's, whatever PATH says
    found = str(beside) if beside.exists() else shutil.which("accelerate")
    if not found:
        raise SFTLaunchError("`accelerate` is not installed in this environment (needed by sft.launcher)")
    return found


def command(model_dir, data, out_dir, settings: Mapping[str, Any], *, progress: bool = True) -> list[str]:
    """The ``accelerate launch`` command line for ``settings["launcher"]`` (a list of arguments)."""
    launcher = settings.get("launcher")
    if isinstance(launcher, str) or not isinstance(launcher, Sequence) or not all(isinstance(a, str) for a in launcher):
        raise ValueError(f"sft.launcher must be null or a list of `accelerate launch` arguments, got {launcher!r}")
    if not isinstance(data, (str, Path)):
        raise TypeError("a launched SFT run reads its rows from a file: pass the trajectories' path, not the rows")
    child = {k: v for k, v in settings.items() if k != "launcher"}
    return [_accelerate(), "launch", *launcher, "-m", "z1.sft", "--model-dir", str(model_dir), "--data", str(data),
            "--out", str(out_dir), "--settings-json", json.dumps(child), *([] if progress else ["--no-progress"])]


def run(model_dir, data, out_dir, settings: Mapping[str, Any], *, progress: bool = True) -> dict:
    """Train as ``settings["launcher"]`` says; returns the run's metrics (see ``z1.sft.train``)."""
    if settings.get("launcher") is None:
        return sft.train(model_dir, data, out_dir, {k: v for k, v in settings.items() if k != "launcher"},
                         progress=progress)
    cmd = command(model_dir, data, out_dir, settings, progress=progress)
    print("$ " + " ".join(cmd[:cmd.index("--settings-json") + 1]) + " '…'", flush=True)
    tail: collections.deque[str] = collections.deque(maxlen=40)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy(),
                          bufsize=1) as proc:
        for line in proc.stdout:
            tail.append(line)
            print(line, end="", flush=True)
    if proc.returncode != 0:
        raise SFTLaunchError(f"`accelerate launch {' '.join(settings['launcher'])} -m z1.sft` exited with "
                             f"{proc.returncode}; last lines:\n{''.join(tail)}")
    metrics_file = Path(out_dir) / "sft_metrics.json"
    if not metrics_file.exists():
        raise SFTLaunchError(f"the launched run exited 0 but wrote no {metrics_file}")
    return json.loads(metrics_file.read_text())


def save_results(train_metrics: Mapping[str, Any], *, model_dir: str | Path, results_dir: str | Path,
                 metrics_path: str | Path, profile: str, base_model: Mapping) -> Path:
    """The SFT stage's committed results: the training log (``<results_dir>/sft/train_log.csv``, the
    DVC plot, and ``<results_dir>/sft/dvclive``, the dvclive record it is joined from) and
    ``metrics_path`` (sft.json: provenance, the base model's asset entry, the run's metrics).
    Returns the log's path."""
    from z1 import headline, provenance

    log = Path(results_dir) / "sft" / "train_log.csv"
    log.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(model_dir) / "train_log.csv", log)
    live = log.parent / "dvclive"
    if live.exists():
        shutil.rmtree(live)
    if (Path(model_dir) / "dvclive").is_dir():
        shutil.copytree(Path(model_dir) / "dvclive", live)
    Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_path).write_text(json.dumps({"provenance": provenance.base(profile), "base_model": dict(base_model),
                                              **train_metrics}, indent=2, default=str) + "\n")
    headline.write(headline.path(Path(metrics_path).parent, "sft"), headline.sft(train_metrics))
    return log
