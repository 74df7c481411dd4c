"""BigCodeBench-Hard: offline loading, the authors' prompt with and without the prefill, and the
official harness's grading rules (bigcodebench sanitize.py --calibrate, evaluate.py, eval/__init__.py
untrusted_check). No network: tasks come from tests/data/bcb_hard_sample.jsonl (three synthetic tasks
in the official row schema, standard library only); programs run in the real z1.sandbox.

Expected sanitizer outputs marked "official" were produced by the harness's tree-sitter sanitizer
(PyPI bigcodebench 0.2.5 ``extract_target_code_or_empty``, the same function as the authors' copy);
the verdicts were checked against the harness's ``untrusted_check`` on the same code.
"""

import gzip
import json
from pathlib import Path

import pytest

from z1 import benchmarks as B
from z1.benchmarks import bigcodebench as BCB
from z1.sandbox import Limits

FIXTURE = Path(__file__).parent / "data" / "bcb_hard_sample.jsonl"
FIELDS = ["task_id", "complete_prompt", "instruct_prompt", "canonical_solution", "code_prompt", "test",
          "entry_point", "doc_struct", "libs"]
IDS = ["BigCodeBench/9001", "BigCodeBench/9002", "BigCodeBench/9003"]
AUTHORS_PREFILL = ("Below is a Python script with a self-contained function that solves the problem and passes "
                   "corresponding tests:\n```python\n")


@pytest.fixture(scope="module")
def tasks() -> dict[str, B.Problem]:
    return {p.problem_id: p for p in BCB.load(data_path=FIXTURE)}


def after_prefill(p: B.Problem, body: str | None = None) -> str:
    """What a model writes after the authors' prefill: the code, a closing fence, maybe prose."""
    ref = p.reference
    return ref["code_prompt"] + (ref["canonical_solution"] if body is None else body) + "```\nThis passes the tests."


# ------------------------------------------------------------------------------ data and prompts


def test_fixture_rows_use_the_official_schema():
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    assert [list(r) for r in rows] == [FIELDS] * 3
    assert rows[0]["instruct_prompt"].endswith("You should write self-contained code starting with:\n```\n"
                                               "import math\nimport statistics\ndef task_func(numbers):\n```")
    assert rows[0]["complete_prompt"].startswith(rows[0]["code_prompt"].split("def ")[0])


def test_load_reads_a_local_file_with_both_splits(tasks, tmp_path):
    assert list(tasks) == IDS
    p = tasks["BigCodeBench/9001"]
    row = json.loads(FIXTURE.read_text().splitlines()[0])
    assert p.messages == [
        {"role": "system", "content": "Please reason step by step."},
        {"role": "user", "content": "Please provide a self-contained Python script that solves the following problem in "
                                    "a markdown code block:\n```\n" + row["instruct_prompt"].strip() + "\n```\n"},
    ]
    assert p.meta["split"] == "instruct" and p.reference["code_prompt"] == row["code_prompt"]
    complete = BCB.load(data_path=FIXTURE, split="complete")[0]
    assert complete.messages[1]["content"] == BCB.user_message(row["complete_prompt"])
    assert '"""' in complete.messages[1]["content"] and complete.meta["split"] == "complete"
    gz = tmp_path / "BigCodeBench-Hard.jsonl.gz"
    gz.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    assert [q.problem_id for q in B.load("bigcodebench_hard", data_path=gz, split="complete")] == IDS  # via the registry
    with pytest.raises(B.BenchmarkError, match="split"):
        BCB.load(data_path=FIXTURE, split="plus")
    with pytest.raises(B.BenchmarkError, match="humaneval"):
        BCB.load("offline")


def test_prefill_on_and_off():
    """model.py make_chat_prompt: the assistant turn starts with the response prefix and a ```python fence."""
    on = BCB.load(data_path=FIXTURE)[0]
    assert on.assistant_prefill == AUTHORS_PREFILL and on.meta["prefill"] == "authors"
    assert BCB.load(data_path=FIXTURE, prefill=True)[0].assistant_prefill == AUTHORS_PREFILL
    assert BCB.load(data_path=FIXTURE, prefill="fence")[0].assistant_prefill == "```python\n"
    for off in (None, False):
        p = BCB.load(data_path=FIXTURE, prefill=off)[0]
        assert p.assistant_prefill == "" and p.messages == on.messages
    with pytest.raises(B.BenchmarkError, match="prefill"):
        BCB.load(data_path=FIXTURE, prefill="yes")


def test_canonical_solutions_pass_with_and_without_the_prefill(tasks):
    no_prefill = {p.problem_id: p for p in BCB.load(data_path=FIXTURE, prefill=None)}
    ps = [tasks[i] for i in IDS] + [no_prefill[i] for i in IDS]
    texts = [after_prefill(tasks[i]) for i in IDS]
    texts += ["Here it is:\n```python\n" + tasks[i].reference["complete_prompt"] + tasks[i].reference["canonical_solution"]
              + "```\n" for i in IDS]
    grades = B.grade_many(ps, texts, workers=2)
    assert [g.details["status"] for g in grades] == ["pass"] * 6, [g.details.get("harness") for g in grades]
    assert all(g.correct for g in grades)


# ------------------------------------------------------------------------------ sanitize.py


def test_code_extract_keeps_the_longest_parsing_span():
    """sanitize.py code_extract: most non-blank lines among spans of >= 2 lines that ast.parse accepts."""
    text = "Let me think.\nIt's a sum.\n```python\nimport os\n\ndef task_func(x):\n    return x\n```\nDone, it's simple."
    assert BCB.code_extract(text) == "import os\n\ndef task_func(x):\n    return x"
    assert BCB.code_extract("x = 1\nprose here\ny = 2\nz = 3") == "y = 2\nz = 3"  # the longer of two
    assert BCB.code_extract("only prose here") == "only prose here"  # nothing parses: the first line
    assert BCB.code_extract("no\ncode here") == "no"


OFFICIAL_SANITIZE = [
    # (generated text, official sanitize(text, "task_func"))
    ("import os\n@dec\ndef h(): pass\ndef task_func(x):\n    return h(x)\nx.y = z\nprint(task_func(1))\n",
     "import os\ndef task_func(x):\n    return h(x)"),  # decorated helper and calls dropped
    ("from __future__ import annotations\nimport os\ndef task_func(x): return x", "import os"),  # trailing one-liner cut
    ("def helper(x):\n    return x * 2\ndef helper(x):\n    return x * 3\ndef unused():\n    pass\n"
     "def task_func(x):\n    return helper(x) + CONST\nCONST = 3\nif __name__ == '__main__':\n    print(task_func(2))",
     "def helper(x):\n    return x * 2\ndef task_func(x):\n    return helper(x) + CONST\nCONST = 3"),  # first definition wins
    ("obj.attr = helper\ndef helper():\n    return 1\ndef task_func():\n    return helper()",
     "obj.attr = helper\ndef task_func():\n    return helper()"),  # `x.y = z` defines "z"
    ("def task_func(a):\n    return a\n    # indented comment\n", "def task_func(a):\n    return a\n    # indented comment"),
]


@pytest.mark.parametrize("text,expected", OFFICIAL_SANITIZE)
def test_sanitize_matches_the_official_tree_sitter_sanitizer(text, expected):
    assert BCB.sanitize(text, "task_func") == expected


def test_calibration_and_the_evaluated_solution(tasks):
    """sanitize.py --calibrate and evaluate.py: code_prompt + "\\n    pass\\n" + sanitized solution."""
    p = tasks["BigCodeBench/9001"]
    ref = p.reference
    assert BCB.calibrate("```python\n    return 1\n```", "def f():\n") == "```python\ndef f():\n    return 1\n```"
    solution, details = BCB.solution_code(p, after_prefill(p))
    assert solution == ref["code_prompt"] + "\n    pass\n" + (ref["code_prompt"] + ref["canonical_solution"]).rstrip("\n")
    assert details == {"calibrated": False, "sanitized": solution.split("\n    pass\n", 1)[1]}
    # the prefill is not part of the sanitized text; passing it along changes nothing
    assert BCB.solution_code(p, AUTHORS_PREFILL + after_prefill(p))[0] == solution


# ------------------------------------------------------------------------------ verdicts

MEAN = "import math\nimport statistics\ndef task_func(numbers):\n"
GOOD_BODY = ("    if not numbers:\n        raise ValueError\n    m = statistics.fmean(numbers)\n"
             "    return round(m, 2), round(math.sqrt(sum((x - m) ** 2 for x in numbers) / len(numbers)), 2)\n")
VERDICT_CASES = [
    # (rule, text after the authors' prefill, status)
    ("a correct function passes", MEAN + GOOD_BODY + "```\n", "pass"),
    ("a wrong value fails (unittest failure)", MEAN + "    return 0, 0\n```\n", "fail"),
    ("an exception fails (unittest error)", MEAN + "    raise RuntimeError('no')\n```\n", "fail"),
    ("calibrated prefix: the task's imports come from code_prompt",
     "def task_func(numbers):\n" + GOOD_BODY + "```\n", "pass"),
    ("calibration only rewrites a ```python fence inside the generated text: a bare body fails",
     GOOD_BODY + "```\n", "fail"),
    ("a model-written fence with a bare body is calibrated with complete_prompt",
     "Thinking done.\n```python\n" + GOOD_BODY + "```\n", "pass"),
    ("reliability_guard: builtins.exit is None", MEAN + "    exit(0)\n```\n", "fail"),
    ("sanitize: decorated helpers are dropped, so the answer misses them",
     "def plain(f):\n    return f\n\n@plain\ndef pstd(xs, m):\n    return math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))\n\n"
     + MEAN + "    if not numbers:\n        raise ValueError\n    m = statistics.fmean(numbers)\n"
     "    return round(m, 2), round(pstd(numbers, m), 2)\n```\n", "fail"),
    ("no code at all: the calibrated stub returns None", "I am not sure how to do this.", "fail"),
    ("swallow_io: stdin cannot be read", MEAN + "    return input()\n```\n", "fail"),
]
ENV_TEST = ("import os, time, unittest\nclass TestCases(unittest.TestCase):\n"
            "    def test_env(self):\n        self.assertEqual(task_func(), ([], 'UTC', 0, '1'))\n")
ENV_ANSWER = ("import os\nimport time\ndef task_func():\n    return (os.listdir('.'), time.strftime('%Z'), "
              "os.system('kill -9 1'), os.environ['OMP_NUM_THREADS'])\n```\n")


def test_verdicts_follow_the_official_rules(tasks):
    p = tasks["BigCodeBench/9001"]
    env = B.Problem(benchmark=BCB.NAME, problem_id="BigCodeBench/env", messages=[],
                    reference={"test": ENV_TEST, "entry_point": "task_func", "complete_prompt": "def task_func():\n",
                               "code_prompt": "import os\ndef task_func():\n"},
                    assistant_prefill=AUTHORS_PREFILL)
    no_prefill = BCB.load(data_path=FIXTURE, prefill=None)[0]
    ps = [p] * len(VERDICT_CASES) + [env]
    ps[5] = no_prefill  # the model writes its own fence
    grades = B.grade_many(ps, [text for _, text, _ in VERDICT_CASES] + [ENV_ANSWER], workers=2)
    got = {rule: g.details["status"] for (rule, *_), g in zip(VERDICT_CASES, grades[:-1], strict=True)}
    assert got == {rule: status for rule, _, status in VERDICT_CASES}
    # create_tempdir, TZ=UTC, safe_environment (a "kill" command is not run), OMP_NUM_THREADS=1
    assert grades[-1].details["status"] == "pass", grades[-1].details["harness"]
    assert "test_example" in grades[1].details["harness"]["details"]  # the failing tests, as the harness lists them


def test_timer_inside_the_tests_fails_and_a_hang_outside_is_a_timeout(tasks):
    """untrusted_check: the suite runs under one time_limit timer: the TimeoutException it raises inside a
    test is that test's error ("fail"), but the timer fires once, so a later test that hangs is only
    stopped by the worker's join, and a worker that never reports is "timeout"; module code runs
    before the timer."""
    one_test = B.Problem(benchmark=BCB.NAME, problem_id="BigCodeBench/one", messages=[], reference={
        "entry_point": "task_func", "complete_prompt": "def task_func(x):\n", "code_prompt": "def task_func(x):\n",
        "test": "import unittest\nclass TestCases(unittest.TestCase):\n    def test_a(self):\n"
                "        self.assertEqual(task_func(2), 4)\n"})
    loop = "def task_func(x):\n    while True:\n        pass\n```\n"
    inside = BCB.grade(one_test, loop, timeout_s=1)
    assert inside.details["status"] == "fail" and "Timed out" in json.dumps(inside.details["harness"])
    p = tasks["BigCodeBench/9001"]  # four tests: the second one hangs past the spent timer
    later = BCB.grade(p, MEAN + "    while True:\n        pass\n```\n", timeout_s=1, limits=Limits(timeout_s=3.0))
    assert later.details["status"] == "timeout" and later.details["verdict"]["status"] == "timeout"
    # (a top-level loop would be sanitized away; a reachable assignment that never returns is kept)
    hang = "import time\ndef forever():\n    while True:\n        time.sleep(0.1)\nLIMIT = forever()\n"
    outside = BCB.grade(p, hang + MEAN + "    return LIMIT\n```\n", timeout_s=1, limits=Limits(timeout_s=2.0))
    assert outside.details["status"] == "timeout" and not outside.correct


def test_limits_follow_the_official_harness(tasks):
    limits = BCB.limits_for()
    assert BCB.default_limits(BCB.build_program(tasks["BigCodeBench/9001"], "")[2]) == limits
    assert BCB.TIMEOUT_S == max(240.0, max(1, 20)) + 1
    assert limits.timeout_s == BCB.TIMEOUT_S + 1 + BCB.STARTUP_S and limits.memory_mb == 128 * 1024


def test_tabs_become_four_spaces_as_in_the_authors_decoder(tasks):
    """The authors' decoder replaced every tab of the generated text with four spaces before the
    harness saw it: a tab-indented answer is graded as its space-indented twin."""
    p = next(iter(tasks.values()))
    spaces = after_prefill(p)
    tabbed = spaces.replace("    ", "\t")
    assert "\t" in tabbed
    assert BCB.solution_code(p, tabbed)[0] == BCB.solution_code(p, spaces)[0]
