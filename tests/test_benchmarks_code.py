"""z1.benchmarks code graders, run through the real z1.sandbox (no network)."""

import pytest

from z1 import benchmarks as B
from z1.benchmarks import bigcodebench, livecodebench
from z1.sandbox import Limits


@pytest.fixture(scope="module")
def humaneval():
    return {p.problem_id: p for p in B.load("humaneval")}


def fenced(code: str) -> str:
    return f"Here is the solution.\n```python\n{code}```\nIt works."


def test_humaneval_canonical_solutions_pass(humaneval):
    ids = ["HumanEval/0", "HumanEval/32", "HumanEval/53", "HumanEval/101", "HumanEval/163"]
    ps = [humaneval[i] for i in ids]
    texts = [fenced(p.reference["prompt"] + p.reference["canonical_solution"]) for p in ps]
    grades = B.grade_many(ps, texts, workers=2)
    assert [g.correct for g in grades] == [True] * len(ids), [g.details["verdict"] for g in grades]
    assert all(g.details["prepended"] == "preamble" for g in grades)


def test_humaneval_body_only_gets_the_prompt_prepended(humaneval):
    p = humaneval["HumanEval/32"]  # needs the helper `poly` from the prompt
    g = B.grade(p.to_dict(), fenced(p.reference["canonical_solution"]))
    assert g.correct and g.details["prepended"] == "prompt"


def test_humaneval_function_without_prompt_helpers_still_runs(humaneval):
    p = humaneval["HumanEval/0"]  # the answer omits `from typing import List`
    code = "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n"
    assert B.grade(p, fenced(code)).correct


def test_humaneval_wrong_and_broken(humaneval):
    p = humaneval["HumanEval/0"]
    g = B.grade(p, fenced("def has_close_elements(numbers, threshold):\n    return False\n"))
    assert not g.correct and g.details["verdict"]["status"] == "failed"
    g = B.grade(p, fenced("def has_close_elements(numbers, threshold)\n    return False\n"))  # syntax error
    assert not g.correct and g.details["verdict"]["status"] == "failed"
    g = B.grade(p, "")
    assert not g.correct and g.extracted is None and g.details["verdict"] is None


def test_humaneval_infinite_loop_times_out(humaneval):
    p = humaneval["HumanEval/0"]
    g = B.grade(p, fenced("def has_close_elements(numbers, threshold):\n    while True:\n        pass\n"),
                limits=Limits(timeout_s=2.0))
    assert not g.correct and g.details["verdict"]["status"] == "timeout"


def test_codeio_checker_accepts_reference_and_rejects_wrong():
    ps = B.codeio.load_pool(3, seed=0)
    for p in ps:
        good = B.codeio.check_solution(p, fenced(p.reference["code_sample"] + "\n"))
        assert good.correct, good.details
        assert good.details["checker"]["passed"] is True
    bad = B.codeio.check_solution(ps[0], fenced("def main_solution(**kwargs):\n    return 'nope'\n"))
    assert not bad.correct and bad.details["checker"]["error"] == "mismatch"
    missing = B.grade(ps[0].to_dict(), "I don't know.")
    assert not missing.correct and missing.details["verdict"] is None
    # ending the process with status 0 before the checker's verdict is not a pass
    for exit_call in ("import os\nos._exit(0)\n", "import sys\nsys.exit(0)\n"):
        early = B.codeio.check_solution(ps[0], fenced(exit_call + "def main_solution(**kwargs):\n    return 1\n"))
        assert not early.correct, (exit_call, early.details)


def test_codeio_heldout_grades_with_the_pool_checker():
    by_level = {}
    for p in B.load("codeio_heldout"):
        by_level.setdefault(p.difficulty, p)
    grades = B.grade_many(list(by_level.values()), [fenced(p.reference["code_sample"] + "\n") for p in by_level.values()])
    assert all(g.correct for g in grades), [g.details for g in grades]
    bad = B.grade(by_level[9.0], fenced("def main_solution(**kwargs):\n    return 'nope'\n"))
    assert not bad.correct and bad.details["checker"]["error"] == "mismatch"


def _lcb_problem(func_name, tests, starter=""):
    return B.Problem(
        benchmark="livecodebench_v5",
        problem_id="lcb/fake",
        messages=livecodebench.lcb_messages("fake", starter),
        reference={"public_test_cases": tests[:1], "private_test_cases": __import__("json").dumps(tests[1:]),
                   "func_name": func_name, "starter_code": starter},
    )


def test_livecodebench_harness_stdin_and_functional():
    stdin_p = _lcb_problem(None, [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"},
                                  {"input": "0.5 0.25\n", "output": "0.75\n", "testtype": "stdin"}])
    good = "a, b = map(float, input().split())\nr = a + b\nprint(int(r) if r == int(r) else r)\n"
    bad = "print(0)\n"
    call_p = _lcb_problem("add", [{"input": "1\n2", "output": "3", "testtype": "functional"},
                                  {"input": "[1]\n[2]", "output": "[1, 2]", "testtype": "functional"}],
                          starter="class Solution:\n    def add(self, a, b):\n        ")
    call_good = "class Solution:\n    def add(self, a, b):\n        return a + b\n"
    grades = B.grade_many([stdin_p, stdin_p.to_dict(), call_p, call_p, stdin_p],
                          [fenced(good), fenced(bad), fenced(call_good), fenced("class Solution:\n    def add(self, a, b):\n        return a\n"), good])
    assert [g.correct for g in grades] == [True, False, True, False, False]
    assert grades[1].details["harness"]["error"].startswith("Wrong")
    assert grades[4].details["extraction"] == "none"  # LCB needs two ``` lines


def test_bigcodebench_program_prefill_and_unittest():
    p = B.Problem(
        benchmark="bigcodebench_hard",
        problem_id="BigCodeBench/fake",
        messages=[],
        reference={"entry_point": "task_func", "complete_prompt": "import math\ndef task_func(x):\n    \"\"\"doc\"\"\"\n",
                   "code_prompt": "import math\ndef task_func(x):\n",
                   "test": "import unittest\nclass TestCases(unittest.TestCase):\n    def test_a(self):\n        self.assertEqual(task_func(4), 2.0)\n"},
        assistant_prefill=bigcodebench.PREFILLS["authors"],
    )
    assert B.grade(p, "import math\ndef task_func(x):\n    return math.sqrt(x)\n```\n").correct
    assert not B.grade(p, "def task_func(x):\n    return x\n```\n").correct
    # the harness calibrates a ```python fence inside the generated text, not the prefill: a bare body
    # right after the prefill fails, the same body after a fence the model wrote passes
    assert not B.grade(p, "    return math.sqrt(x)\n```\n").correct
    assert B.grade(p, "Now the code.\n```python\n    return math.sqrt(x)\n```\n").correct


@pytest.mark.slow
def test_humaneval_all_164_canonical_solutions_pass(humaneval):
    ps = list(humaneval.values())
    grades = B.grade_many(ps, [fenced(p.reference["prompt"] + p.reference["canonical_solution"]) for p in ps], workers=2)
    failed = [p.problem_id for p, g in zip(ps, grades, strict=True) if not g.correct]
    assert failed == []
