"""A stage whose outputs cannot be written is refused before it runs, naming the path (z1.notebook)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from z1 import notebook

REPO = Path(__file__).resolve().parents[1]


def test_stage_outputs_come_from_dvc_yaml():
    outs = notebook.stage_outputs("notebooks/04_evaluation.ipynb", "ci", REPO / "dvc.yaml")
    assert Path("results/ci/metrics/evaluation.json") in outs and Path("results/ci/curves/scaling.csv") in outs
    assert Path("generations/ci") in notebook.stage_outputs("notebooks/03_inference.ipynb", "ci", REPO / "dvc.yaml")
    assert notebook.stage_outputs("notebooks/99_none.ipynb", "ci", REPO / "dvc.yaml") == []


def test_missing_outputs_are_checked_at_their_nearest_existing_parent(tmp_path):
    notebook.check_writable([tmp_path / "results" / "ci" / "metrics" / "evaluation.json"])  # tmp_path: writable


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root to make a read-only mount")
def test_read_only_results_refuse_the_stage_before_it_runs(tmp_path):
    """The real entry point (`python -m z1.notebook`, the stage command) on a results tree mounted
    read-only (root ignores file modes, so a read-only mount stands in for another user's files)."""
    shutil.copy2(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    metrics = tmp_path / "results" / "ci" / "metrics"
    metrics.mkdir(parents=True)
    (metrics / "evaluation.json").write_text("{}")
    script = (f"mount --bind {tmp_path / 'results'} {tmp_path / 'results'} && "
              f"mount -o remount,bind,ro {tmp_path / 'results'} && "
              f"exec {sys.executable} -m z1.notebook {REPO / 'notebooks' / '04_evaluation.ipynb'} --profile ci")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "is not writable by uid 0" in proc.stderr and "nothing was run" in proc.stderr, proc.stderr
    assert (metrics / "evaluation.json").read_text() == "{}"  # nothing lost
    assert not (tmp_path / "results" / "ci" / "notebooks").exists()
