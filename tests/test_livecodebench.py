"""LiveCodeBench: offline loading of release files, and the grader's rules mirrored from the official
runner (lcb_runner at commit 15808c7, the copy the authors ran in April 2025). No network: the release
rows come from tests/data/lcb_release_sample.jsonl (five synthetic problems in the official row schema,
private tests encoded as the dataset encodes them); programs run in the real z1.sandbox.

Each rule test names the official function it mirrors. The expected verdicts were checked against
lcb_runner's own ``run_test`` on the same programs and tests.
"""

import base64
import json
import pickle
import zlib
from pathlib import Path

import pytest

from z1 import benchmarks as B
from z1.benchmarks import livecodebench as L

FIXTURE = Path(__file__).parent / "data" / "lcb_release_sample.jsonl"
FIELDS = ["question_title", "question_content", "platform", "question_id", "contest_id", "contest_date",
          "starter_code", "difficulty", "public_test_cases", "private_test_cases", "metadata"]
ALL_IDS = ["lcb/9001", "lcb/9002", "lcb/abc900_a", "lcb/2900A", "lcb/abc899_b"]

CANONICAL = {
    "lcb/9001": "from typing import List\n\nclass Solution:\n    def countPairs(self, nums: List[int], target: int) -> int:\n"
                "        n = len(nums)\n        return sum(nums[i] + nums[j] == target for i in range(n) for j in range(i + 1, n))\n",
    "lcb/9002": "class Solution:\n    def splitDigits(self, n: int) -> List[int]:\n        return tuple(int(c) for c in str(n))\n",
    "lcb/abc900_a": "def main():\n    n = int(input())\n    print(sum(map(int, input().split())))\n\nif __name__ == '__main__':\n    main()\n",
    "lcb/2900A": "import sys\ndata = sys.stdin.read().split()\nn = int(data[0])\nprint(f'{sum(map(int, data[1:n + 1])) / n:.2f}')\n",
    "lcb/abc899_b": "n = int(input())\nfor _ in range(n):\n    print(input()[::-1])\n",
}
WRONG = {
    "lcb/9001": "class Solution:\n    def countPairs(self, nums, target):\n        return len(nums) // 2\n",
    "lcb/9002": "class Solution:\n    def splitDigits(self, n):\n        return [int(c) for c in str(n)][::-1]\n",
    "lcb/abc900_a": "n = int(input())\nprint(sum(map(int, input().split())) % 1000000007)\n",
    "lcb/2900A": "n = int(input())\nprint(sum(map(int, input().split())) // n)\n",
    "lcb/abc899_b": "n = int(input())\nfor _ in range(n):\n    print(input())\n",
}


def fenced(code: str) -> str:
    return f"Let me solve it.\n```python\n{code}```\nThis reads the input and prints the answer."


def problem(tests: list[tuple[str, str]], func_name: str | None = None) -> B.Problem:
    kind = "functional" if func_name else "stdin"
    cases = [{"input": i, "output": o, "testtype": kind} for i, o in tests]
    return B.Problem(benchmark=L.NAME, problem_id="lcb/rule", messages=[],
                     reference={"public_test_cases": cases[:1], "private_test_cases": L.encode_private(cases[1:]),
                                "func_name": func_name, "starter_code": ""})


@pytest.fixture(scope="module")
def problems() -> dict[str, B.Problem]:
    return {p.problem_id: p for p in L.load(data_path=FIXTURE, start_date=None)}


# ------------------------------------------------------------------------------ data


def test_fixture_rows_use_the_official_schema_and_encoding():
    """code_generation.py CodeGenerationProblem: JSON strings, private tests base64(zlib(pickle(json)))."""
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    assert [list(r) for r in rows] == [FIELDS] * 5
    compressed = rows[0]["private_test_cases"]
    decoded = json.loads(pickle.loads(zlib.decompress(base64.b64decode(compressed.encode("utf-8")))))
    assert decoded[0] == {"input": "[1, 1, 1]\n2", "output": "3", "testtype": "functional"}
    assert L.decode_private(compressed) == decoded
    assert L.decode_private(rows[1]["private_test_cases"])[1]["output"] == "[9, 0, 5, 0]"  # an old plain-JSON row
    assert json.loads(rows[0]["metadata"]) == {"func_name": "countPairs"}


def test_load_reads_a_local_release_file_offline(problems):
    assert list(problems) == ALL_IDS
    p = problems["lcb/9001"]
    assert p.messages == L.lcb_messages(json.loads(FIXTURE.read_text().splitlines()[0])["question_content"],
                                        "class Solution:\n    def countPairs(self, nums: List[int], target: int) -> int:\n        ")
    assert p.reference["func_name"] == "countPairs" and problems["lcb/abc900_a"].reference["func_name"] is None
    assert len(L.tests_of(p)) == 5 and L.tests_of(p)[0]["output"] == "2"
    assert p.meta["platform"] == "leetcode" and p.meta["contest_date"] == "2024-10-12T00:00:00" and p.difficulty == 1.0
    # through the registry, with the registry's default source
    via_registry = B.load("livecodebench_v5", data_path=str(FIXTURE), start_date=None)
    assert [q.problem_id for q in via_registry] == ALL_IDS


def test_paper_window_and_full_release_are_both_selectable():
    """compute_scores.py: start_date <= contest_date (and contest_date <= end_date), dates at midnight."""
    paper = L.load(data_path=FIXTURE)  # default: the authors' --start_date 2024-09-01
    assert [p.problem_id for p in paper] == ["lcb/9001", "lcb/abc900_a", "lcb/2900A"]  # 2024-09-01 is in, 08-31 out
    assert paper[0].meta["window"] == ["2024-09-01", None]
    full = L.load(data_path=FIXTURE, start_date=None)
    assert len(full) == 5 and full[0].meta["window"] == [None, None]
    upto = L.load(data_path=FIXTURE, start_date=None, end_date="2024-09-01")
    assert [p.problem_id for p in upto] == ["lcb/9002", "lcb/abc900_a", "lcb/abc899_b"]
    with pytest.raises(B.BenchmarkError, match="YYYY-MM-DD"):
        L.load(data_path=FIXTURE, start_date="Sept 2024")


def test_load_reads_a_release_folder_by_release(tmp_path):
    lines = FIXTURE.read_text().splitlines(keepends=True)
    for name, part in zip(L.RELEASE_FILES["release_v5"], [lines[:2], lines[2:3], lines[3:4], lines[4:], []], strict=True):
        (tmp_path / name).write_text("".join(part))
    assert len(L.load(data_path=tmp_path, start_date=None)) == 5
    assert [p.problem_id for p in L.load(data_path=tmp_path, release="release_v1", start_date=None)] == ALL_IDS[:2]
    (tmp_path / "test3.jsonl").unlink()
    with pytest.raises(B.BenchmarkError, match="missing: test3.jsonl"):
        L.load(data_path=tmp_path)
    with pytest.raises(B.BenchmarkError, match="humaneval"):  # no data_path and not the hub: names the stand-in
        L.load("offline")


def test_canonical_solutions_pass_and_wrong_ones_fail(problems):
    ps = [problems[i] for i in ALL_IDS] * 2
    texts = [fenced(CANONICAL[i]) for i in ALL_IDS] + [fenced(WRONG[i]) for i in ALL_IDS]
    grades = B.grade_many(ps, texts, workers=2)
    assert [g.correct for g in grades] == [True] * 5 + [False] * 5, [g.details.get("harness") for g in grades]
    assert grades[0].details["harness"] == {"passed": True, "tests": 5}
    assert grades[5].details["harness"]["error"] == "Wrong Answer"


# ------------------------------------------------------------------------------ extraction


def test_extraction_takes_the_lines_between_the_last_two_fence_lines():
    """extraction_utils.py extract_code: lines holding ``` anywhere; code = between the last two."""
    assert L.extract_code("```python\nA\n```\nthen\n```py\nB\nC\n```\nbye") == "B\nC"
    assert L.extract_code("```python\nA\n```\n```\nB\n```") == "B"  # no preference for a python tag
    assert L.extract_code("x ```python\nA\nB``` y") == "A"  # ``` inside a line counts
    assert L.extract_code("```python\nA\n```\nprose\n```python\nB") == "prose"  # a truncated last block
    assert L.extract_code("```python\nprint(1)\n") == ""  # one fence line: nothing
    assert L.extract_code("print(1)") == ""


def test_unfenced_or_truncated_answers_fail():
    p = problem([("\n", "1")])
    g = B.grade(p, "print(1)")
    assert not g.correct and g.extracted is None and g.details["verdict"] is None
    g = B.grade(p, "```python\nprint(1)\n```\nAnd a second try:\n```python\nprint(1")
    assert not g.correct and g.extracted == "And a second try:"


# ------------------------------------------------------------------------------ stdin rules

STDIN_CASES = [
    # (official rule, program, tests, passes)
    ("grade_stdio CASE 2: lines equal as Decimals, '1.0' == '1'", "print('1.0')\n", [("\n", "1")], True),
    ("grade_stdio CASE 2: '1e2 3' == '100 3.000' token by token", "print('1e2 3')\n", [("\n", "100 3.000")], True),
    ("grade_stdio CASE 2: no tolerance, '1.01' != '1'", "print('1.01')\n", [("\n", "1")], False),
    ("grade_stdio CASE 2: Decimals ignore repeated spaces", "print('1  2')\n", [("\n", "1 2")], True),
    ("grade_stdio CASE 1: text lines must match exactly", "print('a  b')\n", [("\n", "a b")], False),
    ("get_stripped_lines: each line stripped, leading/trailing blank lines dropped",
     "print('1 2   ')\nprint('  3')\nprint()\n", [("\n", "1 2\n3\n\n")], True),
    ("get_stripped_lines: an inner blank line counts (mismatched output length)",
     "print(1)\nprint()\nprint(2)\n", [("\n", "1\n2")], False),
    ("grade_stdio: wrong line count fails", "print(1)\n", [("\n", "1\n2")], False),
    ("clean_if_name: a last `if __name__ == '__main__':` block is inlined",
     "def main():\n    print(int(input()) * 2)\n\nif __name__ == '__main__':\n    main()\n", [("4\n", "8"), ("5\n", "10")], True),
    ("make_function: program statements become locals, so `global` names are missing",
     "x = 1\ndef f():\n    global x\n    x += 1\nf()\nprint(x)\n", [("\n", "2")], False),
    ("call_method: SystemExit ends a test normally (exit() works)", "print(3)\nexit()\nprint(4)\n", [("\n", "3")], True),
    ("reliability_guard: builtins.quit is None", "print(3)\nquit()\n", [("\n", "3")], False),
    ("reliability_guard: os.getcwd is None", "import os\nprint(os.getcwd())\n", [("\n", "/")], False),
    ("call_method: sys.stdin is a StringIO (no .buffer in the authors' copy)",
     "import sys\nprint(sys.stdin.buffer.read().decode().strip())\n", [("7\n", "7")], False),
    ("call_method: sys.stdin reads line by line and iterates", "import sys\nfor line in sys.stdin:\n    print(line.strip())\n",
     [("1\n2\n", "1\n2")], True),
    ("compile_code: 'class Solution' in a stdin program fails", "class Solution:\n    pass\nprint(3)\n", [("\n", "3")], False),
    ("compute_code_generation_metrics: sys.set_int_max_str_digits(50000)", "print(10 ** 5000)\n",
     [("\n", "1" + "0" * 5000)], True),
    ("grade_stdio: a program that raises fails (Runtime Error)", "raise ValueError('boom')\n", [("\n", "")], False),
    ("compile_code: a syntax error fails", "print(1\n", [("\n", "1")], False),
    ("grade_stdio: input() past the end raises EOFError", "a = input()\nb = input()\nprint(a)\n", [("5", "5")], False),
    ("check_correctness: a worker that ends itself early gives no result", "import os\nprint(1)\nos._exit(0)\n",
     [("\n", "1")], False),
]


def test_stdin_rules_match_the_official_grader():
    ps = [problem(tests) for _, _, tests, _ in STDIN_CASES]
    grades = B.grade_many(ps, [fenced(code) for _, code, _, _ in STDIN_CASES], workers=2)
    got = {rule: g.correct for (rule, *_), g in zip(STDIN_CASES, grades, strict=True)}
    assert got == {rule: ok for rule, _, _, ok in STDIN_CASES}


def test_stops_at_the_first_failing_test():
    """grade_stdio / grade_call_based: return at the first failure (later tests never run)."""
    p = problem([("1\n", "1"), ("5\n", "5"), ("9\n", "9")])
    g = B.grade(p, fenced("n = int(input())\nif n == 9:\n    while True:\n        pass\nprint(n if n < 3 else 0)\n"))
    assert not g.correct and g.details["harness"]["test"] == 1 and g.details["harness"]["error"] == "Wrong Answer"
    assert g.details["verdict"]["elapsed_s"] < 5


# ------------------------------------------------------------------------------ call-based rules

CALL_CASES = [
    ("grade_call_based: a returned tuple becomes a list", "class Solution:\n    def f(self, a):\n        return (a, a)\n",
     [("1", "[1, 1]")], True),
    ("grade_call_based: only the top-level tuple is converted", "class Solution:\n    def f(self, a):\n        return [(a, a)]\n",
     [("1", "[[1, 1]]")], False),
    ("grade_call_based: plain ==, 3.0 == 3", "class Solution:\n    def f(self, a):\n        return 3.0\n", [("1", "3")], True),
    ("grade_call_based: plain ==, no float tolerance", "class Solution:\n    def f(self, a):\n        return 0.1 + 0.2\n",
     [("1", "0.3")], False),
    ("grade_call_based: one json.loads per input line",
     "class Solution:\n    def f(self, nums: List[int], k: int, s: str) -> str:\n        return s * (sum(nums) + k)\n",
     [('[1, 2]\n1\n"ab"', '"abababab"'), ('[]\n0\n"x"', '""')], True),
    ("compile_code: without 'class Solution' the function comes from the module", "def f(a):\n    return a + 1\n",
     [("1", "2")], True),
    ("compile_code: the text 'class Solution' alone makes LCB call Solution()",
     "# class Solution is not needed\ndef f(a):\n    return a + 1\n", [("1", "2")], False),
    ("get_function: a missing method fails", "class Solution:\n    def g(self, a):\n        return a\n", [("1", "1")], False),
    ("grade_call_based: a method that raises fails (Runtime Error)",
     "class Solution:\n    def f(self, a):\n        return a // 0\n", [("1", "1")], False),
    ("grade_call_based: the import header is in scope (gcd, comb, deque …)",
     "class Solution:\n    def f(self, a):\n        return gcd(a, 6) + comb(4, 2) + len(deque([1]))\n", [("4", "9")], True),
    ("testing_util imports numpy before reliability_guard, so solutions can too",
     "import numpy as np\nclass Solution:\n    def f(self, a):\n        return int(np.array([a, a]).sum())\n", [("4", "8")], True),
    ("grade_call_based: prints of the method are not graded",
     "class Solution:\n    def f(self, a):\n        print('debug', a)\n        return a\n", [("1", "1")], True),
    ("run_test: SystemExit is not caught in call-based grading",
     "import sys\nclass Solution:\n    def f(self, a):\n        sys.exit(0)\n", [("1", "1")], False),
]


def test_call_based_rules_match_the_official_grader():
    ps = [problem(tests, "f") for _, _, tests, _ in CALL_CASES]
    grades = B.grade_many(ps, [fenced(code) for _, code, _, _ in CALL_CASES], workers=2)
    got = {rule: g.correct for (rule, *_), g in zip(CALL_CASES, grades, strict=True)}
    assert got == {rule: ok for rule, _, _, ok in CALL_CASES}


# ------------------------------------------------------------------------------ timeouts and limits


def test_a_test_over_the_per_test_alarm_fails_as_time_limit_exceeded():
    """grade_stdio / grade_call_based: signal.alarm(timeout) per test, then "Time Limit Exceeded"."""
    stdin = B.grade(problem([("1\n", "1")]), fenced("while True:\n    pass\n"), timeout_s_per_test=1)
    call = B.grade(problem([("1", "1")], "f"), fenced("class Solution:\n    def f(self, a):\n        while True:\n            pass\n"),
                   timeout_s_per_test=1)
    for g in (stdin, call):
        assert not g.correct and g.details["harness"]["error"] == "Time Limit Exceeded", g.details
        assert g.details["verdict"]["elapsed_s"] < 5


def test_limits_follow_the_official_global_timeout():
    """check_correctness: the worker is joined after (timeout + 1) * n_tests + 5 seconds."""
    limits = L.limits_for(10, 6)
    assert limits.timeout_s == 75.0 and limits.memory_mb == L.MEMORY_MB
    assert L.limits_for(3).timeout_s == (L.TIMEOUT_S_PER_TEST + 1) * 3 + 5 == 98.0
    _, _, details = L.build_program(problem([("1\n", "1")] * 4), fenced("print(1)\n"), timeout_s_per_test=6)
    assert L.default_limits(details).timeout_s == 7 * 4 + 5


def test_import_header_is_the_official_import_string():
    lines = L.IMPORT_HEADER.splitlines()
    assert len(lines) == 35 and lines[0] == "from string import *" and lines[-1] == "sys.setrecursionlimit(50000)"
    assert lines.index("from builtins import *") > lines.index("from math import *")  # builtins pow wins over math.pow



def test_grade_many_uses_each_benchmarks_own_limits(monkeypatch):
    """Without caller limits, grade_many runs each program under its benchmark's default_limits
    (LCB's overall limit grows with the test count); with caller limits, those win for all."""
    from z1.benchmarks import _exec

    seen = []
    real = _exec.run_batch

    def spy(programs, *, limits=None, **kw):
        seen.append((len(programs), limits))
        return real(programs, limits=limits, **kw)

    monkeypatch.setattr(_exec, "run_batch", spy)
    small, big = problem([("1\n", "1\n")]), problem([(f"{i}\n", f"{i}\n") for i in range(6)])
    echo = fenced("print(input())\n")
    grades = B.grade_many([small, big, small], [echo] * 3, workers=2)
    assert [g.correct for g in grades] == [True, True, True]
    by_limits = {lim: n for n, lim in seen}
    assert by_limits == {L.default_limits({"n_tests": 1, "timeout_s_per_test": L.TIMEOUT_S_PER_TEST}): 2,
                         L.default_limits({"n_tests": 6, "timeout_s_per_test": L.TIMEOUT_S_PER_TEST}): 1}
    assert len(set(by_limits)) == 2
    seen.clear()
    from z1.sandbox import Limits

    mine = Limits(timeout_s=20)
    B.grade_many([small, big], [echo] * 2, workers=2, limits=mine)
    assert seen == [(2, mine)]


def test_evaluation_reports_the_paper_window_beside_the_full_set():
    import pandas as pd

    from z1.evaluation import with_paper_date_window

    df = pd.DataFrame({"benchmark": ["livecodebench_v5"] * 3 + ["humaneval"],
                       "contest_date": ["2024-08-31T00:00:00", "2024-09-01T00:00:00", "2025-01-04T00:00:00", None],
                       "correct": [True, False, True, True]})
    out = with_paper_date_window(df)
    window = out[out.benchmark == "livecodebench_v5 (contest_date >= 2024-09-01)"]
    assert list(window.contest_date) == ["2024-09-01T00:00:00", "2025-01-04T00:00:00"]
    assert (out.benchmark == "livecodebench_v5").sum() == 3 and len(out) == 6
    assert with_paper_date_window(df[df.benchmark == "humaneval"]).equals(df[df.benchmark == "humaneval"])
