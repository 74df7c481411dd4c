"""BigCodeBench's test runner: a port of ``bigcodebench/eval`` ``untrusted_check`` -> ``unsafe_execute``
(harness commit c06dc5c, unchanged up to PyPI 0.2.5), run as ``main.py`` in :mod:`z1.sandbox` by
:mod:`z1.benchmarks.bigcodebench`, whose docstring gives the rules. Standard library only (matplotlib
is closed when present); it must not import z1.

stdin: one JSON object, read once at the start (afterwards stdin is at end of file, as the empty
stdin the program had when its parameters were part of its text; the tests see an unreadable one):

    solution        the code under test (calibrated prefix + sanitized answer, or the canonical solution)
    test            the task's unittest code (defines ``TestCases``)
    timeout_s       the suite's ``time_limit`` timer, float seconds
    max_as_mb, max_data_mb, max_stack_mb
                    RLIMIT_AS / RLIMIT_DATA / RLIMIT_STACK of ``reliability_guard`` (never raised
                    above the sandbox's hard limits)

stdout: the last line is one JSON object ``{"status": "pass" | "fail", "details": {test: trace}}``
(at most four entries, each cut to its last 300 characters); exit status 0 iff "pass". A process that
never gets there (killed, crashed) is the harness's "timeout".
"""

import builtins
import contextlib
import faulthandler
import io
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import types
import unittest

_OUT, _exit = sys.stdout, os._exit


def _short(details):
    return {k: str(v)[-300:] for k, v in list(details.items())[:4]}


def _report(status, details):
    _OUT.write("\n" + json.dumps({"status": status, "details": _short(details)}) + "\n")
    _OUT.flush()
    _exit(0 if status == "pass" else 1)


# safe_environment(): the originals, then the replacements (installed by _safe_environment)
_kill, _killpg, _system, _call, _check_output = os.kill, os.killpg, os.system, subprocess.call, subprocess.check_output
_run, _Popen, _popen = subprocess.run, subprocess.Popen, os.popen
_pid = os.getpid()
_pgid = os.getpgid(_pid)
_children = []


def _safe_kill(pid, sig):
    try:
        os.getpgid(pid)
        if pid == _pid or pid in _children:
            _kill(pid, sig)
        else:
            print(f"Prevented attempt to kill PID {pid} with signal {sig}")
    except ProcessLookupError:
        pass


def _safe_killpg(pgid, sig):
    if pgid == _pgid or pgid in {os.getpgid(p) for p in _children}:
        _killpg(pgid, sig)
    else:
        print(f"Prevented attempt to kill PGID {pgid} with signal {sig}")


def _safe_system(command):
    print(f"Intercepted system command: {command}")
    return 0 if ("kill" in command or "killall" in command) else _system(command)


def _safe_call(command, *args, **kwargs):
    print(f"Intercepted subprocess call: {command}")
    return 0 if ("kill" in command or "killall" in command) else _call(command, *args, **kwargs)


def _safe_check_output(command, *args, **kwargs):
    print(f"Intercepted command: {command}")
    return b"" if "ps" in command else _check_output(command, *args, **kwargs)


def _safe_run(*args, **kwargs):
    print(f"Intercepted subprocess run command: {args}")
    if "kill" in args[0] or "killall" in args[0]:
        return subprocess.CompletedProcess(args, 0, b"", b"")
    return _run(*args, **kwargs)


class _SafePopen(_Popen):
    def __init__(self, *args, **kwargs):
        print(f"Intercepted Popen command: {args}")
        kwargs["preexec_fn"] = os.setsid
        super().__init__(*args, **kwargs)
        _children.append(self.pid)

    def communicate(self, *args, **kwargs):
        try:
            return super().communicate(*args, **kwargs)
        except subprocess.TimeoutExpired:
            print("Timeout expired, intercepted and returning None")
            return None, None

    def kill(self):
        print(f"Intercepted kill call for PID {self.pid}")
        _safe_kill(self.pid, signal.SIGTERM)

    def terminate(self):
        print(f"Intercepted terminate call for PID {self.pid}")
        _safe_kill(self.pid, signal.SIGTERM)


def _safe_os_popen(command):
    print(f"Intercepted os.popen command: {command}")
    return _popen("echo Intercepted") if ("kill" in command or "killall" in command) else _popen(command)


def _safe_exec(*args, **kwargs):
    print(f"Intercepted exec command: {args}")


def _safe_environment():
    os.kill, os.killpg, os.system, os.popen = _safe_kill, _safe_killpg, _safe_system, _safe_os_popen
    subprocess.call, subprocess.check_output, subprocess.run, subprocess.Popen = (
        _safe_call, _safe_check_output, _safe_run, _SafePopen)
    os.execv = os.execvp = os.execvpe = _safe_exec


def _rlimit_bytes(mb, hard):
    """The harness's limit of ``mb`` MiB, but never above the hard limit the sandbox already set."""
    want = mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    return want


def _reliability_guard(max_as_mb, max_data_mb, max_stack_mb):
    os.environ["TZ"] = "UTC"
    time.tzset()
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    for res, mb in ((resource.RLIMIT_AS, max_as_mb), (resource.RLIMIT_DATA, max_data_mb),
                    (resource.RLIMIT_STACK, max_stack_mb)):
        _soft, hard = resource.getrlimit(res)
        want = _rlimit_bytes(mb, hard)
        resource.setrlimit(res, (want, want))
    faulthandler.disable()
    builtins.exit = None
    builtins.quit = None
    try:
        import matplotlib.pyplot as plt

        plt.close("all")
    except ImportError:
        pass


class TimeoutException(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds):
    def handler(signum, frame):
        raise TimeoutException("Timed out!")

    signal.setitimer(signal.ITIMER_REAL, seconds)
    signal.signal(signal.SIGALRM, handler)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class _WriteOnly(io.StringIO):
    def read(self, *args, **kwargs):
        raise OSError

    def readline(self, *args, **kwargs):
        raise OSError

    def readlines(self, *args, **kwargs):
        raise OSError

    def readable(self, *args, **kwargs):
        return False


@contextlib.contextmanager
def _swallow_io():
    stream = _WriteOnly()
    popen, run = subprocess.Popen, subprocess.run

    def _defaults(kwargs):
        if kwargs.get("capture_output"):
            kwargs.pop("stdout", None)
            kwargs.pop("stderr", None)
        else:
            kwargs.setdefault("stdout", subprocess.PIPE)
            kwargs.setdefault("stderr", subprocess.PIPE)
        return kwargs

    subprocess.Popen = lambda *a, **k: popen(*a, **_defaults(k))
    subprocess.run = lambda *a, **k: run(*a, **_defaults(k))
    stdin = sys.stdin
    sys.stdin = stream
    try:
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            yield
    finally:
        sys.stdin = stdin
        subprocess.Popen, subprocess.run = popen, run


def _run_suite(solution, test, timeout):
    """unsafe_execute: run ``solution`` + ``test`` as module ``__test__`` and its ``TestCases`` under one
    ``timeout``-second timer; ("pass" | "fail", {test name or "ALL": trace})."""
    module = types.ModuleType("__test__")
    module.__dict__.update({"__builtins__": builtins, "__file__": "__test__.py", "__package__": None, "__doc__": None,
                            "sys": sys, "os": os, "environ": os.environ})
    try:
        with _swallow_io():
            exec(compile(solution + "\n" + test, "__test__.py", "exec"), module.__dict__)
            sys.modules["__test__"] = module
            suite = unittest.TestLoader().loadTestsFromTestCase(module.TestCases)
            result = unittest.TestResult()
            with _time_limit(timeout):
                suite.run(result)
        issues = {case.id().split(".")[-1]: trace for case, trace in result.failures + result.errors}
        status = "fail" if issues else "pass"
    except BaseException as e:
        issues, status = {"ALL": str(e)}, "fail"
    return status, issues


def main():
    params = json.loads(sys.stdin.buffer.read())
    _safe_environment()
    os.chdir(tempfile.mkdtemp())  # create_tempdir()
    _reliability_guard(params["max_as_mb"], params["max_data_mb"], params["max_stack_mb"])
    _report(*_run_suite(params["solution"], params["test"], params["timeout_s"]))


if __name__ == "__main__":
    main()
