"""The sandbox's isolation layer: our launcher (zygote and fresh-interpreter paths) vs bubblewrap.

    python benchmarks/bench_isolation.py              # ~6 min; writes results/benchmarks/isolation.json
    python benchmarks/bench_isolation.py --repeats 1  # quicker timing

Three layers, chosen per run with ``Z1_SANDBOX_ISOLATION`` (see ``z1.sandbox.runner``):

* ``launcher``: ``launcher.py`` forked from a per-worker zygote (the default);
* ``popen``: ``launcher.py`` started fresh for every program (what the zygote saves);
* ``bwrap``: bubblewrap 0.8 with the same namespaces, mounts, environment, rlimits, keyring seccomp
  program and uid (``z1/sandbox/bwrap.py``); needs root and ``apt-get install bubblewrap``.

Two measurements, each layer in its own fresh interpreter, side by side in one run:

1. **the adversarial suite**: ``pytest tests/test_sandbox.py`` under each layer, ``--suite-repeats``
   times (a containment race shows as a test failing in some runs); per test, the failed runs.  Tests about the zygote/Popen start paths themselves (names with ``zygote``, ``popen`` or
   ``start_path``, and the degraded-mode fallback) do not apply to bwrap and are counted apart;
2. **grading speed**: the 164 HumanEval canonical solutions through ``grade_many`` (the evaluation
   stage's call), 2 workers, median of the repeats -- ``bench_grading.py``'s "ours" measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_grading  # noqa: E402

LAYERS = ["launcher", "popen", "bwrap"]
START_PATH_WORDS = ("zygote", "popen", "start_path", "fallback_without_namespaces")


def _suite_once(layer: str) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory(prefix="z1-bench-isolation-") as tmp:
        xml = Path(tmp) / "junit.xml"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                        "tests/test_sandbox.py"], cwd=REPO, env={**os.environ, "Z1_SANDBOX_ISOLATION": layer},
                       capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - t0
        outcomes = {}
        for case in ET.parse(xml).getroot().iter("testcase"):
            bad = case.find("failure") if case.find("failure") is not None else case.find("error")
            skipped = case.find("skipped") is not None
            outcomes[case.get("name")] = ("failed", (bad.get("message") or "")[:200]) if bad is not None else (
                ("skipped" if skipped else "passed"), "")
    return wall, outcomes


def _suite(layer: str, repeats: int) -> dict:
    """The suite ``repeats`` times: per test, how many runs failed and the first failure's message."""
    walls, tests = [], {}
    for _ in range(repeats):
        wall, outcomes = _suite_once(layer)
        walls.append(round(wall, 1))
        for name, (outcome, why) in outcomes.items():
            t = tests.setdefault(name, {"runs": 0, "failed": 0, "skipped": 0, "why": ""})
            t["runs"] += 1
            if outcome != "passed":
                t[outcome] += 1
            if outcome == "failed" and not t["why"]:
                t["why"] = why
    return {"wall_s": walls, "tests": tests}


def _grading(layer: str, repeats: int) -> dict:
    os.environ["Z1_SANDBOX_ISOLATION"] = layer  # inherited by bench_grading's fresh child interpreter
    runs = [bench_grading.run_isolated("ours", bench_grading.N_PROBLEMS, 2, 3.0) for _ in range(repeats)]
    return {"median_s": round(statistics.median(r["wall_s"] for r in runs), 3),
            "runs_s": [round(r["wall_s"], 3) for r in runs], "passed": runs[-1]["passed"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="timed HumanEval gradings per layer")
    ap.add_argument("--suite-repeats", type=int, default=3, help="runs of the adversarial suite per layer")
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "isolation.json"))
    a = ap.parse_args()
    layers = [x for x in LAYERS if x != "bwrap" or (os.geteuid() == 0 and shutil.which("bwrap"))]
    if "bwrap" not in layers:
        print("bwrap is not measured: it needs root and `apt-get install bubblewrap`", file=sys.stderr)
    suites = {x: _suite(x, a.suite_repeats) for x in layers}
    grading = {}
    for r in range(a.repeats):  # alternate the order, one repeat of each layer per round
        for x in (layers if r % 2 == 0 else layers[::-1]):
            g = _grading(x, 1)
            grading.setdefault(x, []).append(g)
    grading = {x: {"median_s": round(statistics.median(g["median_s"] for g in gs), 3),
                   "runs_s": [g["median_s"] for g in gs], "passed": gs[-1]["passed"]} for x, gs in grading.items()}
    names = sorted(suites["launcher"]["tests"])
    start_path = [n for n in names if any(w in n for w in START_PATH_WORDS)]
    adversarial = [n for n in names if n not in start_path]
    summary = {}
    for x in layers:
        t = suites[x]["tests"]

        def clean(n, t=t):
            return n in t and t[n]["failed"] == 0 and t[n]["skipped"] < t[n]["runs"]

        summary[x] = {
            "adversarial_passed_every_run": sum(clean(n) for n in adversarial),
            "adversarial_total": len(adversarial),
            "adversarial_failed": {n: f"{t[n]['failed']}/{t[n]['runs']} runs: {t[n]['why']}"
                                   for n in adversarial if n in t and t[n]["failed"]},
            "start_path_passed_every_run": sum(clean(n) for n in start_path),
            "start_path_total": len(start_path),
            "suite_runs": a.suite_repeats,
            "suite_wall_s": suites[x]["wall_s"],
            "humaneval_164_median_s": grading[x]["median_s"],
            "humaneval_164_runs_s": grading[x]["runs_s"],
            "humaneval_164_passed": grading[x]["passed"],
        }
    base = summary["launcher"]["humaneval_164_median_s"]
    for x in layers:
        summary[x]["humaneval_vs_launcher"] = round(summary[x]["humaneval_164_median_s"] / base, 2)
    bwrap_version = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout.strip() \
        if "bwrap" in layers else None
    payload = {"benchmark": "sandbox isolation layer: launcher (zygote / popen) vs bubblewrap",
               "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "python": platform.python_version(), "bwrap": bwrap_version},
               "repeats": a.repeats, "summary": summary,
               "tests": {x: suites[x]["tests"] for x in layers}}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\ntests passed in every one of {a.suite_repeats} suite runs; HumanEval: median of {a.repeats}")
    print(f"{'layer':10s} {'adversarial':>12s} {'start-path':>11s} {'HumanEval 164 s':>16s} {'vs launcher':>12s}")
    for x in layers:
        s = summary[x]
        print(f"{x:10s} {s['adversarial_passed_every_run']:>5d}/{s['adversarial_total']:<6d} "
              f"{s['start_path_passed_every_run']:>4d}/{s['start_path_total']:<6d} {s['humaneval_164_median_s']:>16.2f} "
              f"{s['humaneval_vs_launcher']:>11.2f}x")
        for n, why in s["adversarial_failed"].items():
            print(f"    failed: {n}: {why[:140]}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
