"""BigCodeBench-Hard: the authors' prompt and a port of the official harness's grading rules.

Data: ``bigcode/bigcodebench-hard`` (148 tasks; the dataset's splits are versions, default
``v0.1.4``), or a local copy with ``data_path=`` (a .jsonl / .jsonl.gz file in the same row schema,
e.g. the harness's own cache file or the BigCodeBench-Hard.jsonl.gz release; works offline):
task_id, complete_prompt, instruct_prompt, canonical_solution, code_prompt, test, entry_point,
doc_struct, libs.

    problems = load(data_path="tests/data/bcb_hard_sample.jsonl", split="instruct", prefill="authors")

Prompt (the authors' bigcodebench/model.py ``make_chat_prompt``, vLLM backend): system "Please reason
step by step.", user "Please provide a self-contained Python script that solves the following problem
in a markdown code block:\\n```\\n{prompt.strip()}\\n```\\n" where prompt is the task's
``instruct_prompt`` (``split="instruct"``, the paper's run) or ``complete_prompt``
(``split="complete"``), and the assistant turn pre-filled with "Below is a Python script with a
self-contained function that solves the problem and passes corresponding tests:\\n```python\\n"
(``prefill="authors"`` or True, the default). ``prefill="fence"`` pre-fills only "```python\\n";
``prefill=None`` or False none (the harness's later ``skip_prefill``). Their decoder also stops on
"\\nif __name__", "\\ndef main(", "\\nprint(" and "\\n```\\n": :data:`STOP`, which the inference stage passes on.

Grading, rule by rule as the authors ran it (``bigcodebench.sanitize --calibrate`` then
``bigcodebench.evaluate --no-gt`` on the ``-sanitized-calibrated`` file; sanitize.py as in the
authors' copy, harness commit c06dc5c; evaluation code unchanged up to the PyPI release 0.2.5):

1. the text is the generated text only (the prefill is not part of it; it is removed if a caller
   passes it along); "calibrate": every "```python\\n    " becomes "```python\\n" + complete_prompt
   + "    ";
2. ``code_extract``: the span of at least two consecutive lines that ``ast.parse`` accepts and
   that has the most non-blank lines (the first such span; the first line if none parses);
3. ``sanitize``: keep the top-level imports, then the top-level undecorated functions and classes
   and plain assignments (first definition of a name only) that the entry point reaches through
   identifiers; drop everything else (decorated definitions, ``from __future__``, ``if __name__``
   blocks, calls); then drop trailing unindented lines that mention the entry point (the
   harness's "ad-hoc" step); an empty result stays empty (no fallback in the authors' version);
4. the program is code_prompt + "\\n    pass\\n" + sanitized code (the calibrated prefix: a stub of
   the entry point that the answer's own definition overrides, plus the task's imports), then
   "\\n" + the task's ``test``; the runner ``z1/benchmarks/harnesses/bigcodebench.py`` (which
   gets both, and the limits below, as one JSON object on its stdin) executes it as module
   ``__test__`` (with ``sys``, ``os`` and ``environ`` pre-set) in a fresh temporary working
   directory, stdout/stderr swallowed, stdin unreadable, and the ``TestCases`` suite is run with a
   ``unittest.TestResult`` under a :data:`TIMEOUT_S` = 241 s timer (max(240, max(1, 20)) + 1:
   TIMEOUT_LIMIT, the --min-time-limit default and the no-gt ground-truth time);
5. the harness's guards apply: TZ=UTC, OMP_NUM_THREADS=1, ``exit``/``quit`` set to None, RLIMIT_AS
   128 GiB, RLIMIT_DATA 4 GiB, RLIMIT_STACK 5 MiB, ``matplotlib.pyplot.close('all')``, and its
   ``safe_environment`` (``os.kill`` only of itself or its own children, shell commands containing
   "kill" not run, ``check_output`` of commands containing "ps" returns b"", ``os.exec*`` ignored,
   ``Popen`` in a new session);
6. status "pass" iff the module executed and no test failed or errored (skips count as passes);
   "fail" otherwise; a process that never reports (killed at the limit, crashed) is "timeout", as
   the harness maps an unset status. Correct = "pass".

Known deviations from the official harness: the sanitizer is a port to Python's ``ast`` of the
tree-sitter one (same node kinds and identifier rule; where nothing parses, tree-sitter's error
recovery may keep statements that the port drops); the program runs in :mod:`z1.sandbox` (RLIMIT_AS
and wall clock from :func:`limits_for` / :func:`default_limits`, which :func:`grade` uses, while
``benchmarks.grade_many`` runs every program under the one ``limits`` it is given, by default the
sandbox's 10 s / 1 GiB; the sandbox's process and file-size limits also apply); and the task libraries are whatever this environment has installed, not the harness's pinned
Python 3.10 environment (pandas, matplotlib, sklearn, tensorflow …; a missing or newer library can
fail a task that passes there: check :func:`canonical_program` against the environment first).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from . import _exec, harnesses
from .base import BenchmarkError, Grade, Problem, as_problem, hub_load
from .bcb_sanitize import code_extract, sanitize  # noqa: F401 - code_extract: part of this module's API

NAME = "bigcodebench_hard"
KIND = "code"
HUB_DATASET = "bigcode/bigcodebench-hard"
SYSTEM_PROMPT = "Please reason step by step."
SPLITS = ("instruct", "complete")
# The authors' vLLM decoder (bigcodebench/model.py): BigCodeBench's EOS list plus "\n```\n"
# (GeneralVllmDecoder), passed to both passes of their thinking_generate.
STOP = ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(", "\n```\n")

PREFILLS = {
    "authors": "Below is a Python script with a self-contained function that solves the problem and passes corresponding tests:\n```python\n",
    "fence": "```python\n",
    None: "",
}
# bigcodebench.eval: timeout = max(TIMEOUT_LIMIT=240, max(min_time_limit=1, gt_time_limit=20 with --no-gt)) + 1
TIMEOUT_S = 241.0
MAX_AS_MB = 128 * 1024  # evaluate.py --max-as-limit default
MAX_DATA_MB = 4 * 1024  # --max-data-limit
MAX_STACK_MB = 5  # --max-stack-limit
STARTUP_S = 6.0  # interpreter, harness and matplotlib start (the harness's join waits timeout + 1)


def user_message(prompt: str) -> str:
    return (
        "Please provide a self-contained Python script that solves the following problem in a markdown code block:\n"
        f"```\n{prompt.strip()}\n```\n"
    )


# ----------------------------------------------------------------------------------------------
# loading


def _local_rows(data_path: str | Path) -> list[dict]:
    path = Path(data_path)
    if not path.is_file():
        raise BenchmarkError(f"data_path {str(path)!r} is not a file (expected a .jsonl or .jsonl.gz of BigCodeBench rows)")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _prefill_key(prefill):
    if prefill is True:
        return "authors"
    if prefill is False:
        return None
    if prefill not in PREFILLS:
        raise BenchmarkError(f"prefill must be one of {list(PREFILLS)} (or True / False), got {prefill!r}")
    return prefill


def problem_from_row(row: dict, *, split: str = "instruct", prefill: str | bool | None = "authors",
                     source: str = HUB_DATASET) -> Problem:
    if split not in SPLITS:
        raise BenchmarkError(f"split must be one of {SPLITS}, got {split!r}")
    key = _prefill_key(prefill)
    return Problem(
        benchmark=NAME,
        problem_id=row["task_id"],
        messages=[{"role": "system", "content": SYSTEM_PROMPT},
                  {"role": "user", "content": user_message(row[f"{split}_prompt"])}],
        reference={"test": row["test"], "entry_point": row["entry_point"], "complete_prompt": row["complete_prompt"],
                   "code_prompt": row.get("code_prompt", ""), "canonical_solution": row.get("canonical_solution", "")},
        assistant_prefill=PREFILLS[key],
        meta={"source": source, "split": split, "prefill": key, "libs": row.get("libs")},
    )


def load(source: str = "hub", *, version: str = "v0.1.4", split: str = "instruct",
         prefill: str | bool | None = "authors", data_path: str | Path | None = None) -> list[Problem]:
    """Tasks of BigCodeBench-Hard ``version``; ``data_path`` reads a local copy (any ``source``)."""
    if split not in SPLITS:
        raise BenchmarkError(f"split must be one of {SPLITS}, got {split!r}")
    _prefill_key(prefill)
    if data_path is not None:
        rows, where = _local_rows(data_path), str(data_path)
    elif source == "hub":
        rows, where = hub_load(HUB_DATASET, split=version), f"{HUB_DATASET} {version}"
    else:
        raise BenchmarkError(
            "bigcodebench_hard has no offline copy (nothing ships it in a registry package). "
            "Fix: use source='hub' with network access (the `paper` profile), data_path= a local .jsonl copy, "
            "or the offline stand-in 'humaneval'."
        )
    return [problem_from_row(r, split=split, prefill=prefill, source=where) for r in rows]


# ----------------------------------------------------------------------------------------------
def calibrate(text: str, complete_prompt: str) -> str:
    """sanitize.py ``--calibrate``: an indented body right after a ```python line gets the prompt."""
    return text.replace("```python\n    ", "```python\n" + complete_prompt + "    ")


def solution_code(problem: Problem | dict, completion: str) -> tuple[str, dict]:
    """The code the harness evaluates for this completion (calibrated prefix + sanitized answer)."""
    p = as_problem(problem)
    ref = p.reference
    text = (completion or "").replace("\t", "    ")  # the authors' decoder: every tab becomes 4 spaces
    pre = p.assistant_prefill or ""
    if pre and text.startswith(pre):  # the harness sanitizes the generated text, without the prefill
        text = text[len(pre):]
    calibrated = calibrate(text, ref["complete_prompt"])
    sanitized = sanitize(calibrated, ref["entry_point"])
    details = {"calibrated": calibrated != text, "sanitized": sanitized}
    return ref.get("code_prompt", "") + "\n    pass\n" + sanitized, details


def canonical_program(problem: Problem | dict, *, timeout_s: float = TIMEOUT_S) -> _exec.Program:
    """complete_prompt + "\n" + canonical_solution through the same runner (the harness's
    ``--check-gt-only``): run it to see which tasks this environment can pass at all."""
    p = as_problem(problem)
    return _program(p.reference["complete_prompt"] + "\n" + p.reference["canonical_solution"], p.reference["test"], timeout_s)


# ----------------------------------------------------------------------------------------------
# execution (bigcodebench/eval: untrusted_check -> unsafe_execute)


def _program(solution: str, test: str, timeout_s: float = TIMEOUT_S) -> _exec.Program:
    """The runner ``harnesses/bigcodebench.py`` with ``solution``, ``test`` and the limits on its stdin."""
    params = {"solution": solution, "test": test, "timeout_s": float(timeout_s),
              "max_as_mb": MAX_AS_MB, "max_data_mb": MAX_DATA_MB, "max_stack_mb": MAX_STACK_MB}
    return _exec.Program(harnesses.source("bigcodebench"), json.dumps(params))


def limits_for(problem: Problem | dict | None = None, *, timeout_s: float = TIMEOUT_S):
    """Sandbox limits matching the harness: its test timer + 1 s (the worker's join) + start-up, and
    its 128 GiB RLIMIT_AS (RLIMIT_DATA 4 GiB is set inside the program)."""
    return _exec.make_limits(timeout_s=float(timeout_s) + 1 + STARTUP_S, memory_mb=MAX_AS_MB)


def default_limits(details: dict):
    """The limits for a program from :func:`build_program`, given its details."""
    return limits_for(timeout_s=details.get("timeout_s", TIMEOUT_S))


def build_program(problem: Problem | dict, completion: str, *,
                  timeout_s: float = TIMEOUT_S) -> tuple[_exec.Program, str, dict]:
    """The sandbox program for one answer (always one: an empty answer runs the calibrated stub)."""
    p = as_problem(problem)
    solution, details = solution_code(p, completion)
    details["timeout_s"] = float(timeout_s)
    return _program(solution, p.reference["test"], timeout_s), solution, details


def finish(extracted: str | None, details: dict, verdict) -> Grade:
    if verdict is None:
        return Grade(False, extracted, {**details, "status": "fail", "verdict": None})
    v = _exec.verdict_dict(verdict)
    harness = None
    lines = _exec.verdict_stdout(verdict).strip().splitlines()
    if lines:
        try:
            harness = json.loads(lines[-1])
        except ValueError:
            harness = None
    if not isinstance(harness, dict) or harness.get("status") not in ("pass", "fail"):
        harness = None
    # the harness: a worker that never set its status (killed at the limit, crashed) is a timeout
    status = harness["status"] if harness else "timeout"
    if status == "pass" and v.get("status") != "passed":
        status = "fail"
    return Grade(status == "pass", extracted, {**details, "status": status, "harness": harness, "verdict": v})


def grade(problem: Problem | dict, completion: str, *, limits=None, timeout_s: float = TIMEOUT_S) -> Grade:
    """Grade one completion; ``timeout_s`` is the harness's test-suite timer (241 s)."""
    program, extracted, details = build_program(problem, completion, timeout_s=timeout_s)
    limits = limits if limits is not None else default_limits(details)
    return finish(extracted, details, _exec.run(program, limits=limits))
