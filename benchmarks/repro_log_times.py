"""Stage wall times from the log of `benchmarks/timed_repro.sh` (one or more attempts of `dvc repro`).

    python benchmarks/repro_log_times.py LOG [--out results/benchmarks/repro_<profile>_log.json]

A long profile (cpu-full, ~2.5 h here) is run once with `timed_repro.sh`, which stamps each output
line with the UTC time; an interrupted run is resumed by running it again (appending to the same log:
shards, checkpoints and rows are reused). A stage runs from its "Running stage 'X':" line to the next
stage's, to DVC's "Updating lock file" line or to the attempt's END line; an attempt killed without
an END line ends at its last stamped line. Per stage the times of every attempt are summed, so the
total is the machine time the profile cost, interruptions excluded. A run paused on purpose (its
processes sent SIGSTOP, e.g. to give the machine to another measurement, then SIGCONT) is marked in
the log by "PAUSE <UTC ISO time>" and "RESUME <UTC ISO time>" lines; the pause is left out of the
stage it fell in and listed under the attempt's "paused_s". Measured: vLLM 0.32's engine does not
survive a pause much longer than its RPC timeout (a 23-minute SIGSTOP of the cpu-full inference
stage ended in "RPC call to execute_model timed out" on resume), so pause transformers runs only,
or stop a vLLM run and resume it instead.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

STAMP = re.compile(r"^(\d\d):(\d\d):(\d\d) (.*)$")
START = re.compile(r"^START (\S+) (\S+)")
END = re.compile(r"^END (\S+) rc=(\d+)")
PAUSE = re.compile(r"^(PAUSE|RESUME) (\S+)")
STAGE = re.compile(r"Running stage '([^']+)'")


def parse(text: str) -> dict:
    """{"attempts": [...], "stages_s": {stage: seconds summed over attempts}, "total_s": ...}."""
    attempts: list[dict] = []
    current = None
    day = None
    last_t = None

    def close_stage(t):
        if current is not None and current["_stage"] is not None:
            name, began = current["_stage"]
            seconds = (t - began).total_seconds() - current.pop("_paused_in_stage", 0.0)
            current["stages_s"][name] = current["stages_s"].get(name, 0.0) + seconds
            current["_stage"] = None

    for line in text.splitlines():
        if (m := PAUSE.match(line)) and current is not None:
            t = datetime.fromisoformat(m.group(2).replace("Z", "+00:00"))
            if m.group(1) == "PAUSE":
                current["_paused_at"] = t
            elif "_paused_at" in current:
                seconds = (t - current.pop("_paused_at")).total_seconds()
                current["paused_s"] = current.get("paused_s", 0.0) + seconds
                if current["_stage"] is not None:
                    current["_paused_in_stage"] = current.get("_paused_in_stage", 0.0) + seconds
            continue
        if m := START.match(line):
            if current is not None:  # killed without an END line: ends at its last stamp
                close_stage(last_t)
                current["end"], current["rc"] = last_t.isoformat(), None
            began = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
            current = {"start": began.isoformat(), "revision": m.group(2), "stages_s": {}, "_stage": None}
            attempts.append(current)
            day, last_t = began.replace(hour=0, minute=0, second=0), began
            continue
        if m := END.match(line):
            t = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
            close_stage(t)
            current["end"], current["rc"] = t.isoformat(), int(m.group(2))
            current = None
            continue
        m = STAMP.match(line)
        if not m or current is None:
            continue
        t = day.replace(hour=int(m.group(1)), minute=int(m.group(2)), second=int(m.group(3)))
        if t < last_t - timedelta(hours=12):  # past midnight
            day += timedelta(days=1)
            t += timedelta(days=1)
        last_t = t
        rest = m.group(4)
        if s := STAGE.search(rest):
            close_stage(t)
            current["_stage"] = (s.group(1), t)
        elif rest.startswith("Updating lock file"):
            close_stage(t)
    if current is not None:
        close_stage(last_t)
        current["end"], current["rc"] = last_t.isoformat(), None
    stages: dict[str, float] = {}
    for a in attempts:
        for key in ("_stage", "_paused_at", "_paused_in_stage"):
            a.pop(key, None)
        for k, v in a["stages_s"].items():
            stages[k] = stages.get(k, 0.0) + v
    return {"attempts": attempts, "stages_s": {k: round(v, 1) for k, v in stages.items()},
            "total_s": round(sum(stages.values()), 1), "total_min": round(sum(stages.values()) / 60, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    doc = {"benchmark": "repro_log_times", "log": Path(args.log).name, **parse(Path(args.log).read_text()),
           "created_utc": datetime.now(UTC).isoformat(timespec="seconds")}
    text = json.dumps(doc, indent=1) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
