"""The sandbox package's pieces on their own: its scripts as real, stdlib-only modules; the status
protocol; output capture; verdict classification; the keyring seccomp program; the mount plans."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from z1 import sandbox
from z1.sandbox import capture, launcher, plans, verdicts
from z1.sandbox.capture import Capture, Collected
from z1.sandbox.limits import Limits

PACKAGE = Path(sandbox.__file__).resolve().parent
SCRIPTS = ["launcher", "zygote", "nethook", "probe"]  # run inside the sandbox's process tree, by path


def _strings(tree: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_program_text_in_string_literals_and_small_modules(path):
    tree = ast.parse(path.read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    for node in _strings(tree):
        if id(node) in docstrings or node.value.count("\n") < 3:
            continue
        try:
            ast.parse(node.value)
        except SyntaxError:
            continue
        pytest.fail(f"{path.name}:{node.lineno}: a string literal holds a Python program")
    assert len(path.read_text().splitlines()) <= 400, f"{path.name} is over 400 lines"


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_import_only_the_standard_library(name):
    """They run in the zygote or the program's interpreter before any program: no z1, no site packages,
    and the launcher/nethook the zygote imports sit next to it."""
    tree = ast.parse(Path(plans.script(name)).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}.py uses a relative import"
            imported.add(node.module.split(".")[0])
    outside = imported - set(sys.stdlib_module_names) - {"launcher", "nethook"}
    assert outside == set(), f"{name}.py imports {outside}"


def test_launcher_runs_by_path_and_reports_json():
    """The Popen path's launcher, run exactly as the parent runs it, in the degraded no-namespace mode."""
    r_fd, w_fd = os.pipe()
    with tempfile.TemporaryDirectory() as workdir:
        Path(workdir, "main.py").write_text("import sys\nprint('hi', sys.argv)\nsys.exit(3)\n")
        cfg = {"workdir": workdir, "want_ns": [], "mounts": False, "tmpfs_mb": 16, "rlimits": Limits().rlimits(),
               "expose": [], "keep": [], "uid": None, "gid": None, "env": plans.program_env(workdir),
               "argv": [sys.executable, "-s", "-P", "-B", "main.py"], "hook_net": False, "deny_keyrings": False,
               "net_hook": plans.script("nethook"), "need": [sys.executable], "status_fd": w_fd}
        proc = subprocess.run([sys.executable, "-I", "-S", plans.script("launcher"), json.dumps(cfg)],
                              capture_output=True, text=True, pass_fds=(w_fd,), timeout=30)
        os.close(w_fd)
        with os.fdopen(r_fd) as f:
            status = f.read()
    assert proc.stdout == "hi ['main.py']\n" and proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in status.splitlines()]
    assert lines[0] == {"ns": [], "mounts": {}}
    assert lines[1]["exit"] == 3 and lines[1]["cpu"] >= 0


def test_keyring_filter_denies_exactly_the_keyring_calls_and_foreign_abis():
    prog = launcher.keyring_filter()
    if prog is None:
        pytest.skip("no keyring filter for this architecture")

    def run(arch: int, nr: int) -> int:
        """A classic-BPF interpreter for the instructions the filter uses."""
        data = {0: nr, 4: arch}
        acc, pc = 0, 0
        while True:
            code, jt, jf, k = prog[pc]
            if code == 0x20:
                acc = data[k]
            elif code == 0x15:
                pc += jt if acc == k else jf
            elif code == 0x35:
                pc += jt if acc >= k else jf
            elif code == 0x06:
                return k
            pc += 1

    arch, calls = launcher.KEYRING_CALLS[os.uname().machine]
    allow, eperm = 0x7FFF0000, 0x00050001
    assert [run(arch, nr) for nr in calls] == [eperm] * 3
    assert {run(arch, nr) for nr in range(0, 460) if nr not in calls} == {allow}
    assert run(arch, 0x40000000 + 1) == eperm  # x32
    assert run(0x40000003, 1) == eperm  # i386


def test_status_lines_are_merged_and_damaged_ones_skipped():
    raw = b'{"ns": ["pid"], "mounts": {}}\n{"exit": 0, "cpu\n{"exit": 2, "cpu": 0.5}\n[1, 2]\n'
    assert verdicts.status_info(raw) == {"ns": ["pid"], "mounts": {}, "exit": 2, "cpu": 0.5}


def test_capture_keeps_head_and_tail_and_says_what_it_dropped():
    c = Capture(100)
    for i in range(50):
        c.add(f"{i:03d}\n".encode())
    text = c.text()
    assert text.startswith("000\n001\n") and text.endswith("048\n049\n")
    assert "[output truncated: 200 bytes in total, 100 kept]" in text
    small = Capture(100)
    small.add(b"abc")
    assert small.text() == "abc" and small.tail_text() == "abc"


def _collected(stderr: str = "", killed=None, elapsed=0.1) -> Collected:
    out, err = Capture(1000), Capture(1000)
    err.add(stderr.encode())
    return Collected(out, err, b"", killed, capture.FLOOD_MIN, elapsed)


@pytest.mark.parametrize(("info", "stderr", "killed", "status", "reason"), [
    ({"exit": 0}, "", None, "passed", "exit code 0"),
    ({"exit": 1}, "Traceback (most recent call last):\n  x\nValueError: bad\n", None, "failed",
     "exit code 1: ValueError: bad"),
    ({"exit": 1}, "Traceback (most recent call last):\nMemoryError\n", None, "memory", "exit code 1: MemoryError"),
    ({"signal": signal.SIGXCPU, "cpu": 3.0}, "", None, "timeout", "CPU time limit of 4 s exceeded (SIGXCPU)"),
    ({"signal": signal.SIGKILL, "cpu": 4.0}, "", None, "timeout", "CPU time limit of 4 s exceeded (SIGKILL)"),
    ({"signal": signal.SIGSEGV, "cpu": 0.1}, "", None, "crashed", "killed by signal 11 (SIGSEGV)"),
    ({}, "", "timeout", "timeout", "wall-clock timeout after 3 s"),
    ({"exit": 0}, "", "straggler", "passed", "exit code 0"),  # only leftovers were killed
    ({"ns": [], "mount_error": "mount /tmp: EPERM"}, "", None, "crashed", "sandbox setup failed: mount /tmp: EPERM"),
    ({"error": "could not start the program: X"}, "", None, "crashed", "sandbox error: could not start the program: X"),
    ({"exit": 120}, "", None, "crashed", "exit code 120: could not flush stdout/stderr (closed or broken pipe)"),
    ({}, "", None, "crashed", "sandbox launcher ended without a status"),
])
def test_classification(info, stderr, killed, status, reason):
    v = verdicts.classify(_collected(stderr, killed), info, Limits(timeout_s=3))
    assert (v.status, v.reason) == (status, reason)


def test_plans_cover_the_interpreter_and_the_sandbox_scripts():
    needed = plans.interpreter_paths()
    assert os.path.realpath(sys.executable) in needed and plans.PACKAGE_DIR in needed
    for anc, entries in plans.expose_plan():
        assert all(e.startswith(anc + "/") for e in entries)
        assert not os.stat(anc).st_mode & 0o001  # only directories others cannot traverse are hidden
    assert all(plans.under_private(p) for p in plans.keep_plan())
    assert set(plans.program_env("/w")) == {"PATH", "LANG", "HOME", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED"}


def test_bwrap_layer_options_and_status_translation(tmp_path):
    from z1.sandbox import bwrap, runner

    cfg = runner.launch_config(str(tmp_path), Limits())
    argv = bwrap.argv(cfg, network=False, status_fd=5, seccomp_fd=6)
    assert {"--unshare-pid", "--unshare-ipc", "--unshare-net", "--die-with-parent", "--clearenv"} <= set(argv)
    assert argv[argv.index("--ro-bind") + 1: argv.index("--ro-bind") + 3] == ["/", "/"]
    i = argv.index("--bind")
    assert argv[i + 1: i + 3] == [str(tmp_path), str(tmp_path)]
    assert argv[argv.index("--seccomp") + 1] == "6" and argv[argv.index("--json-status-fd") + 1] == "5"
    assert argv[-5:] == cfg["argv"] and "--unshare-net" not in bwrap.argv(cfg, True, 5, None)
    if cfg["uid"] is not None:
        assert f"--reuid={cfg['uid']}" in argv
    job = type("J", (), {"cpu": 0.5})()
    assert bwrap.translate({"child-pid": 9, "exit-code": 3}, job, False)["exit"] == 3
    assert bwrap.translate({"exit-code": 128 + signal.SIGSEGV}, job, False)["signal"] == signal.SIGSEGV
    assert "error" in bwrap.translate({"child-pid": 9}, job, False)


def test_bwrap_layer_runs_a_contained_program(monkeypatch):
    from z1.sandbox import bwrap, runner

    if not bwrap.available():
        pytest.skip("bubblewrap layer needs root and bwrap + setpriv (apt-get install bubblewrap)")
    monkeypatch.setattr(runner, "isolation", "bwrap")
    v, info = runner.execute("import os\nprint(os.getuid())\nopen('/etc/z1-bwrap-probe', 'w')\n", "",
                             Limits(timeout_s=5), None)
    assert info["start_path"] == "bwrap" and v.status == "failed" and "Read-only file system" in v.stderr, v
    assert v.stdout == f"{sandbox.SANDBOX_UID}\n"
    v, _ = runner.execute("while True:\n    pass\n", "", Limits(timeout_s=1), None)
    assert v.status == "timeout"
