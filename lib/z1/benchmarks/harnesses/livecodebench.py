"""LiveCodeBench's test harness: a port of ``lcb_runner/evaluation/testing_util.py`` (commit 15808c7,
the authors' copy), run as ``main.py`` in :mod:`z1.sandbox` by :mod:`z1.benchmarks.livecodebench`,
whose docstring gives the rules. Standard library only; it must not import z1.

stdin: one JSON object, read once at the start (afterwards stdin is at end of file, as the empty
stdin the program had when its parameters were part of its text):

    code                the extracted candidate program
    tests               [{"input": str, "output": str, ...}], public tests then private ones
    fn_name             the LeetCode method / function name, or null for a stdin problem
    header              LCB's import header (``IMPORT_HEADER``)
    timeout_s_per_test  the per-test alarm, int seconds
    int_max_str_digits  for ``sys.set_int_max_str_digits``

stdout: the last line is one JSON object, ``{"passed": true, "tests": n}`` or ``{"passed": false,
"error": ..., ...}``; the exit status is 0 iff passed (``os._exit``, so nothing the candidate left
behind runs after the verdict).
"""

import ast
import faulthandler
import io
import json
import os
import signal
import sys
from decimal import Decimal
from types import ModuleType

_OUT, _IN, _exit = sys.stdout, sys.stdin, os._exit


def _result_line(ok, **kw):
    line = json.dumps({"passed": ok, **kw})
    return line if len(line) < 1500 else json.dumps({"passed": ok, "error": str(kw.get("error"))[:1000]})


def _report(ok, **kw):
    _OUT.write("\n" + _result_line(ok, **kw) + "\n")
    _OUT.flush()
    _exit(0 if ok else 1)


class TimeoutException(Exception):
    pass


def _alarm(signum, frame):
    print("timeout occured: alarm went off")  # as LCB's timeout_handler (into captured stdout)
    raise TimeoutException


def _guard():
    # LCB's reliability_guard(): what it switches off, programs here cannot use either
    import builtins
    import shutil
    import subprocess

    faulthandler.disable()
    builtins.quit = None
    builtins.help = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
                 "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown",
                 "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir"):
        setattr(os, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None


def _clean_if_name(code):
    """LCB's clean_if_name: a last ``if __name__ == '__main__':`` block is inlined."""
    try:
        tree = ast.parse(code)
        last = tree.body[-1]
        if isinstance(last, ast.If) and ast.unparse(last.test).strip() == "__name__ == '__main__'":
            code = ast.unparse(tree.body[:-1]) + "\n" + ast.unparse(last.body)
    except Exception:
        pass
    return code


def _make_function(code, header):
    """LCB's make_function: the imports stay at the top, every other statement goes into
    ``wrapped_function()``; the import header comes first."""
    try:
        tree = ast.parse(code)
        imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
        others = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
        kw = {"type_params": []} if "type_params" in ast.FunctionDef._fields else {}
        fn = ast.FunctionDef(name="wrapped_function", args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                             kw_defaults=[], defaults=[]), body=others, decorator_list=[], lineno=-1, **kw)
        return header + "\n" + ast.unparse(ast.Module(body=imports, type_ignores=[])) + "\n" + ast.unparse(fn)
    except Exception:
        return code  # LCB runs it unchanged; compiling it raises


def _compile(code, per_test):
    signal.alarm(per_test)
    try:
        module = ModuleType("tmp_sol", "")
        exec(code, module.__dict__)
        return module.Solution() if "class Solution" in code else module
    finally:
        signal.alarm(0)


def _failed(i, e):
    kind = "Time Limit Exceeded" if "timeoutexception" in repr(e).lower() else "Runtime Error"
    _report(False, test=i, error=kind, exception=repr(e)[:300])


def _lines(s):
    return [x.strip() for x in s.strip().split("\n")]


def _decimals(line):
    try:
        return [Decimal(x) for x in line.split()]
    except Exception:
        return None


def _stdout_mismatch(output, expected):
    """LCB's grade_stdio on one test: None when ``output`` matches ``expected``, else the report's fields.

    Both are stripped and split into stripped lines; the line counts must match; lines are equal as
    text or else as lists of Decimals of their whitespace-separated tokens (no tolerance)."""
    got, want = _lines(output), _lines(expected)
    if len(got) != len(want):
        return {"error": "Wrong answer: mismatched output length"}
    for a, b in zip(got, want, strict=False):
        if a == b:
            continue
        da, db = _decimals(a), _decimals(b)
        if da is None or db is None or da != db:
            return {"error": "Wrong Answer", "got": a[:300], "expected": b[:300]}
    return None


def _call_mismatch(got, expected):
    """LCB's grade_call_based on one result: a returned tuple becomes a list (top level only), then
    plain ``==``; None when equal, else the report's fields."""
    if isinstance(got, tuple):  # LCB: "don't penalize model if it produces tuples instead of lists"
        got = list(got)
    if not (got == expected):
        return {"error": "Wrong Answer", "got": repr(got)[:300]}
    return None


def main():
    params = json.loads(sys.stdin.buffer.read())
    code, tests, fn_name = params["code"], params["tests"], params["fn_name"]
    header, per_test = params["header"], params["timeout_s_per_test"]
    sys.set_int_max_str_digits(params["int_max_str_digits"])
    signal.signal(signal.SIGALRM, _alarm)
    try:  # LCB's worker imported numpy before reliability_guard; importing it after fails (os.putenv is None)
        import numpy  # noqa: F401
    except ImportError:
        pass
    _guard()
    try:
        code = header + "\n\n" + code if fn_name else _make_function(_clean_if_name(code), header)
        target = getattr(_compile(code, per_test), fn_name or "wrapped_function", None)
    except BaseException as e:
        _report(False, error=f"Error during testing: {e!r}")
    if target is None:
        _report(False, error=f"Error during testing: {fn_name or 'wrapped_function'} not found")

    if fn_name:
        try:
            inputs = [[json.loads(line) for line in t["input"].split("\n")] for t in tests]
            outputs = [json.loads(t["output"]) for t in tests]
        except BaseException as e:
            _report(False, error=f"Error during testing: {e!r}")
        for i, (args, expected) in enumerate(zip(inputs, outputs, strict=False)):
            signal.alarm(per_test)
            sys.stdout = io.StringIO()  # a call-based program's prints are not graded
            try:
                got = target(*args)
                signal.alarm(0)
                wrong = _call_mismatch(got, expected)
                if wrong:
                    _report(False, test=i, **wrong)
            except BaseException as e:
                signal.alarm(0)
                _failed(i, e)
            finally:
                signal.alarm(0)
                sys.stdout = _OUT
    else:
        for i, t in enumerate(tests):
            captured = io.StringIO()
            signal.alarm(per_test)
            sys.stdout, sys.stdin = captured, io.StringIO(t["input"])
            try:
                try:
                    target()
                except SystemExit:
                    pass
                signal.alarm(0)
            except BaseException as e:
                signal.alarm(0)
                sys.stdout, sys.stdin = _OUT, _IN
                _failed(i, e)
            finally:
                signal.alarm(0)
                sys.stdout, sys.stdin = _OUT, _IN
            wrong = _stdout_mismatch(captured.getvalue(), t["output"])
            if wrong:
                _report(False, test=i, **wrong)
    _report(True, tests=len(tests))


if __name__ == "__main__":
    main()
