"""Inference stage: models x benchmarks x methods x windows -> one JSONL row per sample.

Output layout: `<out_dir>/<model>/<benchmark>/<method>.jsonl`, one row per (window, problem,
sample) with the problem (so grading never needs the loader), the method's record (pass-1/pass-2
tokens and text, answer, thinking tokens) and full provenance.

Methods: ``inference.methods`` maps a name to a function of ``z1.thinking.METHODS`` and its options;
a method's optional ``models`` list restricts it to those models (the mini profile runs the four
test-time controls on the fine-tuned model only), and its optional ``windows`` and ``max_tokens``
replace the section's (the paper's R1-Distill curve needs windows up to 8192). Each benchmark's stop
strings (``benchmarks.stop_strings``: the authors' LiveCodeBench and BigCodeBench lists) are passed to
the method as ``stop`` unless the method sets its own; the method decides what they end (STW paper
mode: the thinking window too, as the authors' code; corrected mode: the answer only, unless
``stop_ends_window``). Within one model and benchmark the engine is
wrapped in ``engines.memo.MemoView``, so a greedy request two methods share (the first pass of both
STW modes and of s1 budget forcing) is decoded once.

Resumable: problems are processed in batches; a batch's rows are appended and flushed when the
batch finishes, so killing the run loses at most the batch in flight, and a restart skips every
(window, problem, sample) already on disk. Under greedy decoding the rows do not depend on batch
boundaries, so an interrupted-and-resumed run ends with the same rows as an uninterrupted one
(except wall-clock timings and prefix-cache hit counts, which describe the run, not the result).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from z1 import benchmarks, checkpoint, generations, provenance, thinking
from z1.engines import make_engine
from z1.engines.adapter import AdapterView, adapter_for
from z1.engines.base import Sampling
from z1.engines.gather import Gather
from z1.engines.memo import MemoView
from z1.generations import read_generations  # noqa: F401 - the stage's reader, used as inference.read_generations


class InferenceError(ValueError):
    """An inference setting is unusable (unknown model key, method, empty windows...)."""


PLAN_KEYS = ("function", "models", "windows", "max_tokens")  # what a method entry says besides its options


def method_function(name: str) -> Callable:
    fn = thinking.METHODS.get(name)
    if fn is None:
        raise InferenceError(f"unknown test-time method function {name!r}; known: {sorted(thinking.METHODS)}")
    return fn


def method_plan(inf: Mapping) -> dict[str, list[str]]:
    """For each method, the model keys it runs on: a method's optional ``models`` list (e.g. the
    test-time controls only on the fine-tuned model), else every model. Checked before any engine
    starts: unknown functions or model keys are clear errors."""
    plan = {}
    for name, mcfg in (inf.get("methods") or {}).items():
        mcfg = mcfg or {}
        method_function(mcfg.get("function", "shifted_thinking_window"))
        models = list(mcfg.get("models") or inf["models"])
        unknown = [m for m in models if m not in inf["models"]]
        if unknown:
            raise InferenceError(f"method {name!r} names models {unknown} that are not in inference.models "
                                 f"{list(inf['models'])}")
        for key, value in (("windows", mcfg.get("windows")), ("max_tokens", mcfg.get("max_tokens"))):
            values = value if key == "windows" else [value]
            if value is not None and (not isinstance(values, list) or not values or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values)):
                raise InferenceError(f"method {name!r}: {key} must be {'a list of ints' if key == 'windows' else 'an int'}"
                                     f" >= 1, got {value!r}")
        plan[name] = models
    if not plan:
        raise InferenceError("no test-time methods configured (inference.methods is empty)")
    return plan


def planned_keys(problems: list, windows: Iterable[int], n: int, key_base: Mapping) -> dict[tuple, str]:
    """``{(window, problem_id, sample_index): row_key}`` of every row one file should hold."""
    out = {}
    for p in problems:
        prompt = [p.messages, p.assistant_prefill]
        for w in sorted({int(w) for w in windows}):
            for s in range(n):
                out[(w, p.problem_id, s)] = generations.row_key(key_base, problem_id=p.problem_id, prompt=prompt,
                                                                window=w, sample_index=s)
    return out


@dataclass
class FileWork:
    """One (model, benchmark, method) file: what it should hold and the batches still missing."""

    out_path: Path
    method_name: str
    fn_name: str
    options: dict
    windows: list[int]
    max_tokens: int
    sampling: Sampling
    stop: tuple[str, ...]
    key_base: dict
    keys: dict[tuple, str]
    done: set[str]
    todo: list[list]  # batches of problems with at least one missing row

    @property
    def label(self) -> str:
        return f"{self.key_base.get('model')}/{self.key_base.get('benchmark')}/{self.method_name}"


def plan_file(problems: list, *, out_path: Path, method_name: str, method_cfg: Mapping, windows: Iterable[int],
              max_tokens: int, sampling: Sampling, batch_size: int, key_base: Mapping,
              stop: Iterable[str] = ()) -> FileWork:
    """Read what ``out_path`` holds (repairing a torn last line, dropping rows no longer planned) and
    list the batches of ``problems`` that still miss a row. ``stop``: the benchmark's stop strings,
    given to the method unless its options set ``stop``."""
    windows = sorted({int(w) for w in windows})
    if not windows:
        raise InferenceError("no windows configured")
    keys = planned_keys(problems, windows, sampling.n, key_base)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    generations.repair_torn_tail(out_path)
    done = generations.existing_keys(out_path)  # a damaged line in the middle is an error naming it
    generations.keep_only(out_path, set(keys.values()))  # stale rows (a setting changed) go
    done &= set(keys.values())
    batches = [problems[i:i + batch_size] for i in range(0, len(problems), batch_size)]
    todo = [b for b in batches if any(keys[(w, p.problem_id, s)] not in done
                                      for p in b for w in windows for s in range(sampling.n))]
    return FileWork(out_path, method_name, method_cfg.get("function", "shifted_thinking_window"),
                    {k: v for k, v in method_cfg.items() if k not in PLAN_KEYS}, windows, max_tokens, sampling,
                    tuple(stop), dict(key_base), keys, done, todo)


def generate_file(work: FileWork, engine, row_base: Mapping, *, on_batch: Callable[[], None] | None = None) -> int:
    """Generate ``work``'s missing batches, appending and flushing each batch's rows when it ends
    (a kill loses at most the batch in flight); returns rows written."""
    written = 0
    n = work.sampling.n
    for batch in work.todo:
        pending = [w for w in work.windows
                   if any(work.keys[(w, p.problem_id, s)] not in work.done for p in batch for s in range(n))]
        prompts = [engine.encode_chat(p.messages, assistant_prefill=p.assistant_prefill) for p in batch]
        t0 = time.perf_counter()
        by_window = thinking.window_sweep(engine, prompts, pending, function=work.fn_name,
                                          max_tokens=work.max_tokens, sampling=work.sampling,
                                          **{"stop": work.stop, **work.options})
        elapsed = time.perf_counter() - t0
        lines = []
        for w in pending:
            for record in by_window[w]:
                problem = batch[record.prompt_index]
                key = work.keys[(w, problem.problem_id, record.sample_index)]
                if key in work.done:
                    continue
                lines.append(json.dumps({
                    **row_base,
                    "method": work.method_name,
                    "method_function": work.fn_name,
                    "method_options": work.options,
                    "window": w,
                    "max_tokens": work.max_tokens,
                    "stop": list(work.stop),
                    "sampling": work.sampling.__dict__,
                    "problem_id": problem.problem_id,
                    "sample_index": record.sample_index,
                    "row_key": key,
                    "problem": problem.to_dict(),
                    "record": record.to_dict(),
                    "batch_seconds": elapsed,
                }, ensure_ascii=False))
                work.done.add(key)
        with work.out_path.open("a") as f:
            f.write("".join(line + "\n" for line in lines))
            f.flush()
        written += len(lines)
        if on_batch is not None:
            on_batch()
    return written


def engine_plan(inf: Mapping, model_dirs: Mapping[str, Path]) -> dict[str, str | None]:
    """For each model key, the key of the model whose engine it shares (as a LoRA adapter), or None.

    Only on vLLM with ``share_lora_engine`` (default true): a model whose directory holds
    ``adapter/`` trained on another configured model's directory (see ``engines.adapter``) runs
    on that model's engine, which is then built with ``enable_lora=True``.
    """
    plan: dict[str, str | None] = {k: None for k in inf["models"]}
    if str(inf["engine"]).lower() != "vllm" or not inf.get("share_lora_engine", True):
        return plan
    for key in inf["models"]:
        for other in inf["models"]:
            if other != key and plan[other] is None and adapter_for(model_dirs[key], model_dirs[other]):
                plan[key] = other
                break
    return plan


def _lora_rank(adapter_dir: Path) -> int:
    return int(json.loads((adapter_dir / "adapter_config.json").read_text()).get("r", 16))


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def validate(inf: Mapping, model_dirs: Mapping[str, Path]) -> dict[str, list]:
    """Check the inference section before any engine starts, so a bad setting fails in seconds with
    one line naming it, not after minutes of generating for the settings before it; returns each
    benchmark's problems (loaded once, here)."""
    windows = inf.get("windows")
    if not isinstance(windows, list) or not windows or not all(_positive_int(w) for w in windows):
        raise InferenceError(f"inference.windows must be a non-empty list of ints >= 1, got {windows!r}")
    for key in ("max_tokens", "batch_size"):
        if not _positive_int(inf.get(key)):
            raise InferenceError(f"inference.{key} must be an int >= 1, got {inf.get(key)!r}")
    if not isinstance(inf.get("merge_jobs", False), bool):
        raise InferenceError(f"inference.merge_jobs must be true or false, got {inf.get('merge_jobs')!r}")
    models = inf.get("models")
    if not isinstance(models, list) or not models:
        raise InferenceError(f"inference.models must be a non-empty list of model keys, got {models!r}")
    missing = [m for m in models if m not in model_dirs or not Path(model_dirs[m]).is_dir()]
    if missing:
        where = ", ".join(f"{m}: {model_dirs.get(m, 'no directory')}" for m in missing)
        raise InferenceError(f"inference.models {missing} have no model directory ({where}); add them to "
                             "the profile's assets.models and run `dvc repro assets` (sft: the sft stage), "
                             "or remove them from inference.models")
    if str(inf.get("engine", "")).lower() in ("transformers", "hf", "vllm"):
        for m in models:  # complete and not truncated, before any engine starts
            checkpoint.check_model_dir(model_dirs[m])
    benches = inf.get("benchmarks")
    if not isinstance(benches, dict) or not benches:
        raise InferenceError(f"inference.benchmarks must name at least one benchmark, got {benches!r}")
    problems = {}
    for name, bench_cfg in benches.items():
        if name not in benchmarks.BENCHMARKS:
            raise InferenceError(f"inference.benchmarks: unknown benchmark {name!r}; known: {sorted(benchmarks.BENCHMARKS)}")
        n = (bench_cfg or {}).get("n")
        if n is not None and not _positive_int(n):
            raise InferenceError(f"inference.benchmarks.{name}.n must be an int >= 1 or null (all), got {n!r}")
        problems[name] = benchmarks.load(name, **dict(bench_cfg or {}))
        if not problems[name]:
            raise InferenceError(f"inference.benchmarks.{name} selects no problem ({bench_cfg!r})")
    method_plan(inf)
    for name, mcfg in (inf.get("methods") or {}).items():  # one-pass STW: settings it cannot reproduce
        opts = {k: v for k, v in (mcfg or {}).items() if k not in PLAN_KEYS}
        if opts.pop("one_pass", False):
            for bench in benches:
                try:
                    thinking.check_one_pass(**{"stop": benchmarks.stop_strings(bench), **opts})
                except ValueError as e:
                    raise InferenceError(f"inference.methods.{name}.one_pass on {bench}: {e}") from None
    return problems


def _job(view, *, work: FileWork, row_base: Mapping, on_batch: Callable[[], None]) -> int:
    return generate_file(work, view, row_base, on_batch=on_batch)


def run(cfg: Mapping, *, model_dirs: Mapping[str, Path], out_dir: Path, progress: bool = True,
        summary_path: Path | None = None) -> dict:
    """Run the inference section of a profile (`cfg` = load_profile(...)). Returns a summary.

    Per model: every file's missing batches are listed first (a model whose rows all exist starts no
    engine); then its engine, behind one ``MemoView`` (a greedy request two methods share is decoded
    once), generates them: with ``merge_jobs`` every (benchmark, method) file runs as a job of one
    ``Gather``, so each engine call holds the current round of all of them; otherwise file by file.
    The summary (rows written, engine calls, seconds starting engines and generating, prompt and
    generated tokens) is also written to ``summary_path`` when given."""
    inf, compute = cfg["inference"], cfg["compute"]
    problems_of = validate(inf, model_dirs)
    s = inf["sampling"]
    sampling = Sampling(temperature=float(s.get("temperature", 0.0)), top_p=float(s.get("top_p", 1.0)),
                        seed=s.get("seed"), n=int(s.get("n", 1)))
    methods = method_plan(inf)
    plan = engine_plan(inf, model_dirs)
    merge = bool(inf.get("merge_jobs", False))
    summary: dict = {"rows_written": 0, "files": [], "shared_engines": {k: v for k, v in plan.items() if v},
                     "greedy_requests_reused": 0, "engines_started": 0, "merge_jobs": merge,
                     "engine_calls": 0, "engine_requests": 0, "largest_engine_call": 0,
                     "engine_start_s": 0.0, "generate_s": 0.0, "prompt_tokens": 0, "cached_prompt_tokens": 0,
                     "generated_tokens": 0}
    engines: dict[str, object] = {}  # owner key -> engine, closed when its last user is done

    def engine_for(model_key: str):
        owner = plan[model_key] or model_key
        if owner not in engines:
            options = dict(inf.get("engine_options") or {})
            users = [k for k, v in plan.items() if v == owner]
            if users:
                ranks = [_lora_rank(Path(model_dirs[k]) / "adapter") for k in users]
                options.update(enable_lora=True, max_loras=max(len(users), int(options.get("max_loras", 1))),
                               max_lora_rank=max(ranks + [int(options.get("max_lora_rank", 8))]))
            t0 = time.perf_counter()
            engines[owner] = make_engine(inf["engine"], Path(model_dirs[owner]), device=compute["device"],
                                         dtype=compute["dtype"], **options)
            summary["engine_start_s"] += time.perf_counter() - t0
            summary["engines_started"] += 1
        engine = engines[owner]
        return AdapterView(engine, Path(model_dirs[model_key]) / "adapter") if plan[model_key] else engine

    try:
        for i, model_key in enumerate(inf["models"]):
            model_dir = Path(model_dirs[model_key])
            model = {"model": model_key, "model_fingerprint": generations.model_fingerprint(model_dir),
                     "engine": inf["engine"], "engine_options": dict(inf.get("engine_options") or {}),
                     "shared_engine": plan[model_key], "dtype": compute["dtype"]}
            works: list[tuple[str, dict, FileWork]] = []
            for bench_name, bench_cfg in inf["benchmarks"].items():
                bench_cfg = dict(bench_cfg or {})
                stop = benchmarks.stop_strings(bench_name)
                for method_name, method_cfg in inf["methods"].items():
                    if model_key not in methods[method_name]:
                        continue
                    out_path = out_dir / model_key / bench_name / f"{method_name}.jsonl"
                    method_cfg = method_cfg or {}
                    max_tokens = int(method_cfg.get("max_tokens") or inf["max_tokens"])
                    key_base = {**model, "benchmark": bench_name, "benchmark_options": bench_cfg,
                                "method": method_name, "method_function": method_cfg.get("function",
                                                                                         "shifted_thinking_window"),
                                "method_options": {k: v for k, v in method_cfg.items() if k not in PLAN_KEYS},
                                "max_tokens": max_tokens, "stop": list(stop), "sampling": sampling.__dict__}
                    works.append((bench_name, bench_cfg, plan_file(
                        problems_of[bench_name], out_path=out_path, method_name=method_name, method_cfg=method_cfg,
                        windows=method_cfg.get("windows") or inf["windows"], max_tokens=max_tokens,
                        sampling=sampling, batch_size=int(inf["batch_size"]), key_base=key_base, stop=stop)))
                    summary["files"].append(str(out_path))
            todo = [(b, c, w) for b, c, w in works if w.todo]
            if todo:
                memo = MemoView(engine_for(model_key))
                base = {**provenance.base(cfg["name"]), "model": model_key,
                        "model_source": provenance.model_manifest(model_dir),
                        "model_fingerprint": model["model_fingerprint"], "engine": memo.info(),
                        "dtype": compute["dtype"]}
                row_bases = [{**base, "benchmark": b, "benchmark_options": c} for b, c, _ in todo]
                bar = tqdm(total=sum(len(w.todo) for *_, w in todo), unit="batch", disable=not progress,
                           desc=f"{model_key}: {len(todo)} files" + (", merged" if merge else ""))
                step = functools.partial(bar.update, 1)
                t0 = time.perf_counter()
                if merge:
                    gather = Gather(memo)
                    counts = gather.run([
                        functools.partial(_job, work=w, row_base=rb, on_batch=step)
                        for (_, _, w), rb in zip(todo, row_bases, strict=True)])
                    summary["engine_calls"] += gather.calls
                    summary["engine_requests"] += gather.requests
                    summary["largest_engine_call"] = max(summary["largest_engine_call"], gather.largest)
                else:
                    counts = [generate_file(w, memo, rb, on_batch=step)
                              for (_, _, w), rb in zip(todo, row_bases, strict=True)]
                bar.close()
                summary["generate_s"] += time.perf_counter() - t0
                summary["rows_written"] += sum(counts)
                summary["greedy_requests_reused"] += memo.hits
                for k in ("prompt_tokens", "cached_prompt_tokens", "generated_tokens"):
                    summary[k] += getattr(memo, k)
            owner = plan[model_key] or model_key
            if owner in engines and not any((plan[k] or k) == owner for k in inf["models"][i + 1:]):
                engines.pop(owner).close()
        summary["stale_files_removed"] = generations.remove_unplanned(out_dir, summary["files"])
    finally:
        for engine in engines.values():
            engine.close()
    for k in ("engine_start_s", "generate_s"):
        summary[k] = round(summary[k], 2)
    if summary_path is not None:
        Path(summary_path).parent.mkdir(parents=True, exist_ok=True)
        Path(summary_path).write_text(json.dumps({"provenance": provenance.base(cfg["name"]), **summary,
                                                  "files": [_relative(f) for f in summary["files"]]},
                                                 indent=2) + "\n")
    return summary


def _relative(path: str) -> str:
    """A repository-relative path where it is one (results never carry this machine's absolute paths)."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix() if p.is_absolute() else p.as_posix()
    except ValueError:
        return p.as_posix()
