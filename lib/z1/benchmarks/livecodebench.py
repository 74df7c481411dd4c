"""LiveCodeBench v5 code generation (hub only; the `paper` profile). Offline, HumanEval stands in.

Data: ``livecodebench/code_generation_lite``, release_v5 = files test.jsonl … test5.jsonl
(880 problems, May 2023 – Jan 2025). The authors score contest_date >= 2024-09-01
(``compute_scores --start_date 2024-09-01``); ``start_date``/``end_date`` select the window.
The dataset's loading script (``version_tag=release_v5``) needs ``trust_remote_code``, which
``datasets`` >= 4 no longer runs, so we read the release's JSONL files directly.

Prompt: the LCB runner's ``CodeQwenInstruct`` style, which the authors' run.sh selects with
``--model Qwen/CodeQwen1.5-7B-Chat``. LCB writes the raw ChatML string itself:
``<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n<|im_start|>user\\n\\n<body><|im_end|>\\n<|im_start|>assistant\\n``.
:func:`lcb_messages` returns the same thing as chat messages (system "You are a helpful
assistant.", user "\\n" + body), which Qwen2.5's chat template renders to exactly that string.
The body uses the formatting sentences of LCB as of release_v5 (Jan 2025; the stdin sentence
ends "... writes output to STDOUT."). The authors' convert_data.py holds an older, shorter copy
of that sentence.

Grading (our own harness, same rules as LCB's testing_util): code = last fenced block (LCB takes
the text between the last two ``` lines). Call-based (LeetCode) tests call
``Solution().<func_name>(*[json.loads(line) for line in input.splitlines()])`` and compare with
``==`` (tuples as lists). Stdin tests run the program with the test input on stdin and compare
stripped lines, exactly or as Decimals. The LCB import header (``from math import *`` …) is
prepended as LCB does. Stops at the first failing test. Approximations: one sandbox process per
problem with a per-test alarm (``timeout_s_per_test``, LCB's default 6 s; the authors passed
``--timeout 30`` in test.sh) and an overall sandbox limit; the ``open`` mock of LCB is not
reproduced.
"""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from datetime import datetime

from . import _exec
from .base import (
    BenchmarkError,
    Grade,
    Problem,
    as_problem,
    extract_code,
    fill_template,
    hub_load,
    with_prefill,
)

NAME = "livecodebench_v5"
KIND = "code"
HUB_DATASET = "livecodebench/code_generation_lite"
RELEASE_FILES = {
    "release_v1": ["test.jsonl"],
    "release_v2": ["test.jsonl", "test2.jsonl"],
    "release_v3": ["test.jsonl", "test2.jsonl", "test3.jsonl"],
    "release_v4": ["test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl"],
    "release_v5": ["test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl"],
}
PAPER_START_DATE = "2024-09-01"

SYSTEM_MESSAGE = "You are a helpful assistant."
INTRO = (
    "You will be given a question (problem specification) and will generate a correct Python program "
    "that matches the specification and passes all tests. You will NOT return anything except for the program.\n\n"
)
FORMATTING_WITH_STARTER_CODE = (
    "You will use the following starter code to write the solution to the problem and enclose your code within delimiters."
)
FORMATTING_WITHOUT_STARTER_CODE = (
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test on the "
    "sample inputs). Enclose your code within delimiters as follows. Ensure that when the python program runs, "
    "it reads the inputs, runs the algorithm and writes output to STDOUT."
)

# LCB's testing_util prepends this header to call-based code and to wrapped stdin programs.
IMPORT_HEADER = "\n".join(
    [f"from {m} import *" for m in ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math",
                                    "random", "statistics", "itertools", "functools", "operator", "io", "sys",
                                    "json", "builtins", "typing")]
    + [f"import {m}" for m in ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math",
                               "random", "statistics", "itertools", "functools", "operator", "io", "sys", "json")]
    + ["sys.setrecursionlimit(50000)"]
) + "\n"


def lcb_body(question_content: str, starter_code: str = "") -> str:
    body = INTRO + f"Question: {question_content}\n\n"
    if starter_code:
        body += f"{FORMATTING_WITH_STARTER_CODE}\n```python\n{starter_code}\n```\n\n"
    else:
        body += f"{FORMATTING_WITHOUT_STARTER_CODE}\n```python\n# YOUR CODE HERE\n```\n\n"
    return body


def lcb_messages(question_content: str, starter_code: str = "") -> list[dict]:
    """Chat messages equal to LCB's CodeQwenInstruct raw prompt once rendered with ChatML."""
    return [
        {"role": "system", "content": SYSTEM_MESSAGE},
        {"role": "user", "content": "\n" + lcb_body(question_content, starter_code)},
    ]


# ----------------------------------------------------------------------------------------------
# loading (hub)


def _decode_private(blob: str) -> list[dict]:
    try:
        return json.loads(blob)
    except Exception:
        return json.loads(pickle.loads(zlib.decompress(base64.b64decode(blob.encode("utf-8")))))


def load(source: str = "hub", *, release: str = "release_v5", start_date: str | None = PAPER_START_DATE,
         end_date: str | None = None) -> list[Problem]:
    if source != "hub":
        raise BenchmarkError(
            "livecodebench_v5 has no offline copy (nothing ships it in a registry package). "
            "Fix: use source='hub' with network access (the `paper` profile), or the offline stand-in 'humaneval'."
        )
    if release not in RELEASE_FILES:
        raise BenchmarkError(f"unknown LiveCodeBench release {release!r}; one of {sorted(RELEASE_FILES)}")
    files = [f"hf://datasets/{HUB_DATASET}/{f}" for f in RELEASE_FILES[release]]
    rows = hub_load("json", data_files=files, split="train")
    lo = datetime.fromisoformat(start_date) if start_date else None
    hi = datetime.fromisoformat(end_date) if end_date else None
    out = []
    for row in rows:
        date = datetime.fromisoformat(row["contest_date"])
        if (lo and date < lo) or (hi and date > hi):
            continue
        meta = json.loads(row.get("metadata") or "{}")
        public = json.loads(row["public_test_cases"])
        out.append(Problem(
            benchmark=NAME,
            problem_id=f"lcb/{row['question_id']}",
            messages=lcb_messages(row["question_content"], row.get("starter_code") or ""),
            reference={
                "public_test_cases": public,
                # kept compressed as in the source (decoded at grading time): some sets are tens of MB
                "private_test_cases": row["private_test_cases"],
                "func_name": meta.get("func_name"),
                "starter_code": row.get("starter_code") or "",
            },
            difficulty={"easy": 1.0, "medium": 2.0, "hard": 3.0}.get(row.get("difficulty"), None),
            meta={"source": f"{HUB_DATASET} {release}", "platform": row.get("platform"),
                  "contest_date": row["contest_date"], "difficulty_label": row.get("difficulty"),
                  "title": row.get("question_title"), "window": [start_date, end_date]},
        ))
    return out


# ----------------------------------------------------------------------------------------------
# grading

_HARNESS = r'''
import ast, io, json, signal, sys
from decimal import Decimal

CODE = __CODE__
TESTS = json.loads(__TESTS__)
FN_NAME = __FN__
HEADER = __HEADER__
PER_TEST = __PER_TEST__

class _Timeout(Exception):
    pass

def _alarm(signum, frame):
    raise _Timeout()

signal.signal(signal.SIGALRM, _alarm)

def _report(ok, **kw):
    sys.__stdout__.write(json.dumps({"passed": ok, **kw})[:4000] + "\n")
    sys.__stdout__.flush()
    sys.exit(0 if ok else 1)

def _wrap(code):
    # stdin programs run as the body of a function, imports kept at module level (as LCB does)
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        _report(False, error="syntax error: %s" % e)
    body = tree.body
    if body and isinstance(body[-1], ast.If) and ast.unparse(body[-1].test).strip() == "__name__ == '__main__'":
        body = body[:-1] + body[-1].body
    imports = [s for s in body if isinstance(s, (ast.Import, ast.ImportFrom))]
    other = [s for s in body if not isinstance(s, (ast.Import, ast.ImportFrom))] or [ast.Pass()]
    fn = ast.FunctionDef(name="wrapped_function", args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                         kw_defaults=[], defaults=[]), body=other, decorator_list=[], lineno=1)
    return HEADER + "\n" + ast.unparse(ast.Module(body=imports, type_ignores=[])) + "\n" + ast.unparse(ast.fix_missing_locations(fn))

def _lines(s):
    return [x.strip() for x in s.strip().split("\n")]

def _decimals(line):
    try:
        return [Decimal(x) for x in line.split()]
    except Exception:
        return None

class _Stdin(io.StringIO):
    def __init__(self, text):
        super().__init__(text)
        self.buffer = io.BytesIO(text.encode())

ns = {"__name__": "__z1_solution__"}
try:
    signal.alarm(PER_TEST)
    exec(compile(HEADER + "\n" + CODE if FN_NAME else _wrap(CODE), "<solution>", "exec"), ns)
    signal.alarm(0)
except BaseException as e:
    _report(False, error="compile/import error: %r" % (e,))

if FN_NAME:
    try:
        target = getattr(ns["Solution"](), FN_NAME) if "Solution" in ns else ns[FN_NAME]
    except Exception as e:
        _report(False, error="function not found: %r" % (e,))
    for i, t in enumerate(TESTS):
        args = [json.loads(line) for line in t["input"].split("\n")]
        expected = json.loads(t["output"])
        try:
            signal.alarm(PER_TEST)
            got = target(*args)
            signal.alarm(0)
        except _Timeout:
            _report(False, test=i, error="Time Limit Exceeded")
        except BaseException as e:
            signal.alarm(0)
            _report(False, test=i, error="Runtime Error: %r" % (e,))
        if isinstance(got, tuple):
            got = list(got)
        if got != expected:
            _report(False, test=i, error="Wrong Answer", got=repr(got)[:300])
else:
    fn = ns["wrapped_function"]
    for i, t in enumerate(TESTS):
        out = io.StringIO()
        sys.stdin, sys.stdout = _Stdin(t["input"]), out
        try:
            signal.alarm(PER_TEST)
            try:
                fn()
            except SystemExit:
                pass
            signal.alarm(0)
        except _Timeout:
            sys.stdout = sys.__stdout__
            _report(False, test=i, error="Time Limit Exceeded")
        except BaseException as e:
            signal.alarm(0)
            sys.stdout = sys.__stdout__
            _report(False, test=i, error="Runtime Error: %r" % (e,))
        finally:
            sys.stdin, sys.stdout = sys.__stdin__, sys.__stdout__
        got, want = _lines(out.getvalue()), _lines(t["output"])
        if len(got) != len(want):
            _report(False, test=i, error="Wrong answer: mismatched output length")
        for a, b in zip(got, want):
            if a == b:
                continue
            da, db = _decimals(a), _decimals(b)
            if da is None or db is None or da != db:
                _report(False, test=i, error="Wrong Answer", got=a[:300])
_report(True, tests=len(TESTS))
'''


def build_program(problem: Problem | dict, completion: str, *, timeout_s_per_test: int = 6) -> tuple[str | None, str | None, dict]:
    p = as_problem(problem)
    code, how = extract_code(with_prefill(p, completion))
    details: dict = {"extraction": how}
    if code is None or how == "raw_text":  # LCB scores an answer without a fenced block as empty
        return None, code, details
    ref = p.reference
    tests = list(ref["public_test_cases"]) + _decode_private(ref["private_test_cases"])
    details["n_tests"] = len(tests)
    values = {
        "__CODE__": repr(code),
        "__TESTS__": repr(json.dumps(tests)),
        "__FN__": repr(ref.get("func_name")),
        "__HEADER__": repr(IMPORT_HEADER),
        "__PER_TEST__": str(int(timeout_s_per_test)),
    }
    return fill_template(_HARNESS, values), code, details


def finish(extracted: str | None, details: dict, verdict) -> Grade:
    if verdict is None:
        return Grade(False, extracted, {**details, "verdict": None})
    v = _exec.verdict_dict(verdict)
    out = _exec.verdict_stdout(verdict).strip().splitlines()
    if out:
        try:
            details = {**details, "harness": json.loads(out[-1])}
        except ValueError:
            pass
    return Grade(v.get("status") == "passed", extracted, {**details, "verdict": v})


def grade(problem: Problem | dict, completion: str, *, limits=None) -> Grade:
    program, extracted, details = build_program(problem, completion)
    verdict = _exec.run(program, limits=limits) if program is not None else None
    return finish(extracted, details, verdict)
