"""LiveCodeBench v5 code generation: the paper's prompt and a port of LCB's grader.

Data: ``livecodebench/code_generation_lite``, release_v5 = files test.jsonl … test5.jsonl (880
problems, May 2023 – Jan 2025). Two windows, both selectable and both worth reporting:
``start_date="2024-09-01"`` (the default; the authors' ``compute_scores --start_date 2024-09-01``)
and ``start_date=None`` (the full release). Bounds are inclusive, compared with the contest's
datetime as LCB does (``start_date <= contest_date <= end_date``, dates at midnight).
The dataset's loading script (``version_tag=release_v5``) needs ``trust_remote_code``, which
``datasets`` >= 4 no longer runs, so the release's JSONL files are read directly: from the hub
(``source="hub"``), or from a local copy with ``data_path=`` (a folder holding the release's
test*.jsonl files, or one .jsonl file in the same row schema; works offline).

    problems = load(data_path="tests/data/lcb_release_sample.jsonl", start_date=None)

Row schema (as the hub files hold it): question_title, question_content, platform, question_id,
contest_id, contest_date, starter_code, difficulty, public_test_cases (a JSON string),
private_test_cases (base64(zlib(pickle(JSON string))), or plain JSON in old rows) and metadata (a
JSON string with ``func_name`` for LeetCode problems).

Prompt: the LCB runner's ``CodeQwenInstruct`` style, which the authors' run.sh selects with
``--model Qwen/CodeQwen1.5-7B-Chat``. LCB writes the raw ChatML string itself:
``<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n<|im_start|>user\\n\\n<body><|im_end|>\\n<|im_start|>assistant\\n``.
:func:`lcb_messages` returns the same thing as chat messages (system "You are a helpful
assistant.", user "\\n" + body), which Qwen2.5's chat template renders to exactly that string.
The body uses the formatting sentences of LCB as of release_v5 (Jan 2025; the stdin sentence
ends "... writes output to STDOUT."). The authors' convert_data.py holds an older, shorter copy
of that sentence.

Grading: a port of ``lcb_runner/evaluation/testing_util.py`` as the authors ran it (their April
2025 copy predates LCB's 2025-05-23 change to the stdin mock, so the reference is LCB commit
15808c7), plus the extraction of ``lcb_runner/utils/extraction_utils.py`` and the global timeout of
``compute_code_generation_metrics.py``. The harness is the program
``z1/benchmarks/harnesses/livecodebench.py``, run in the sandbox with the code, tests and settings as
one JSON object on its stdin (:func:`build_program`). Rule by rule:

* code = the lines between the last two lines that contain ```` ``` ```` (anywhere in the line);
  fewer than two such lines gives empty code, which fails.
* the LCB import header (``from math import *`` …, ``sys.setrecursionlimit(50000)``) is prepended;
  ``sys.set_int_max_str_digits(50000)`` and LCB's ``reliability_guard`` (``quit``, ``help``,
  ``os.getcwd``, ``os.putenv``, ``subprocess.Popen`` … set to None) apply, so e.g. ``quit()``
  fails and ``exit()`` ends the program normally; numpy is imported before the guard, as it is in
  LCB's worker (importing it afterwards fails).
* call-based (LeetCode, ``func_name`` set): the code is executed as module ``tmp_sol``; if the text
  ``class Solution`` occurs in it the method is taken from ``Solution()``, else from the module.
  Arguments are ``[json.loads(line) for line in input.split("\\n")]``, the expected value is
  ``json.loads(output)``; a returned tuple becomes a list (top level only), then ``==``.
* stdin: a last ``if __name__ == '__main__':`` block is inlined, every top-level statement except
  imports goes into a function ``wrapped_function`` (so ``global`` names of the program are not
  module globals, as in LCB), which is called once per test with ``sys.stdin`` a ``StringIO`` of
  the input (no ``.buffer``, as in the authors' copy) and stdout captured; ``SystemExit`` ends a
  test normally. Output and expected output are ``strip()``-ed, split on "\\n" and each line
  stripped; the line counts must match; lines equal as text, or else as lists of ``Decimal`` of
  their whitespace-separated tokens ("1.0" == "1", "1e2" == "100"). A program whose text contains
  ``class Solution`` fails, as in LCB.
* tests run public first, then private, stopping at the first failure; per-test alarm of
  ``timeout_s_per_test`` seconds (:data:`TIMEOUT_S_PER_TEST` = 30, the authors' test.sh
  ``--timeout 30``; LCB's own default is 6); a program that raises, times out or fails to compile
  fails. Passed = every test passed (pass@1 over one greedy sample).
* the whole program gets LCB's global limit ``(timeout + 1) * n_tests + 5`` seconds
  (:func:`limits_for` / :func:`default_limits`; :func:`grade` uses it when no ``limits`` are given,
  while ``benchmarks.grade_many`` runs every program under the one ``limits`` it is given, by
  default the sandbox's 10 s / 1 GiB).

Known deviations from the official runner: each problem runs in :mod:`z1.sandbox` (one process,
RLIMIT_AS :data:`MEMORY_MB`; LCB sets no memory limit); LCB's ``mock_open`` of ``builtins.open`` is
not reproduced (the header's ``from builtins import *`` shadows it for the program anyway, and
``open(0)`` reads nothing in both: the harness has read its stdin to the end); call-based programs' own prints are discarded (LCB lets
them reach its console); LCB HEAD after 2025-05-23 gives ``sys.stdin`` a ``.buffer`` (whose
``readline`` always returns the first line) and a ``readlines`` without newlines, which this port
(like the authors' copy) does not.
"""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from datetime import datetime
from pathlib import Path

from z1.labels import PAPER_START_DATE  # the paper's LiveCodeBench window (one copy)

from . import _exec, harnesses
from .base import (
    BenchmarkError,
    Grade,
    Problem,
    as_problem,
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
# The authors' runs pass `--stop "<|im_end|>"` (run.sh, test.sh); the inference stage hands STOP to the
# test-time method (paper mode: it also ends the thinking window, as in their code).
STOP = ("<|im_end|>",)
TIMEOUT_S_PER_TEST = 30  # the authors' test.sh (--timeout 30), the W=4096 / 5000-token run
LCB_DEFAULT_TIMEOUT_S_PER_TEST = 6  # lcb_runner's --timeout default
MEMORY_MB = 4096
INT_MAX_STR_DIGITS = 50000  # compute_code_generation_metrics.py

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
# loading


def decode_private(blob: str) -> list[dict]:
    """Private tests of a row: plain JSON (old rows) or base64(zlib(pickle(JSON string)))."""
    try:
        return json.loads(blob)
    except Exception:
        return json.loads(pickle.loads(zlib.decompress(base64.b64decode(blob.encode("utf-8")))))


def encode_private(tests: list[dict]) -> str:
    """The inverse of :func:`decode_private` (compressed form), for fixtures."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode("utf-8")


def _local_rows(data_path: str | Path, release: str) -> tuple[list[dict], str]:
    path = Path(data_path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = [path / f for f in RELEASE_FILES[release]]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise BenchmarkError(f"{release} needs {', '.join(RELEASE_FILES[release])} in {path}; missing: {', '.join(missing)}")
    else:
        raise BenchmarkError(f"data_path {str(path)!r} is neither a file nor a folder")
    rows = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    return rows, f"{path} {release}" if path.is_dir() else str(path)


def _date(value: str | None, what: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise BenchmarkError(f"{what} must be YYYY-MM-DD (as LCB's compute_scores takes it), got {value!r}") from None


def problem_from_row(row: dict, *, source: str = HUB_DATASET, window: tuple[str | None, str | None] = (None, None)) -> Problem:
    meta = json.loads(row.get("metadata") or "{}")
    starter = row.get("starter_code") or ""
    return Problem(
        benchmark=NAME,
        problem_id=f"lcb/{row['question_id']}",
        messages=lcb_messages(row["question_content"], starter),
        reference={
            "public_test_cases": json.loads(row["public_test_cases"]),
            # kept compressed as in the source (decoded at grading time): some sets are tens of MB
            "private_test_cases": row["private_test_cases"],
            "func_name": meta.get("func_name"),
            "starter_code": starter,
        },
        difficulty={"easy": 1.0, "medium": 2.0, "hard": 3.0}.get(row.get("difficulty"), None),
        meta={"source": source, "platform": row.get("platform"), "contest_id": row.get("contest_id"),
              "contest_date": row["contest_date"], "difficulty_label": row.get("difficulty"),
              "title": row.get("question_title"), "window": list(window)},
    )


def load(source: str = "hub", *, release: str = "release_v5", start_date: str | None = PAPER_START_DATE,
         end_date: str | None = None, data_path: str | Path | None = None) -> list[Problem]:
    """Problems of ``release`` whose contest date lies in [start_date, end_date] (None: unbounded).

    ``data_path`` reads a local copy (any ``source``); otherwise ``source`` must be "hub".
    """
    if release not in RELEASE_FILES:
        raise BenchmarkError(f"unknown LiveCodeBench release {release!r}; one of {sorted(RELEASE_FILES)}")
    lo, hi = _date(start_date, "start_date"), _date(end_date, "end_date")
    if data_path is not None:
        rows, where = _local_rows(data_path, release)
    elif source == "hub":
        rows = hub_load("json", data_files=[f"hf://datasets/{HUB_DATASET}/{f}" for f in RELEASE_FILES[release]],
                        split="train")
        where = f"{HUB_DATASET} {release}"
    else:
        raise BenchmarkError(
            "livecodebench_v5 has no offline copy (nothing ships it in a registry package). "
            "Fix: use source='hub' with network access (the `paper` profile), data_path= a local copy of the "
            "release's test*.jsonl files, or the offline stand-in 'humaneval'."
        )
    out = []
    for row in rows:
        date = datetime.fromisoformat(row["contest_date"])
        if (lo and date < lo) or (hi and date > hi):
            continue
        out.append(problem_from_row(row, source=where, window=(start_date, end_date)))
    return out


# ----------------------------------------------------------------------------------------------
# grading


def extract_code(text: str) -> str:
    """LCB's extraction (extraction_utils.extract_code, chat styles): the lines between the last two
    lines containing ```, or "" when there are fewer than two."""
    lines = (text or "").split("\n")
    fences = [i for i, line in enumerate(lines) if "```" in line]
    if len(fences) < 2:
        return ""
    return "\n".join(lines[fences[-2] + 1 : fences[-1]])


def tests_of(problem: Problem | dict) -> list[dict]:
    ref = as_problem(problem).reference
    return list(ref["public_test_cases"]) + decode_private(ref["private_test_cases"])


def limits_for(n_tests: int, timeout_s_per_test: int = TIMEOUT_S_PER_TEST):
    """Sandbox limits of one problem: LCB's global timeout (timeout + 1) * n_tests + 5 seconds."""
    wall = (int(timeout_s_per_test) + 1) * max(1, n_tests) + 5
    return _exec.make_limits(timeout_s=float(wall), memory_mb=MEMORY_MB)


def default_limits(details: dict):
    """The limits for a program from :func:`build_program`, given its details."""
    return limits_for(details.get("n_tests", 1), details.get("timeout_s_per_test", TIMEOUT_S_PER_TEST))


def build_program(problem: Problem | dict, completion: str, *,
                  timeout_s_per_test: int = TIMEOUT_S_PER_TEST) -> tuple[_exec.Program | None, str | None, dict]:
    """The sandbox program for one answer: LCB's harness (``harnesses/livecodebench.py``) with the code,
    tests and settings on its stdin; None when no code was extracted (LCB runs the empty program, which
    fails in both modes)."""
    p = as_problem(problem)
    code = extract_code(with_prefill(p, completion))
    details: dict = {"extraction": "fenced" if code else "none"}
    if not code.strip():
        return None, code or None, details
    tests = tests_of(p)
    details.update(n_tests=len(tests), timeout_s_per_test=int(timeout_s_per_test))
    params = {
        "code": code,
        "tests": tests,
        "fn_name": p.reference.get("func_name"),
        "header": IMPORT_HEADER,
        "timeout_s_per_test": int(timeout_s_per_test),
        "int_max_str_digits": INT_MAX_STR_DIGITS,
    }
    return _exec.Program(harnesses.source("livecodebench"), json.dumps(params)), code, details


def finish(extracted: str | None, details: dict, verdict) -> Grade:
    if verdict is None:
        return Grade(False, extracted, {**details, "verdict": None})
    v = _exec.verdict_dict(verdict)
    harness = None
    lines = _exec.verdict_stdout(verdict).strip().splitlines()
    if lines:
        try:
            harness = json.loads(lines[-1])
        except ValueError:
            harness = None
    details = {**details, "harness": harness, "verdict": v}
    # a pass needs the harness's own last word: a program that ends the process early (os._exit)
    # never reaches it, and LCB scores that as failed (no result from the worker)
    ok = v.get("status") == "passed" and isinstance(harness, dict) and harness.get("passed") is True
    return Grade(ok, extracted, details)


def grade(problem: Problem | dict, completion: str, *, limits=None,
          timeout_s_per_test: int = TIMEOUT_S_PER_TEST) -> Grade:
    program, extracted, details = build_program(problem, completion, timeout_s_per_test=timeout_s_per_test)
    if program is None:
        return finish(extracted, details, None)
    limits = limits if limits is not None else default_limits(details)
    return finish(extracted, details, _exec.run(program, limits=limits))
