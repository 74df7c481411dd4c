"""benchmarks/repro_log_times.py: stage wall times summed over the attempts of a resumed long run."""

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "repro_log_times", Path(__file__).resolve().parents[1] / "benchmarks" / "repro_log_times.py")
times = importlib.util.module_from_spec(spec)
spec.loader.exec_module(times)

LOG = """\
START 2026-12-01T23:50:00Z abc1234
23:50:00 Running stage 'assets':
23:51:00 Updating lock file 'dvc.lock'
23:51:00 Running stage 'data':
23:55:30 some progress
23:58:00 Running stage 'sft':
00:10:00 step 20
START 2026-12-02T01:00:00Z abc1234
01:00:00 Stage 'assets' didn't change, skipping
01:00:05 Running stage 'sft':
01:05:05 Updating lock file 'dvc.lock'
01:05:05 Running stage 'inference':
PAUSE 2026-12-02T01:30:00Z
RESUME 2026-12-02T01:50:00Z
02:25:05 Updating lock file 'dvc.lock'
END 2026-12-02T02:25:06Z rc=0
"""


def test_stages_are_summed_over_attempts_and_a_killed_attempt_ends_at_its_last_line():
    doc = times.parse(LOG)
    first, second = doc["attempts"]
    assert first["rc"] is None and first["end"] == "2026-12-02T00:10:00+00:00"  # killed: crossed midnight
    assert first["stages_s"] == {"assets": 60.0, "data": 420.0, "sft": 720.0}
    assert second["rc"] == 0 and second["stages_s"] == {"sft": 300.0, "inference": 3600.0}  # 80 min less 20 paused
    assert second["paused_s"] == 1200.0 and "paused_s" not in first
    assert doc["stages_s"] == {"assets": 60.0, "data": 420.0, "sft": 1020.0, "inference": 3600.0}
    assert doc["total_s"] == pytest.approx(5100.0) and doc["total_min"] == 85.0


def test_the_script_writes_its_json(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(LOG)
    out = tmp_path / "times.json"
    assert times.main([str(log), "--out", str(out)]) == 0
    assert '"inference": 3600.0' in out.read_text()
