"""The CPU's arithmetic limit for the mini model, and how close the measured stages come to it.

    python benchmarks/bench_ceiling.py            # ~1 min on 2 cores; writes results/benchmarks/ceiling.json

Decoding one token of Qwen2.5-Coder-0.5B-Instruct costs 2 FLOPs per weight of its linear layers
(24 layers of q/k/v/o and gate/up/down projections, plus the untied LM head): ~1 GFLOP. This script
times torch's matrix multiply on exactly those shapes (activations [batch, in] x weights [in, out],
the decode step of `batch` sequences) in float32 and bfloat16, with the torch threads the profiles use,
and turns the time per step into the GEMM-limited rate: batch / seconds per step, in tokens/s
(attention over the KV cache, norms and sampling are left out, so the true limit is a little lower).

With the mini model present (`models/mini/pretrained/base`, after `dvc repro`), it then measures in
the same run, each engine in its own spawned process, both engines (float32, greedy, HumanEval chat
prompts, engine start excluded) at a small and a large batch: the prompts' prefill alone, then 64 new
tokens after it, and reports the decode rate as a fraction of the float32 limit (the best GEMM rate
over the batch sizes: the arithmetic limit full batches could reach) and of the GEMM rate at its own
batch size, and the prefill's FLOP rate as a fraction of the peak. vLLM runs twice, with its own CPU
default (one of the two cores reserved for its scheduler process) and with both cores for the model
(what ``z1.engines.vllm`` sets). It also reads
the SFT rates of `results/benchmarks/sft.json` (an earlier session: 6 FLOPs per weight per trained
token for a full fine-tune; LoRA: 4 per frozen weight, forward and input gradients).
Nothing here is a pass/fail test; the numbers go to the JSON and the README ("Throughput").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
# Qwen2.5-Coder-0.5B-Instruct (models/mini/pretrained/base/config.json); read from there when present.
DEFAULT_SHAPES = {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                  "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936}


def model_shapes(config_path: Path) -> dict:
    if config_path.is_file():
        cfg = json.loads(config_path.read_text())
        return {k: int(cfg[k]) for k in DEFAULT_SHAPES}
    return dict(DEFAULT_SHAPES)


def linear_layers(s: dict) -> list[tuple[int, int, int]]:
    """(in, out, count) of every matmul of one decode step."""
    h, kv = s["hidden_size"], s["hidden_size"] // s["num_attention_heads"] * s["num_key_value_heads"]
    per_layer = [(h, h), (h, kv), (h, kv), (h, h), (h, s["intermediate_size"]), (h, s["intermediate_size"]),
                 (s["intermediate_size"], h)]
    return [(i, o, s["num_hidden_layers"]) for i, o in per_layer] + [(h, s["vocab_size"], 1)]


def weights(layers) -> int:
    return sum(i * o * n for i, o, n in layers)


def seconds_per_step(layers, batch: int, dtype: torch.dtype, repeats: int) -> float:
    """Best of `repeats` timings of one decode step's matmuls (each shape timed once, times its count)."""
    total = 0.0
    for i, o, n in layers:
        x, w = torch.randn(batch, i, dtype=dtype), torch.randn(i, o, dtype=dtype)
        x @ w  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            x @ w
            best = min(best, time.perf_counter() - t)
        total += best * n
    return total


VLLM = {"enforce_eager": True, "max_model_len": 2048, "llm_kwargs": {"kv_cache_memory_bytes": 1 << 30}}
# name -> (engine, options, batch sizes, environment); "vllm_reserved_core" is vLLM's own default on CPU
# (one core kept for its scheduler process), which z1.engines.vllm overrides since this measurement
DECODE = {"transformers": ("transformers", {"batch_size": 64}, (8, 32), {}),
          "vllm": ("vllm", VLLM, (8, 64), {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}),
          "vllm_reserved_core": ("vllm", VLLM, (8, 64), {"VLLM_CPU_NUM_OF_RESERVED_CPU": "1"})}


def _decode(name: str, model_dir: str, threads: int, new_tokens: int, queue) -> None:
    """Per batch size: the prompts' prefill alone (1 new token), then decoding ``new_tokens`` after
    them (the prompts + 1 token: vLLM takes the prefill from its prefix cache), in a spawned process."""
    backend, options, batches, env = DECODE[name]
    os.environ.update(env)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    torch.set_num_threads(threads)
    from z1 import benchmarks
    from z1.engines import make_engine
    from z1.engines.base import Request

    engine = make_engine(backend, model_dir, device="cpu", dtype="float32", **options)
    try:
        prompts = [engine.encode_chat(p.messages) for p in benchmarks.load("humaneval", n=max(batches))]
        out = {}
        for b in batches:
            t = time.perf_counter()
            first = engine.generate([Request(tuple(p), 1) for p in prompts[:b]], retain=True)
            prefill_s = time.perf_counter() - t
            t = time.perf_counter()
            done = engine.generate([Request(tuple(p) + (cs[0].token_ids[0],), new_tokens)
                                    for p, cs in zip(prompts[:b], first, strict=True)])
            seconds = time.perf_counter() - t
            tokens = sum(len(c.token_ids) for cs in done for c in cs)
            cached = sum(cs[0].cached_prompt_tokens or 0 for cs in done)
            out[str(b)] = {"prompt_tokens": sum(len(p) for p in prompts[:b]), "prefill_seconds": round(prefill_s, 2),
                           "tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
                           "decode_prompt_tokens_from_cache": cached}
        queue.put(out)
    finally:
        engine.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 16, 64, 256, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--no-decode", action="store_true", help="GEMM ceiling only (no model needed)")
    parser.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "ceiling.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    shapes = model_shapes(REPO / "models" / "mini" / "pretrained" / "base" / "config.json")
    layers = linear_layers(shapes)
    n_weights = weights(layers)
    flops_per_token = 2 * n_weights
    ceiling = {}
    skipped = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        ceiling[name] = {}
        for b in args.batches:
            if name == "bfloat16" and b > 1 and ceiling["bfloat16"]["1"]["tokens_per_s"] < ceiling["float32"]["1"]["tokens_per_s"] / 4:
                skipped[f"bfloat16 batch {b}"] = "bf16 is emulated here (AVX2 only): minutes per step, not measured"
                continue
            s = seconds_per_step(layers, b, dtype, args.repeats)
            ceiling[name][str(b)] = {"tokens_per_s": round(b / s, 1), "gflops": round(b * flops_per_token / s / 1e9, 1)}
            print(f"{name:9s} batch {b:4d}: {b / s:8.1f} tok/s ceiling ({b * flops_per_token / s / 1e9:6.1f} GFLOPS)")

    limit = max(v["tokens_per_s"] for v in ceiling["float32"].values())  # the arithmetic limit (large batch)
    peak_gflops = max(v["gflops"] for v in ceiling["float32"].values())

    def fractions(rate: float, batch: int) -> dict:
        near = min(args.batches, key=lambda b: abs(b - batch))
        return {"fraction_of_fp32_limit": round(rate / limit, 3),
                f"fraction_of_fp32_gemm_at_batch_{near}": round(rate / ceiling["float32"][str(near)]["tokens_per_s"], 3)}

    measured = {}
    model_dir = REPO / "models" / "mini" / "pretrained" / "base"
    if not args.no_decode and (model_dir / "config.json").is_file():
        sys.path.insert(0, str(Path(__file__).parent))
        from _isolated import run_isolated

        head = shapes["hidden_size"] * shapes["vocab_size"]
        for name in DECODE:
            for b, r in run_isolated(_decode, name, str(model_dir), args.threads, args.new_tokens).items():
                # prefill computes logits for the last position only: 2 FLOPs per weight without the LM head
                prefill_gflops = 2 * (n_weights - head) * r["prompt_tokens"] / r["prefill_seconds"] / 1e9
                measured[f"decode:{name}:batch_{b}"] = {
                    **r, **fractions(r["tokens_per_s"], int(b)),
                    "prefill_tokens_per_s": round(r["prompt_tokens"] / r["prefill_seconds"], 1),
                    "prefill_fraction_of_fp32_gemm_peak": round(prefill_gflops / peak_gflops, 3)}
    else:
        skipped["decode"] = "no models/mini/pretrained/base (run `dvc repro assets`) or --no-decode"
    sft = REPO / "results" / "benchmarks" / "sft.json"
    if sft.is_file():
        doc = json.loads(sft.read_text())
        per_token = {"padded": 4 * n_weights, "packed": 4 * n_weights, "full_padded": 6 * n_weights}
        peak = ceiling["float32"][str(max(args.batches))]["gflops"] * 1e9  # training runs large matmuls
        for name, r in doc["results"].items():
            achieved = r["tokens_per_second"] * per_token[name]
            measured[f"sft:{name}"] = {"tokens_per_s": round(r["tokens_per_second"], 1),
                                       "flops_per_token": per_token[name],
                                       "fraction_of_fp32_gemm_rate": round(achieved / peak, 3)}
    for k, v in measured.items():
        print(f"{k:28s} {v}")
    out = {"model_weights_in_linear_layers": n_weights, "flops_per_decoded_token": flops_per_token,
           "threads": args.threads, "fp32_limit_tokens_per_s": limit, "ceiling": ceiling, "skipped": skipped,
           "measured": measured,
           "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                       "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S")}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {Path(args.out).relative_to(REPO) if Path(args.out).is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
