"""Stage timings of the whole pipeline on one profile, measured stage by stage in one run.

    python benchmarks/bench_repro.py                 # the active profile (params.yaml), cold: ~40 min on mini
    python benchmarks/bench_repro.py --warm          # keep the teacher's resumable shards (data stage reuses them)
    make bench-repro                                 # the same as the first line

"From a state where setup is done": the assets stage is not timed (setup fetched the models); every
other stage of `dvc.yaml` is forced to run (`dvc repro --force --single-item <stage>`, in pipeline
order), so each one does its full work exactly as `dvc repro` would after a change upstream. Cold
(the default) also deletes what the stages keep to resume a killed run and would otherwise reuse:
the teacher's shards (`data/<profile>/shards/`), the SFT checkpoints (`checkpoints/<profile>/`) and
the content-keyed generation rows (`generations/<profile>/`, a persist out); so the data stage
generates every trajectory again, SFT trains from step 0 and inference decodes every row, as in a
fresh clone. The inference stage's own account of its work (`results/<profile>/inference_run.json`:
engine calls, prompt and generated tokens, seconds generating and starting engines) is reported
against the GEMM limit of `results/benchmarks/ceiling.json`. A last
plain `dvc repro` must then find nothing to run (it is timed as well).

Writes `results/benchmarks/repro_<profile>.json`: seconds per stage, the total, the budget (mini:
45 min on this 2-core machine), whether the total met it, the no-op check, and the machine and
code it ran on. The outputs are the pipeline's own (dvc.lock, results/<profile>/...), ready to be
committed. The machine should be otherwise idle: the timings are wall clock.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "DO_NOT_TRACK", "DVC_NO_ANALYTICS"):
    os.environ.setdefault(_var, "1")
# the stages run `scripts/py -m z1.notebook` (the clone's .venv, else `python` on PATH): put this
# interpreter first on PATH for a checkout without .venv, as `make` does
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
STAGES = ("data", "sft", "inference", "evaluation", "figures")
BUDGET_S = {"mini": 45 * 60, "ci": 10 * 60}  # the budget for mini; ci: what a test run may take


def _dvc() -> str:
    exe = Path(sys.executable).with_name("dvc")
    return str(exe) if exe.exists() else "dvc"


def _run(cmd: list[str]) -> float:
    print(f"\n$ {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed with exit code {proc.returncode} after {seconds:.0f} s")
    return seconds


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _inference_work(profile: str) -> dict | None:
    """What the inference stage decoded (its results/<profile>/inference_run.json) against the GEMM
    limit of results/benchmarks/ceiling.json: FLOPs = 2 x the linear layers' weights per generated
    token, 2 x those without the LM head per uncached prompt token (prefill computes logits only for
    the last one). Engine start is excluded (it is stated separately)."""
    run_file = REPO / "results" / profile / "inference_run.json"
    ceiling_file = REPO / "results" / "benchmarks" / "ceiling.json"
    if not run_file.is_file():
        return None
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_ceiling import linear_layers, model_shapes, weights

    run = json.loads(run_file.read_text())
    shapes = model_shapes(REPO / "models" / profile / "pretrained" / "base" / "config.json")
    all_weights = weights(linear_layers(shapes))
    head = shapes["hidden_size"] * shapes["vocab_size"]
    prefill = run["prompt_tokens"] - run["cached_prompt_tokens"]
    flops = 2 * all_weights * run["generated_tokens"] + 2 * (all_weights - head) * prefill
    seconds = run["generate_s"]
    out = {k: run[k] for k in ("engine_calls", "largest_engine_call", "engine_requests", "merge_jobs",
                               "prompt_tokens", "cached_prompt_tokens", "generated_tokens", "generate_s",
                               "engine_start_s", "rows_written") if k in run}
    if seconds:
        out["generated_tokens_per_s"] = round(run["generated_tokens"] / seconds, 1)
        out["achieved_gflops"] = round(flops / seconds / 1e9, 1)
    if ceiling_file.is_file() and seconds:
        ceiling = json.loads(ceiling_file.read_text())
        limit = max(v["gflops"] for v in ceiling["ceiling"]["float32"].values())
        out["fp32_gemm_limit_gflops"] = limit
        out["fraction_of_gemm_limit"] = round(flops / seconds / 1e9 / limit, 3)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warm", action="store_true", help="keep data/<profile>/shards (the data stage reuses them)")
    ap.add_argument("--out", type=Path, default=None, help="JSON path (default results/benchmarks/repro_<profile>.json)")
    args = ap.parse_args(argv)

    profile = yaml.safe_load((REPO / "params.yaml").read_text())["profile"]
    if not (REPO / "models" / profile / "pretrained").exists():
        raise SystemExit(f"models/{profile}/pretrained is missing: run `make setup` (and `dvc repro assets`) first")
    if not args.warm:
        for kept in (REPO / "data" / profile / "shards", REPO / "checkpoints" / profile,
                     REPO / "generations" / profile):
            if kept.exists():
                print(f"cold run: deleting {kept.relative_to(REPO)} (resumable progress)", flush=True)
                shutil.rmtree(kept)

    started = datetime.now(UTC)
    seconds = {}
    inference_work = None
    for stage in STAGES:
        seconds[stage] = round(_run([_dvc(), "repro", "--force", "--single-item", stage]), 1)
        print(f"[bench_repro] {stage}: {seconds[stage]:.0f} s", flush=True)
        if stage == "inference":  # read now: a later re-run of the stage (nothing to do) rewrites the file
            inference_work = _inference_work(profile)
    total = round(sum(seconds.values()), 1)
    noop_s = round(_run([_dvc(), "repro"]), 1)
    status = subprocess.run([_dvc(), "status"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    up_to_date = "up to date" in status.lower() or status == ""

    budget = BUDGET_S.get(profile)
    doc = {
        "benchmark": "bench_repro",
        "profile": profile,
        "cold": not args.warm,
        "stages_s": seconds,
        "total_s": total,
        "total_min": round(total / 60, 1),
        "budget_s": budget,
        "target_met": None if budget is None else total <= budget,
        "inference_work": inference_work,
        "noop_repro_s": noop_s,
        "up_to_date_after": up_to_date,
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "code_revision": _git("rev-parse", "HEAD"),
        "code_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "note": "assets stage not timed (done by setup); every other stage forced, in pipeline order",
    }
    out = args.out or REPO / "results" / "benchmarks" / f"repro_{profile}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps({k: doc[k] for k in ("profile", "stages_s", "total_min", "target_met", "up_to_date_after")}))
    print(f"wrote {out}")
    return doc


if __name__ == "__main__":
    main()
