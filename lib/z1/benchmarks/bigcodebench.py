"""BigCodeBench-Hard, instruct split (hub only; the `paper` profile). Offline, HumanEval stands in.

Data: ``bigcode/bigcodebench-hard`` (148 tasks; the dataset's splits are versions, default
``v0.1.4``): task_id, instruct_prompt, complete_prompt, code_prompt, test, entry_point, libs.

Prompt (the authors' bigcodebench/model.py ``make_chat_prompt``, vLLM backend, ``--split instruct``):
system "Please reason step by step.", user "Please provide a self-contained Python script that solves
the following problem in a markdown code block:\\n```\\n{instruct_prompt.strip()}\\n```\\n", and the
assistant turn pre-filled with "Below is a Python script with a self-contained function that solves
the problem and passes corresponding tests:\\n```python\\n" (``prefill="authors"``, the default).
``prefill="fence"`` pre-fills only "```python\\n"; ``prefill=None`` none. Their decoder also stops
on "\\nif __name__", "\\ndef main(", "\\nprint(" and "\\n```\\n" (the engine's business, not ours).

Grading (approximates the official harness): text = prefill + completion; "calibrate" as the
authors' sanitize.py (an indented body right after "```python\\n" gets the complete_prompt
prepended); code = last fenced block (or the unclosed prefilled fence); if it does not define the
entry point, the complete_prompt is prepended. The program = code + the task's unittest module,
run with unittest in the sandbox; passes iff every test passes. Not reproduced: the official
AST-based sanitizer (keeps only the entry point's dependencies), its per-task time limits and its
pinned library environment (tasks import pandas, matplotlib, sklearn, …; missing libraries fail).
"""

from __future__ import annotations

from . import _exec
from .base import BenchmarkError, Grade, Problem, as_problem, extract_code, hub_load, with_prefill
from .humaneval import defines

NAME = "bigcodebench_hard"
KIND = "code"
HUB_DATASET = "bigcode/bigcodebench-hard"
SYSTEM_PROMPT = "Please reason step by step."
PREFILLS = {
    "authors": "Below is a Python script with a self-contained function that solves the problem and passes corresponding tests:\n```python\n",
    "fence": "```python\n",
    None: "",
}


def user_message(instruct_prompt: str) -> str:
    return (
        "Please provide a self-contained Python script that solves the following problem in a markdown code block:\n"
        f"```\n{instruct_prompt.strip()}\n```\n"
    )


def load(source: str = "hub", *, version: str = "v0.1.4", prefill: str | None = "authors") -> list[Problem]:
    if source != "hub":
        raise BenchmarkError(
            "bigcodebench_hard has no offline copy (nothing ships it in a registry package). "
            "Fix: use source='hub' with network access (the `paper` profile), or the offline stand-in 'humaneval'."
        )
    if prefill not in PREFILLS:
        raise BenchmarkError(f"prefill must be one of {list(PREFILLS)}, got {prefill!r}")
    rows = hub_load(HUB_DATASET, split=version)
    return [
        Problem(
            benchmark=NAME,
            problem_id=r["task_id"],
            messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_message(r["instruct_prompt"])}],
            reference={"test": r["test"], "entry_point": r["entry_point"], "complete_prompt": r["complete_prompt"],
                       "code_prompt": r.get("code_prompt", "")},
            assistant_prefill=PREFILLS[prefill],
            meta={"source": f"{HUB_DATASET} {version}", "split": "instruct", "libs": r.get("libs")},
        )
        for r in rows
    ]


_RUNNER = """

if __name__ == "__main__":
    import sys as _sys
    import unittest as _unittest
    _suite = _unittest.TestLoader().loadTestsFromTestCase(TestCases)
    _result = _unittest.TextTestRunner(stream=_sys.stderr, verbosity=1).run(_suite)
    _sys.exit(0 if _result.wasSuccessful() else 1)
"""


def build_program(problem: Problem | dict, completion: str) -> tuple[str | None, str | None, dict]:
    p = as_problem(problem)
    ref = p.reference
    text = with_prefill(p, completion).replace("```python\n    ", "```python\n" + ref["complete_prompt"] + "    ")
    code, how = extract_code(text)
    details: dict = {"extraction": how}
    if code is None:
        return None, None, details
    if not defines(code, ref["entry_point"]):
        code = ref["complete_prompt"] + code
        details["prepended"] = "complete_prompt"
    return f"{code}\n\n{ref['test']}\n{_RUNNER}", code, details


def finish(extracted: str | None, details: dict, verdict) -> Grade:
    if verdict is None:
        return Grade(False, extracted, {**details, "verdict": None})
    v = _exec.verdict_dict(verdict)
    return Grade(v.get("status") == "passed", extracted, {**details, "verdict": v})


def grade(problem: Problem | dict, completion: str, *, limits=None) -> Grade:
    program, extracted, details = build_program(problem, completion)
    verdict = _exec.run(program, limits=limits) if program is not None else None
    return finish(extracted, details, verdict)
