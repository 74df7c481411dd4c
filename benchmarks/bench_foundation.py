"""Fresh-clone timings of the foundation: CI, setup, the `ci` pipeline, a no-op `dvc repro`.

    python benchmarks/bench_foundation.py [--keep]     # ~20 min; writes results/benchmarks/foundation.json

Clones the current commit into a scratch directory, then times in that clone, one after another:
`bash .ci/run` exactly as CI runs it (a fresh `make setup` - new .venv from the lock - then
`make test`), `make setup` again (idempotent: should install nothing), `dvc repro` on the `ci`
profile (every stage for real), and a second `dvc repro` (nothing to do).
Uncommitted changes are not in the clone: commit first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch clone")
    parser.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "foundation.json"))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="z1-bench-"))
    clone = scratch / "z1"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DVC_NO_ANALYTICS="1",
               DO_NOT_TRACK="1")
    try:
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True,
                                text=True).stdout.strip()
        results: dict = {"commit": commit, "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
        results["ci_run_s"], out = timed(["bash", ".ci/run"], clone, {**env, "CI": "true"})
        setup_line = [ln for ln in out.splitlines() if ln.startswith("==> setup finished in")]
        results["setup_s"] = float(setup_line[-1].split()[-2]) if setup_line else None
        results["tests"] = [ln for ln in out.splitlines() if " passed" in ln][-1:]
        results["setup_again_s"], out = timed(["make", "setup"], clone, env)
        results["setup_again_installed_nothing"] = "nothing to install" in out
        env["PATH"] = f"{clone / '.venv' / 'bin'}:{env['PATH']}"
        subprocess.run(["make", "profile", "P=ci"], cwd=clone, env=env, check=True, capture_output=True)
        results["ci_pipeline_s"], _ = timed(["dvc", "repro"], clone, env)
        results["noop_repro_s"], out = timed(["dvc", "repro"], clone, env)
        results["noop_repro_ran_no_stage"] = "Running stage" not in out
        print(json.dumps(results, indent=2))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
