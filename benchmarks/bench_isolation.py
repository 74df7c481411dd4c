"""The sandbox's isolation layer: our launcher (zygote and fresh-interpreter paths) vs bubblewrap.

    python benchmarks/bench_isolation.py              # ~3 min; writes results/benchmarks/isolation.json
    python benchmarks/bench_isolation.py --repeats 1  # quicker timing

Three layers, chosen per run with ``Z1_SANDBOX_ISOLATION`` (see ``z1.sandbox.runner``):

* ``launcher``: ``launcher.py`` forked from a per-worker zygote (the default);
* ``popen``: ``launcher.py`` started fresh for every program (what the zygote saves);
* ``bwrap``: bubblewrap 0.8 with the same namespaces, mounts, environment, rlimits, keyring seccomp
  program and uid (``z1/sandbox/bwrap.py``); needs root and ``apt-get install bubblewrap``.

Two measurements, each layer in its own fresh interpreter, side by side in one run:

1. **the adversarial suite**: ``pytest tests/test_sandbox.py`` under each layer; per test, passed or
   failed.  Tests about the zygote/Popen start paths themselves (names with ``zygote``, ``popen`` or
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


def _suite(layer: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="z1-bench-isolation-") as tmp:
        xml = Path(tmp) / "junit.xml"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                        "tests/test_sandbox.py"], cwd=REPO, env={**os.environ, "Z1_SANDBOX_ISOLATION": layer},
                       capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - t0
        outcomes = {}
        for case in ET.parse(xml).getroot().iter("testcase"):
            failed = case.find("failure") is not None or case.find("error") is not None
            skipped = case.find("skipped") is not None
            first = (case.find("failure") if case.find("failure") is not None else case.find("error"))
            why = (first.get("message") or "")[:200] if failed else ""
            outcomes[case.get("name")] = {"outcome": "failed" if failed else "skipped" if skipped else "passed",
                                          "why": why}
    return {"wall_s": round(wall, 1), "tests": outcomes}


def _grading(layer: str, repeats: int) -> dict:
    os.environ["Z1_SANDBOX_ISOLATION"] = layer  # inherited by bench_grading's fresh child interpreter
    runs = [bench_grading.run_isolated("ours", bench_grading.N_PROBLEMS, 2, 3.0) for _ in range(repeats)]
    return {"median_s": round(statistics.median(r["wall_s"] for r in runs), 3),
            "runs_s": [round(r["wall_s"], 3) for r in runs], "passed": runs[-1]["passed"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "isolation.json"))
    a = ap.parse_args()
    layers = [x for x in LAYERS if x != "bwrap" or (os.geteuid() == 0 and shutil.which("bwrap"))]
    if "bwrap" not in layers:
        print("bwrap is not measured: it needs root and `apt-get install bubblewrap`", file=sys.stderr)
    suites = {x: _suite(x) for x in layers}
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
        summary[x] = {
            "adversarial_passed": sum(t.get(n, {}).get("outcome") == "passed" for n in adversarial),
            "adversarial_total": len(adversarial),
            "adversarial_failed": {n: t[n]["why"] for n in adversarial if t.get(n, {}).get("outcome") == "failed"},
            "start_path_passed": sum(t.get(n, {}).get("outcome") == "passed" for n in start_path),
            "start_path_total": len(start_path),
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
    print(f"\n{'layer':10s} {'adversarial':>12s} {'start-path':>11s} {'HumanEval 164 s':>16s} {'vs launcher':>12s}")
    for x in layers:
        s = summary[x]
        print(f"{x:10s} {s['adversarial_passed']:>5d}/{s['adversarial_total']:<6d} "
              f"{s['start_path_passed']:>4d}/{s['start_path_total']:<6d} {s['humaneval_164_median_s']:>16.2f} "
              f"{s['humaneval_vs_launcher']:>11.2f}x")
        for n, why in s["adversarial_failed"].items():
            print(f"    failed: {n}: {why[:120]}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
