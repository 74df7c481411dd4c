"""CodeI/O tasks: the offline PROBLEM POOL for data construction (the teacher answers these).

Not an evaluation benchmark of the paper. The paper's pool is Code Evol-Instruct, which has no
tests; CodeI/O rows come with a reference ``main_solution`` and an input generator, so a
constructed trajectory can be checked for correctness.

Data: ``reasoning_gym/data/codeio.jsonl.gz`` inside the installed ``reasoning-gym`` package
(3,002 rows: task_description, input_output_spec, code_sample, input_generator, difficulty, …).
Problem ids are ``codeio/<row index>``; difficulty is the row's (1-10, None for 494 rows).

Prompt: one user turn (no system message, as the Z1 training data) asking for a Python function
``main_solution`` that solves the described task and follows the I/O spec, in a ```python block.

Checker (:func:`check_solution`): one sandbox program generates ``n_inputs`` inputs with the row's
``generate_inputs(random.Random(seed))``, calls the reference and the candidate ``main_solution``
on deep copies of each input (the global ``random``/``numpy.random`` state reseeded identically
before each call, since ~1/3 of the references use randomness; a second reference call under another
seed sets ``reference_nondeterministic``), normalises both results through JSON (tuples -> lists, sets ->
sorted lists, numpy scalars/arrays -> Python) and compares them (floats with rel 1e-6 / abs 1e-9).
The program prints one JSON line (details["checker"]) and exits 0 only if every output matches.
A reference that raises gives ``reference_error`` (the row is unusable, not the answer wrong).
"""

from __future__ import annotations

import gzip
import json

from . import _exec
from .base import (
    BenchmarkError,
    Grade,
    Problem,
    as_problem,
    extract_code,
    fill_template,
    package_file,
    select,
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


def load_pool(n: int | None = None, seed: int = 0) -> list[Problem]:
    """``n`` pool problems by the seeded selection of :func:`z1.benchmarks.base.select`."""
    return select(load(), n, seed)


_CHECKER = r'''
import copy, json, math, random, sys

REFERENCE = __REFERENCE__
CANDIDATE = __CANDIDATE__
GENERATOR = __GENERATOR__
N_INPUTS = __N__
SEED = __SEED__

def _report(ok, **kw):
    sys.stdout.write(json.dumps({"passed": ok, **kw}, default=str)[:4000] + "\n")
    sys.stdout.flush()
    sys.exit(0 if ok else 1)

def _load(src, name, what):
    ns = {"__name__": "__z1_%s__" % what}
    try:
        exec(compile(src, "<%s>" % what, "exec"), ns)
        return ns[name]
    except BaseException as e:
        _report(False, error="%s: %r" % (what, e))

def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (set, frozenset)):
        return sorted((_plain(v) for v in x), key=repr)
    if hasattr(x, "tolist"):
        return _plain(x.tolist())
    if hasattr(x, "item") and callable(x.item):
        return x.item()
    return x

def _norm(x):
    return json.loads(json.dumps(_plain(x), default=str))

def _same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) or isinstance(b, float):
            if math.isnan(a) and math.isnan(b):
                return True
            return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b

def _call(fn, args, seed):
    # the same global RNG state for reference and candidate (many references use `random`)
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % 2**32)
    args = copy.deepcopy(args)
    return fn(**args) if isinstance(args, dict) else fn(args)

GEN_HEADER = "import json, math, string, itertools, collections, random\nfrom random import Random\n"
try:
    import numpy
    GEN_HEADER += "import numpy as np\n"
except ImportError:
    pass
generate = _load(GEN_HEADER + GENERATOR, "generate_inputs", "generator")
reference = _load(REFERENCE, "main_solution", "reference")
candidate = _load(CANDIDATE, "main_solution", "candidate")
rng = random.Random(SEED)
nondeterministic = False
for i in range(N_INPUTS):
    call_seed = SEED * 1000003 + i
    try:
        args = generate(rng)
        want = _norm(_call(reference, args, call_seed))
        # a second reference run under another RNG state flags references whose output depends on it
        nondeterministic = nondeterministic or not _same(want, _norm(_call(reference, args, call_seed + 7919)))
    except BaseException as e:
        _report(False, error="reference: %r" % (e,), reference_error=True, input_index=i)
    try:
        got = _norm(_call(candidate, args, call_seed))
    except BaseException as e:
        _report(False, error="candidate: %r" % (e,), input_index=i, reference_nondeterministic=nondeterministic)
    if not _same(want, got):
        _report(False, error="mismatch", input_index=i, expected=repr(want)[:300], got=repr(got)[:300],
                reference_nondeterministic=nondeterministic)
_report(True, n_inputs=N_INPUTS, reference_nondeterministic=nondeterministic)
'''


def build_program(problem: Problem | dict, completion: str, *, n_inputs: int = 3, seed: int = 0) -> tuple[str | None, str | None, dict]:
    p = as_problem(problem)
    code, how = extract_code(with_prefill(p, completion), "main_solution")
    details: dict = {"extraction": how, "n_inputs": n_inputs, "seed": seed}
    if code is None or "main_solution" not in code:
        details["error"] = "no main_solution in the answer"
        return None, code, details
    values = {
        "__REFERENCE__": repr(p.reference["code_sample"]),
        "__CANDIDATE__": repr(code),
        "__GENERATOR__": repr(p.reference["input_generator"]),
        "__N__": str(int(n_inputs)),
        "__SEED__": str(int(seed)),
    }
    return fill_template(_CHECKER, values), code, details


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
