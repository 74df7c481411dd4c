"""The sandbox harnesses of the code graders (z1/benchmarks/harnesses/*.py) as modules.

Their pure helpers are imported and checked here directly (LCB's output comparison, clean_if_name and
make_function; the CodeI/O checker's normalisation and comparison; BigCodeBench's suite runner and its
pieces); the whole programs are checked for what the sandbox relies on (standard library only, no
side effects on import, parameters read from stdin once); and no grader module may carry a Python
program as a string literal again.
"""

import ast
import builtins
import importlib
import io
import json
import math
import os
import random
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from z1 import benchmarks as B
from z1.benchmarks import _exec, codeio, harnesses
from z1.benchmarks import bigcodebench as BCB
from z1.benchmarks import livecodebench as L
from z1.benchmarks.harnesses import bigcodebench as bh
from z1.benchmarks.harnesses import codeio as ch
from z1.benchmarks.harnesses import livecodebench as lh

BENCHMARKS_DIR = Path(B.__file__).parent
HARNESS_FILES = {name: BENCHMARKS_DIR / "harnesses" / f"{name}.py" for name in harnesses.NAMES}
OPTIONAL = {"numpy", "matplotlib"}  # used when installed, each import guarded by `except ImportError`


def fenced(code: str) -> str:
    return f"Here is the solution.\n```python\n{code}```\nIt works."


# ------------------------------------------------------------------------------ the programs


def test_source_is_the_module_file():
    for name, path in HARNESS_FILES.items():
        assert harnesses.source(name) == path.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="unknown harness"):
        harnesses.source("humaneval")


def _guarded_by_import_error(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in node.handlers):
            return True
    return False


@pytest.mark.parametrize("name", harnesses.NAMES)
def test_harness_is_standard_library_only(name):
    """They run as main.py with the bare interpreter: no z1, no third-party import that can fail."""
    tree = ast.parse(harnesses.source(name))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: relative import at line {node.lineno}"
            tops = [node.module.split(".")[0]]
        else:
            continue
        for top in tops:
            assert top != "z1", f"{name} imports z1 (line {node.lineno})"
            if top not in sys.stdlib_module_names:
                assert top in OPTIONAL and _guarded_by_import_error(node, parents), (name, top, node.lineno)


@pytest.mark.parametrize("name", harnesses.NAMES)
def test_harness_has_a_main_guard(name):
    tree = ast.parse(harnesses.source(name))
    assert any(isinstance(s, ast.FunctionDef) and s.name == "main" for s in tree.body)
    last = tree.body[-1]
    assert isinstance(last, ast.If) and ast.unparse(last.test) == "__name__ == '__main__'"
    assert ast.unparse(last.body) == "main()"


def test_importing_the_harnesses_changes_nothing():
    """Guards, patches, limits and signal handlers happen in main() only, so tests can import the helpers."""
    before = (signal.getsignal(signal.SIGALRM), os.kill, os.getcwd, os.system, subprocess.Popen, subprocess.run,
              builtins.quit, builtins.exit, sys.get_int_max_str_digits(), os.getcwd(), sys.stdin, sys.stdout)
    for module in (lh, bh, ch):
        importlib.reload(module)
    after = (signal.getsignal(signal.SIGALRM), os.kill, os.getcwd, os.system, subprocess.Popen, subprocess.run,
             builtins.quit, builtins.exit, sys.get_int_max_str_digits(), os.getcwd(), sys.stdin, sys.stdout)
    assert after == before


def _params_read_by_main(name: str) -> set[str]:
    tree = ast.parse(harnesses.source(name))
    main = next(s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == "main")
    return {n.slice.value for n in ast.walk(main) if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name)
            and n.value.id == "params" and isinstance(n.slice, ast.Constant)}


def _lcb_problem(tests, func_name=None):
    cases = [{"input": i, "output": o, "testtype": "functional" if func_name else "stdin"} for i, o in tests]
    return B.Problem(benchmark=L.NAME, problem_id="lcb/h", messages=[],
                     reference={"public_test_cases": cases[:1], "private_test_cases": L.encode_private(cases[1:]),
                                "func_name": func_name, "starter_code": ""})


def _bcb_problem(test: str):
    return B.Problem(benchmark=BCB.NAME, problem_id="BigCodeBench/h", messages=[], reference={
        "entry_point": "task_func", "complete_prompt": "def task_func():\n", "code_prompt": "def task_func():\n",
        "canonical_solution": "    return 1\n", "test": "import unittest\nclass TestCases(unittest.TestCase):\n" + test})


def _codeio_problem(reference: str):
    return B.Problem(benchmark=codeio.NAME, problem_id="codeio/h", messages=[], reference={
        "code_sample": reference, "input_generator": "def generate_inputs(rng):\n    return {'x': rng.randint(1, 9)}\n",
        "entry_point": "main_solution"})


def test_build_program_sends_the_parameters_on_stdin():
    """Each grader's program is its harness's file unchanged, with one JSON object on stdin holding
    exactly the keys main() reads."""
    lcb = _lcb_problem([("1\n", "1"), ("2\n", "2")], "f")
    program, code, details = L.build_program(lcb, fenced("def f(a):\n    return a\n"), timeout_s_per_test=6)
    assert isinstance(program, _exec.Program) and program.code == harnesses.source("livecodebench")
    params = json.loads(program.stdin)
    assert params == {"code": code, "tests": L.tests_of(lcb), "fn_name": "f", "header": L.IMPORT_HEADER,
                      "timeout_s_per_test": 6, "int_max_str_digits": L.INT_MAX_STR_DIGITS}
    assert set(params) == _params_read_by_main("livecodebench") and details["n_tests"] == 2

    bcb = _bcb_problem("    def test_a(self):\n        self.assertEqual(task_func(), 1)\n")
    program, solution, _ = BCB.build_program(bcb, "def task_func():\n    return 1\n```\n", timeout_s=5)
    assert program.code == harnesses.source("bigcodebench")
    params = json.loads(program.stdin)
    assert params == {"solution": solution, "test": bcb.reference["test"], "timeout_s": 5.0,
                      "max_as_mb": BCB.MAX_AS_MB, "max_data_mb": BCB.MAX_DATA_MB, "max_stack_mb": BCB.MAX_STACK_MB}
    assert set(params) == _params_read_by_main("bigcodebench")
    canonical = BCB.canonical_program(bcb)
    assert canonical.code == program.code and json.loads(canonical.stdin)["solution"] == "def task_func():\n\n    return 1\n"

    cio = _codeio_problem("def main_solution(x):\n    return x\n")
    program, code, _ = codeio.build_program(cio, fenced("def main_solution(x):\n    return x\n"), n_inputs=4, seed=7)
    assert program.code == harnesses.source("codeio")
    params = json.loads(program.stdin)
    assert params == {"reference": cio.reference["code_sample"], "candidate": code,
                      "generator": cio.reference["input_generator"], "n_inputs": 4, "seed": 7}
    assert set(params) == _params_read_by_main("codeio")
    # the JSON is ASCII (lone surrogates and NULs in an answer survive the trip through the sandbox's stdin file)
    odd = "def main_solution(x):\n    return '\ud800\x00é'\n"
    program, code, _ = codeio.build_program(cio, fenced(odd))
    assert program.stdin.isascii() and json.loads(program.stdin)["candidate"] == code

    he = B.load("humaneval")[0]
    program, _, _ = B.humaneval.build_program(he, fenced(he.reference["prompt"] + he.reference["canonical_solution"]))
    assert isinstance(program, _exec.Program) and program.stdin == "" and "check(has_close_elements)" in program.code
    for mod, p in ((L, lcb), (codeio, cio), (B.humaneval, he)):  # no code, no program
        assert mod.build_program(p, "")[0] is None


def test_harnesses_see_an_exhausted_stdin():
    """Read once at the start: afterwards the candidate finds stdin at its end (before, it was empty),
    through sys.stdin, open(0) and input() alike."""
    lcb = _lcb_problem([("1", '"1|0|0"')], "f")
    lcb_answer = ("import sys\nclass Solution:\n    def f(self, a):\n"
                  "        return f'{a}|{len(sys.stdin.read())}|{len(open(0, closefd=False).read())}'\n")
    bcb = _bcb_problem("    def test_a(self):\n        self.assertEqual(task_func(), 0)\n")
    bcb_answer = "def task_func():\n    return len(open(0, closefd=False).read())\n```\n"
    cio = _codeio_problem("def main_solution(x):\n    return [x, 0, 'eof']\n")
    cio_answer = ("import sys\ndef main_solution(x):\n    try:\n        input()\n        tail = 'line'\n"
                  "    except EOFError:\n        tail = 'eof'\n    return [x, len(sys.stdin.read()) + len(open(0, closefd=False).read()), tail]\n")
    grades = B.grade_many([lcb, bcb, cio], [fenced(lcb_answer), bcb_answer, fenced(cio_answer)], workers=2)
    assert [g.correct for g in grades] == [True, True, True], [g.details.get("harness") or g.details.get("checker")
                                                               for g in grades]


@pytest.mark.parametrize("name", ["livecodebench", "codeio"])
def test_harness_runs_as_a_plain_script(name, tmp_path):
    """Outside the sandbox and without site-packages (so without z1): the file is the whole program."""
    if name == "livecodebench":
        program, _, _ = L.build_program(_lcb_problem([("3\n", "6"), ("5\n", "10")]), fenced("print(int(input()) * 2)\n"))
        want = {"passed": True, "tests": 2}
    else:
        cio = _codeio_problem("def main_solution(x):\n    return x * 2\n")
        program, _, _ = codeio.build_program(cio, fenced("def main_solution(x):\n    return x + x\n"), n_inputs=3)
        want = {"passed": True, "n_inputs": 3, "reference_nondeterministic": False}
    out = subprocess.run([sys.executable, "-I", "-S", str(HARNESS_FILES[name])], input=program.stdin, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == want


# ------------------------------------------------------------------------------ LiveCodeBench helpers


def test_lcb_lines_and_decimals():
    assert lh._lines("\n 1 2  \n\n 3\n\n") == ["1 2", "", "3"]
    assert lh._decimals("1e2 3.000 -0") == [Decimal(100), Decimal(3), Decimal(0)]
    assert lh._decimals("") == []
    assert lh._decimals("1 two") is None


@pytest.mark.parametrize("output,expected,verdict", [
    ("1.0\n", "1", None),  # Decimal equality: "1.0" == "1"
    ("1e2 3\n", "100 3.000", None),
    ("1  2\n", "1 2", None),  # split() ignores repeated spaces
    ("1.01\n", "1", "Wrong Answer"),  # no tolerance
    ("0.30000000000000004\n", "0.3", "Wrong Answer"),
    ("a  b\n", "a b", "Wrong Answer"),  # text lines compare exactly
    ("1 2   \n  3\n\n", "1 2\n3\n\n", None),  # each line stripped, trailing blank lines dropped
    ("1\n\n2\n", "1\n2", "Wrong answer: mismatched output length"),  # an inner blank line counts
    ("1\n", "1\n2", "Wrong answer: mismatched output length"),
    ("", "", None),
    ("NaN\n", "NaN", None),  # equal as text
    ("nan\n", "NaN", "Wrong Answer"),  # as Decimals NaN equals nothing
])
def test_lcb_stdout_comparison(output, expected, verdict):
    got = lh._stdout_mismatch(output, expected)
    assert (got or {}).get("error") == verdict


def test_lcb_wrong_answer_reports_the_first_differing_lines_cut_to_300():
    got = lh._stdout_mismatch("same\n" + "x" * 500 + "\nlater", "same\ny\nlater2")
    assert got == {"error": "Wrong Answer", "got": "x" * 300, "expected": "y"}


def test_lcb_call_based_comparison():
    assert lh._call_mismatch((1, 2), [1, 2]) is None  # a returned tuple becomes a list
    assert lh._call_mismatch([(1, 2)], [[1, 2]]) == {"error": "Wrong Answer", "got": "[(1, 2)]"}  # top level only
    assert lh._call_mismatch(3.0, 3) is None
    assert lh._call_mismatch(0.1 + 0.2, 0.3)["got"] == "0.30000000000000004"
    assert len(lh._call_mismatch("z" * 1000, "y")["got"]) == 300


def test_lcb_result_line_is_cut_when_long():
    assert json.loads(lh._result_line(True, tests=3)) == {"passed": True, "tests": 3}
    long = json.loads(lh._result_line(False, test=0, error="Wrong Answer", got="x" * 2000))
    assert long == {"passed": False, "error": "Wrong Answer"}


@pytest.mark.parametrize("code,expected", [
    ("def main():\n    print(1)\nif __name__ == '__main__':\n    main()\n", "def main():\n    print(1)\nmain()"),
    ('x = 1\nif __name__ == "__main__":\n    print(x)\n    print(2)\n', "x = 1\nprint(x)\nprint(2)"),  # any quotes
    ("if __name__ == '__main__':\n    main()\nprint(3)\n", None),  # not the last statement: unchanged
    ("if __name__ != '__main__':\n    main()\n", None),
    ("if '__main__' == __name__:\n    main()\n", None),  # LCB matches the unparsed text exactly
    ("def broken(:\n", None),  # does not parse: unchanged
])
def test_lcb_clean_if_name(code, expected):
    assert lh._clean_if_name(code) == (code if expected is None else expected)


def _run_wrapped(source: str, stdin: str, monkeypatch, capsys) -> str:
    ns: dict = {}
    exec(source, ns)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    ns["wrapped_function"]()
    return capsys.readouterr().out


def test_lcb_make_function_wraps_a_stdin_program(monkeypatch, capsys):
    header = "HEADER_WAS_HERE = True"
    code = "import sys\nfrom math import gcd\nn = int(input())\nfor line in sys.stdin:\n    print(gcd(n, int(line)))\n"
    wrapped = lh._make_function(code, header)
    assert wrapped.startswith(header + "\nimport sys\nfrom math import gcd\ndef wrapped_function():\n")
    assert _run_wrapped(wrapped, "12\n8\n9\n", monkeypatch, capsys) == "4\n3\n"
    # called once per test: the program's state starts afresh each time
    assert _run_wrapped(wrapped, "5\n10\n", monkeypatch, capsys) == "5\n"


def test_lcb_make_function_turns_program_globals_into_locals(monkeypatch, capsys):
    """`global x` in a helper then finds no module-level x, as in LCB."""
    wrapped = lh._make_function("x = 1\ndef f():\n    global x\n    x += 1\nf()\nprint(x)\n", "")
    with pytest.raises(NameError):
        _run_wrapped(wrapped, "", monkeypatch, capsys)
    main_guarded = lh._clean_if_name("def main():\n    print(input()[::-1])\n\nif __name__ == '__main__':\n    main()\n")
    assert _run_wrapped(lh._make_function(main_guarded, ""), "abc\n", monkeypatch, capsys) == "cba\n"


def test_lcb_make_function_leaves_unparsable_code_alone():
    assert lh._make_function("print(1\n", "HEADER") == "print(1\n"


def test_lcb_compile_takes_the_method_from_solution_when_the_text_says_so():
    target = lh._compile("class Solution:\n    def f(self, a):\n        return a + 1\n", 5)
    assert type(target).__name__ == "Solution" and target.f(1) == 2
    module = lh._compile("def f(a):\n    return a + 2\n", 5)
    assert module.__name__ == "tmp_sol" and module.f(1) == 3
    with pytest.raises(AttributeError):  # the text alone decides: no class, yet Solution() is asked for
        lh._compile("# class Solution\ndef f(a):\n    return a\n", 5)
    assert signal.alarm(0) == 0  # the per-test alarm was cancelled


# ------------------------------------------------------------------------------ CodeI/O checker helpers


def test_codeio_norm_makes_results_json_shaped():
    assert ch._norm((1, (2, 3))) == [1, [2, 3]]
    assert ch._norm({3, 1, 2}) == [1, 2, 3]
    assert ch._norm({1: "a", (2, 3): {4}}) == {"1": "a", "(2, 3)": [4]}
    assert ch._norm(float("inf")) == float("inf")
    assert ch._norm(Decimal("1.5")) == "1.5"  # what JSON cannot carry becomes its str


def test_codeio_norm_converts_numpy():
    np = pytest.importorskip("numpy")
    assert ch._norm(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    got = ch._norm({"a": np.int64(3), "b": np.float32(0.5), "c": np.bool_(True)})
    assert got == {"a": 3, "b": 0.5, "c": True} and type(got["a"]) is int and type(got["c"]) is bool


@pytest.mark.parametrize("a,b,same", [
    (1.0, 1.0 + 1e-9, True),  # rel 1e-6
    (1000.0, 1000.0005, True),
    (1.0, 1.001, False),
    (0.0, 1e-10, True),  # abs 1e-9
    (0.0, 1e-8, False),
    (1, 1.0, True),  # int against float: tolerant compare
    (2, 3, False),
    (10**20, 10**20 + 1, False),  # ints exactly
    (float("nan"), float("nan"), True),
    (True, 1, False),  # bools only equal bools
    (True, True, True),
    (False, 0.0, False),
    ([1, [2.0, 3]], [1, [2, 3]], True),
    ([1, 2], [1, 2, 3], False),
    ({"a": 1.0}, {"a": 1.0000001}, True),
    ({"a": 1}, {"b": 1}, False),
    ("1", 1, False),
    (None, None, True),
])
def test_codeio_same(a, b, same):
    assert ch._same(a, b) is same
    assert ch._same(b, a) is same


def test_codeio_call_reseeds_and_copies():
    def draw(xs):
        xs.append(random.random())
        return xs

    args = [1]
    first, again = ch._call(draw, args, 42), ch._call(draw, args, 42)
    assert first == again and args == [1]  # same global RNG state per call; the input is a deep copy
    assert ch._call(draw, args, 43) != first
    assert ch._call(lambda a, b: a - b, {"b": 1, "a": 3}, 0) == 2  # a dict is keyword arguments


def test_codeio_load_and_report(capsys):
    fn = ch._load("import math\ndef main_solution(x):\n    return math.sqrt(x)\n", "main_solution", "candidate")
    assert fn(9) == 3.0 and fn.__globals__["__name__"] == "__z1_candidate__"
    with pytest.raises(SystemExit) as e:
        ch._load("def main_solution(x)\n", "main_solution", "candidate")
    assert e.value.code == 1
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["passed"] is False and line["error"].startswith("candidate: SyntaxError(")
    with pytest.raises(SystemExit):
        ch._load("x = 1\n", "main_solution", "reference")
    assert json.loads(capsys.readouterr().out)["error"] == "reference: KeyError('main_solution')"
    assert len(ch._result_line(False, got="x" * 9000)) == 4000
    assert json.loads(ch._result_line(True, when=math)) == {"passed": True, "when": str(math)}  # default=str


# ------------------------------------------------------------------------------ BigCodeBench runner pieces


def test_bcb_short_details_keep_four_tails():
    details = {f"test_{i}": "x" * 400 + str(i) for i in range(6)}
    short = bh._short(details)
    assert list(short) == ["test_0", "test_1", "test_2", "test_3"] and short["test_1"] == "x" * 299 + "1"


def test_bcb_rlimit_never_above_the_sandbox_hard_limit():
    import resource

    assert bh._rlimit_bytes(5, resource.RLIM_INFINITY) == 5 * 1024 * 1024
    assert bh._rlimit_bytes(4096, 2**30) == 2**30
    assert bh._rlimit_bytes(1, 2**30) == 2**20


def test_bcb_write_only_stdin():
    stream = bh._WriteOnly()
    for read in (stream.read, stream.readline, stream.readlines):
        with pytest.raises(OSError):
            read()
    assert stream.readable() is False and stream.write("ok") == 2 and stream.getvalue() == "ok"


@pytest.fixture
def suite_runner():
    """_run_suite in this process, with what it leaves behind (sys.modules['__test__'], the SIGALRM
    handler) put back afterwards."""
    handler = signal.getsignal(signal.SIGALRM)
    saved = sys.modules.get("__test__")
    yield bh._run_suite
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, handler)
    if saved is None:
        sys.modules.pop("__test__", None)
    else:
        sys.modules["__test__"] = saved


TESTS = ("import unittest\nclass TestCases(unittest.TestCase):\n"
         "    def test_one(self):\n        self.assertEqual(task_func(1), 2)\n"
         "    def test_two(self):\n        self.assertEqual(task_func(2), 4)\n"
         "    @unittest.skip('not today')\n    def test_skipped(self):\n        self.fail()\n")


def test_bcb_run_suite_pass_fail_and_error(suite_runner):
    assert suite_runner("def task_func(x):\n    return 2 * x\n", TESTS, 5.0) == ("pass", {})  # a skip is a pass
    status, issues = suite_runner("def task_func(x):\n    return 2 if x == 1 else 0\n", TESTS, 5.0)
    assert status == "fail" and list(issues) == ["test_two"] and "AssertionError: 0 != 4" in issues["test_two"]
    status, issues = suite_runner("def task_func(x):\n    raise KeyError('k')\n", TESTS, 5.0)
    assert status == "fail" and set(issues) == {"test_one", "test_two"} and "KeyError" in issues["test_one"]
    assert suite_runner("def task_func(x)\n", TESTS, 5.0)[1].keys() == {"ALL"}  # the module does not compile
    assert suite_runner("def task_func(x):\n    return x\n", "x = 1\n", 5.0) == (
        "fail", {"ALL": "module '__test__' has no attribute 'TestCases'"})


def test_bcb_run_suite_environment_and_io(suite_runner, capsys):
    """Module __test__ with sys/os/environ pre-set, registered in sys.modules; output swallowed; stdin
    unreadable; SystemExit inside the module is a failure of ALL."""
    tests = ("import unittest\nclass TestCases(unittest.TestCase):\n    def test_env(self):\n"
             "        import sys as real_sys\n        self.assertIs(sys, real_sys)\n"
             "        self.assertIs(environ, os.environ)\n        self.assertIs(real_sys.modules['__test__'].task_func, task_func)\n"
             "        self.assertEqual(__name__, '__test__')\n        print('loud')\n"
             "        with self.assertRaises(OSError):\n            input()\n")
    assert suite_runner("def task_func():\n    pass\n", tests, 5.0) == ("pass", {})
    assert capsys.readouterr().out == ""
    assert suite_runner("import sys\nsys.exit(3)\n", tests, 5.0) == ("fail", {"ALL": "3"})
    assert sys.stdin is not None and not isinstance(sys.stdin, bh._WriteOnly)  # put back


def test_bcb_run_suite_timer(suite_runner):
    """One timer for the whole suite; the TimeoutException it raises is the running test's error."""
    status, issues = suite_runner("def task_func(x):\n    while x == 1:\n        pass\n    return 2 * x\n", TESTS, 0.2)
    assert status == "fail" and list(issues) == ["test_one"] and "Timed out!" in issues["test_one"]


# ------------------------------------------------------------------------------ no programs in strings


MAX_PROGRAM_LINES = 15


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                out.add(id(first.value))
    return out


def embedded_programs(source: str) -> list[tuple[int, int]]:
    """(line, length) of each string literal (docstrings aside) that parses as a Python program of more
    than MAX_PROGRAM_LINES non-blank lines; f-strings count with their fields as names."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    inner = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    found = []
    for node in ast.walk(tree):
        if id(node) in skip or id(node) in inner:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "_z1_field" for v in node.values)
        else:
            continue
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) <= MAX_PROGRAM_LINES:
            continue
        for candidate in (text, text.replace("__", "_z1_")):  # placeholders such as __CODE__ are names too
            try:
                ast.parse(candidate)
            except (SyntaxError, ValueError):
                continue
            found.append((node.lineno, len(lines)))
            break
    return found


def test_the_check_finds_a_template():
    body = "\n".join(f"def f{i}(x):\n    return x + {i}" for i in range(8))
    template = "X = 1\n_T = r'''\nimport json\nCODE = __CODE__\n" + body + "\n'''\n"
    assert embedded_programs(template) == [(2, 18)]
    assert embedded_programs(f"Y = f'''\nimport {{m}}\n{body}\n'''\n") == [(1, 17)]
    assert embedded_programs("def g():\n    '''" + body + "'''\n") == []  # a docstring
    assert embedded_programs("Z = '''" + "\n".join(f"line {i} of prose." for i in range(30)) + "'''\n") == []


def test_no_grader_module_holds_a_program_in_a_string():
    """The sandbox programs live in harnesses/*.py, where they are linted, imported and tested."""
    files = sorted(BENCHMARKS_DIR.rglob("*.py"))
    assert {f.name for f in files} >= {"livecodebench.py", "bigcodebench.py", "codeio.py", "humaneval.py"}
    found = {str(f.relative_to(BENCHMARKS_DIR)): embedded_programs(f.read_text(encoding="utf-8")) for f in files}
    assert {k: v for k, v in found.items() if v} == {}
