"""CodeI/O tasks: the offline PROBLEM POOL for data construction (the teacher answers these).

Not an evaluation benchmark of the paper. The paper's pool is Code Evol-Instruct, which has no
tests; CodeI/O rows come with a reference ``main_solution`` and an input generator, so a
constructed trajectory can be checked for correctness.

Data: ``reasoning_gym/data/codeio.jsonl.gz`` inside the installed ``reasoning-gym`` package
(3,002 rows: task_description, input_output_spec, code_sample, input_generator, difficulty, …).
Problem ids are ``codeio/<row index>``; difficulty is the row's (1-10, None for 494 rows).

Prompt: one user turn (no system message, as the Z1 training data) asking for a Python function
``main_solution`` that solves the described task and follows the I/O spec, in a ```python block.

Checker (:func:`check_solution`): one sandbox program (``z1/benchmarks/harnesses/codeio.py``, with
the reference, the answer's code, the generator, ``n_inputs`` and ``seed`` as JSON on its stdin)
generates ``n_inputs`` inputs with the row's ``generate_inputs(random.Random(seed))``, calls the reference and the candidate ``main_solution``
on deep copies of each input (the global ``random``/``numpy.random`` state reseeded identically
before each call, since ~1/3 of the references use randomness; a second reference call under another
seed sets ``reference_nondeterministic``), normalises both results through JSON (tuples -> lists, sets ->
sorted lists, numpy scalars/arrays -> Python) and compares them (floats with rel 1e-6 / abs 1e-9).
The program prints one JSON line (details["checker"]) and exits 0 only if every output matches.
A reference that raises gives ``reference_error`` (the row is unusable, not the answer wrong).

Held-out split (:func:`heldout_indices`): a graded-difficulty evaluation set that data construction
never sees, served as the benchmark ``codeio_heldout`` (:mod:`z1.benchmarks.codeio_heldout`). Per
difficulty level (6 = rated 6 or below, 36 rows; 7; 8; 9) the ``HELDOUT_PER_LEVEL`` rows ranked *last*
by the pool's own seed-0 selection key are held out, and :func:`load_pool` removes them before it
selects. The pool's selection ranks by problem id, so removing rows it would not have picked leaves a
selection unchanged: the `ci` and `mini` pools are the same as before the split existed (tested).
"""

from __future__ import annotations

import gzip
import json

from . import _exec, harnesses
from .base import (
    BenchmarkError,
    Grade,
    Problem,
    as_problem,
    extract_code,
    package_file,
    select,
    selection_key,
    with_prefill,
)

NAME = "codeio"
KIND = "code"
POOL_SIZE = 3002


def load_rows() -> list[dict]:
    path = package_file("reasoning_gym", "data/codeio.jsonl.gz", "reasoning-gym")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if len(rows) != POOL_SIZE:
        raise BenchmarkError(f"codeio: expected {POOL_SIZE} rows, found {len(rows)}; reinstall `reasoning-gym==0.1.25`")
    return rows


def user_message(row: dict) -> str:
    return (
        "Solve the following programming task in Python.\n\n"
        f"Task: {row['task_description'].strip()}\n\n"
        f"{row['input_output_spec'].strip()}\n\n"
        "Write a function `main_solution` that takes the inputs above as keyword arguments and returns "
        "the output described above (it must be JSON-serialisable). Put the complete code, including "
        "imports, in a single ```python code block."
    )


def _to_problem(index: int, row: dict) -> Problem:
    d = row.get("difficulty")
    return Problem(
        benchmark=NAME,
        problem_id=f"{NAME}/{index}",
        messages=[{"role": "user", "content": user_message(row)}],
        reference={"code_sample": row["code_sample"], "input_generator": row["input_generator"], "entry_point": "main_solution"},
        difficulty=float(d) if d is not None else None,
        meta={"source": "reasoning-gym codeio.jsonl.gz", "row": index, "pool": True,
              **{k: row.get(k) for k in ("clarity", "practice", "educational", "safety")}},
    )


def load(source: str = "offline") -> list[Problem]:
    if source != "offline":
        raise BenchmarkError("codeio ships only inside the reasoning-gym package; use source='offline'")
    return [_to_problem(i, r) for i, r in enumerate(load_rows())]


HELDOUT_LEVELS = (6, 7, 8, 9)  # 6 stands for "rated 6 or below" (ratings 2-6: 36 rows)
HELDOUT_PER_LEVEL = 24


def heldout_level(rating) -> int | None:
    """The held-out split's difficulty level of a CodeI/O rating (None for unrated rows)."""
    return None if rating is None else max(min(int(rating), HELDOUT_LEVELS[-1]), HELDOUT_LEVELS[0])


def heldout_indices(rows: list[dict] | None = None) -> list[int]:
    """Row indices of the held-out split, in source order: per level, the ``HELDOUT_PER_LEVEL`` rows
    ranked last by ``selection_key(0, "codeio/<index>")`` (the pool's own seed-0 ranking)."""
    rows = load_rows() if rows is None else rows
    by_level: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        level = heldout_level(row.get("difficulty"))
        if level is not None:
            by_level.setdefault(level, []).append(i)
    out: list[int] = []
    for level in HELDOUT_LEVELS:
        ranked = sorted(by_level.get(level, []), key=lambda i: selection_key(0, f"{NAME}/{i}"))
        out += ranked[-HELDOUT_PER_LEVEL:]
    return sorted(out)


def load_pool(n: int | None = None, seed: int = 0) -> list[Problem]:
    """``n`` pool problems by the seeded selection of :func:`z1.benchmarks.base.select`, never one of
    the held-out split (:func:`heldout_indices`)."""
    rows = load_rows()
    held = set(heldout_indices(rows))
    return select([_to_problem(i, r) for i, r in enumerate(rows) if i not in held], n, seed)


def build_program(problem: Problem | dict, completion: str, *, n_inputs: int = 3,
                  seed: int = 0) -> tuple[_exec.Program | None, str | None, dict]:
    """The checker ``harnesses/codeio.py`` with the reference, the answer's code, the input generator,
    ``n_inputs`` and ``seed`` on its stdin; None when the answer has no ``main_solution``."""
    p = as_problem(problem)
    code, how = extract_code(with_prefill(p, completion), "main_solution")
    details: dict = {"extraction": how, "n_inputs": n_inputs, "seed": seed}
    if code is None or "main_solution" not in code:
        details["error"] = "no main_solution in the answer"
        return None, code, details
    params = {
        "reference": p.reference["code_sample"],
        "candidate": code,
        "generator": p.reference["input_generator"],
        "n_inputs": int(n_inputs),
        "seed": int(seed),
    }
    return _exec.Program(harnesses.source("codeio"), json.dumps(params)), code, details


def finish(extracted: str | None, details: dict, verdict) -> Grade:
    if verdict is None:
        return Grade(False, extracted, {**details, "verdict": None})
    v = _exec.verdict_dict(verdict)
    out = _exec.verdict_stdout(verdict).strip().splitlines()
    if out:
        try:
            details = {**details, "checker": json.loads(out[-1])}
        except ValueError:
            pass
    # a pass needs the checker's own final verdict: an answer that ends the process early with
    # status 0 (os._exit(0) while loading) never reaches it
    checked = isinstance(details.get("checker"), dict) and details["checker"].get("passed") is True
    if v.get("status") == "passed" and not checked:
        v = {**v, "status": "failed", "reason": "exit code 0 without the checker's verdict"}
    return Grade(v.get("status") == "passed", extracted, {**details, "verdict": v})


def check_solution(problem: Problem | dict, completion: str, n_inputs: int = 3, seed: int = 0, *, limits=None) -> Grade:
    program, extracted, details = build_program(problem, completion, n_inputs=n_inputs, seed=seed)
    verdict = _exec.run(program, limits=limits) if program is not None else None
    return finish(extracted, details, verdict)


grade = check_solution
