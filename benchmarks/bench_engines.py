"""Which CPU engine: transformers vs vLLM (eager and compiled), end to end, engine start included.

    python benchmarks/bench_engines.py                 # mini model, the mini inference workload on 8 prompts
    python benchmarks/bench_engines.py --quick         # ci model, 2 prompts, windows 16 32: a smoke run
    python benchmarks/bench_engines.py --configs transformers vllm-eager
    python benchmarks/bench_engines.py --model-dir models/mini/sft --configs vllm-eager vllm-eager-lora \
        --out results/benchmarks/engines_lora.json  # merged SFT weights vs base + LoRA adapter on one engine

Every configuration runs in its own process, one after the other (two torch processes at once
oversubscribe the cores), on the same workload: the profile's STW window sweep (mini: corrected
mode, answer budget 128, windows 64/128/256, max_tokens 384, greedy) over the first ``--problems``
HumanEval prompts.  Reported per configuration: engine start (model load, and for vLLM the engine
process, KV-cache set-up and, compiled, the torch.compile / graph warm-up), generation wall time,
their sum, decoded tokens and tokens per second of generation, peak RSS of the process (vLLM's
engine process not included), and how many final answers differ from the transformers run (fp32
kernels differ between the engines, so a near-tie can flip a greedy token).  Writes
results/benchmarks/engines.json.  The `mini` profile's ``inference.engine`` and
``engine_options`` are chosen from this measurement (README, "Choosing the CPU engine").
``vllm-eager-lora`` runs a LoRA-trained model as base + adapter (``engines.adapter.AdapterView``,
what ``inference.share_lora_engine`` does) instead of its merged weights.  ``vllm-eager-spawn`` runs
vLLM's engine core in its own process, as vLLM does by default, against ``vllm-eager``'s in-process
core (``z1.engines.vllm``'s default on CPU):

    python benchmarks/bench_engines.py --configs vllm-eager vllm-eager-spawn --out results/benchmarks/engines_process.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

from _isolated import run_isolated

REPO = Path(__file__).resolve().parents[1]
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "DO_NOT_TRACK"):
    os.environ.setdefault(_var, "1")

CONFIGS = {
    "transformers": ("transformers", {"batch_size": 8}),
    "vllm-eager": ("vllm", {"enforce_eager": True, "llm_kwargs": {"kv_cache_memory_bytes": 1 << 30}}),
    "vllm-compiled": ("vllm", {"enforce_eager": False, "llm_kwargs": {"kv_cache_memory_bytes": 1 << 30}}),
    # the SFT model as base + LoRA adapter on one engine (--model-dir must hold adapter/)
    "vllm-eager-lora": ("vllm", {"enforce_eager": True, "enable_lora": True, "max_lora_rank": 16, "max_loras": 1,
                                 "llm_kwargs": {"kv_cache_memory_bytes": 1 << 30}}),
    # vLLM's engine core in its own process (vLLM's default; ours on CPU is in-process, z1.engines.vllm)
    "vllm-eager-spawn": ("vllm", {"enforce_eager": True, "llm_kwargs": {"kv_cache_memory_bytes": 1 << 30}}),
    # bfloat16 weights and activations (compute.dtype: bfloat16); fast only where the CPU has avx512_bf16 / AMX
    "vllm-eager-bf16": ("vllm", {"dtype": "bfloat16", "enforce_eager": True,
                                 "llm_kwargs": {"kv_cache_memory_bytes": 1 << 30}}),
}
ENV = {"vllm-eager-spawn": {"VLLM_ENABLE_V1_MULTIPROCESSING": "1"}}  # set in the configuration's process


def _work(name: str, model_dir: str, workload: dict, queue) -> None:
    from z1 import benchmarks
    from z1.engines import make_engine
    from z1.thinking import window_sweep

    backend, options = CONFIGS[name]
    os.environ.update(ENV.get(name, {}))
    adapter = Path(model_dir) / "adapter" if options.get("enable_lora") else None
    if adapter is not None:
        model_dir = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    t0 = time.perf_counter()
    engine = make_engine(backend, model_dir, **options)
    start = time.perf_counter() - t0
    if adapter is not None:
        from z1.engines.adapter import AdapterView

        engine = AdapterView(engine, adapter)
    try:
        problems = benchmarks.load(workload["benchmark"], n=workload["problems"])
        prompts = [engine.encode_chat(p.messages, assistant_prefill=p.assistant_prefill) for p in problems]
        t1 = time.perf_counter()
        out = window_sweep(engine, prompts, workload["windows"], max_tokens=workload["max_tokens"],
                           **workload["method"])
        gen = time.perf_counter() - t1
        info = engine.info()
    finally:
        getattr(engine, "engine", engine).close()
    decoded = sum(len(r.pass2_token_ids or ()) for w in out for r in out[w])
    decoded += sum(len(r.pass1_token_ids) for r in out[max(out)])
    queue.put({
        "engine": info["engine"], "engine_version": info["engine_version"], "options": info["options"],
        "engine_process": info.get("engine_process"),
        "engine_start_s": round(start, 2), "generate_s": round(gen, 2), "total_s": round(start + gen, 2),
        "decoded_tokens": decoded, "tokens_per_s": round(decoded / gen, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "answers": {str(w): [r.answer for r in out[w]] for w in out},
    })


def main() -> None:
    from z1.config import load_profile

    inf = load_profile("mini")["inference"]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", default=str(REPO / "models" / "mini" / "pretrained" / "base"))
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    ap.add_argument("--problems", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="ci model, 2 prompts, windows 16 32, max_tokens 48")
    ap.add_argument("--out", default=None, help="default results/benchmarks/engines.json (--quick: engines_quick.json)")
    a = ap.parse_args()
    method = {k: v for k, v in inf["methods"]["stw"].items() if k != "function"}
    workload = {"benchmark": "humaneval", "problems": a.problems, "windows": list(inf["windows"]),
                "max_tokens": int(inf["max_tokens"]), "method": method}
    if a.quick:
        a.model_dir = str(REPO / "models" / "ci" / "pretrained" / "base")
        workload.update(problems=2, windows=[16, 32], max_tokens=48, method={"mode": "corrected", "answer_budget": 16})
    out = Path(a.out or REPO / "results" / "benchmarks" / ("engines_quick.json" if a.quick else "engines.json"))
    results = {}
    for name in a.configs:
        print(f"running {name} ...", flush=True)
        results[name] = run_isolated(_work, name, a.model_dir, workload)
    ref_name = "transformers" if "transformers" in results else next(iter(results))
    ref = results[ref_name]
    for r in results.values():
        r["answers_differing_from_" + ref_name] = sum(
            x != y for w in ref["answers"] for x, y in zip(ref["answers"][w], r["answers"][w], strict=True))
    fastest = min(results, key=lambda k: results[k]["total_s"])
    summary = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "model_dir": os.path.relpath(a.model_dir, REPO), "workload": workload,
        "configs": {k: {kk: vv for kk, vv in v.items() if kk != "answers"} for k, v in results.items()},
        "fastest_end_to_end": fastest, "answers_compared_with": ref_name,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{'config':16}{'start s':>9}{'generate s':>12}{'total s':>9}{'tok/s':>8}{'RSS MiB':>9}"
          f"{'answers != ' + ref_name:>26}")
    for k, r in summary["configs"].items():
        print(f"{k:16}{r['engine_start_s']:>9.1f}{r['generate_s']:>12.1f}{r['total_s']:>9.1f}{r['tokens_per_s']:>8.1f}"
              f"{r['peak_rss_mib']:>9}{r['answers_differing_from_' + ref_name]:>26}")
    print(f"fastest end to end: {fastest}; wrote {out}")


if __name__ == "__main__":
    main()
