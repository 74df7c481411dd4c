"""Running one program: the work directory, the launcher config, the start path, the verdict.

Each program is written to ``main.py`` in a fresh temporary directory (owned by the sandbox uid when
the parent is root) and started on the zygote path (``zygotes.start``; ``Limits.reuse_interpreter``)
or, as the fallback, the Popen path: ``Popen`` of a fresh launcher, ``python -I -S launcher.py
'<json config>'``, in a new session, whose program process ``execve``s ``python -s -P -B main.py``.
The temporary directory is removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from . import zygotes
from .capture import collect
from .limits import SANDBOX_GID, SANDBOX_UID, Limits, Verdict
from .plans import expose_plan, keep_plan, program_env, script
from .verdicts import classify, status_info

use_namespaces = True  # tests switch this off to exercise the fallbacks (audit hook, subreaper)
mounts_broken = False  # set when the mount namespace setup failed once: then run without it
uid_switch_broken = False  # set when the sandbox uid cannot start the interpreter: then run as the caller
# the isolation layer: "launcher" (launcher.py, zygote path unless Limits say otherwise), "popen"
# (launcher.py, always a fresh interpreter) or "bwrap" (bubblewrap); see benchmarks/bench_isolation.py
isolation = os.environ.get("Z1_SANDBOX_ISOLATION", "launcher")
if isolation not in ("launcher", "popen", "bwrap"):
    raise ValueError(f"Z1_SANDBOX_ISOLATION={isolation!r}: expected launcher, popen or bwrap")
_lock = threading.Lock()


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def wait_unreaped(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited, without reaping it (so its pid/pgid cannot be recycled yet)."""
    end = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.002)


class PopenJob:
    """A sandbox started by ``Popen`` of the launcher (a child of this process)."""

    path = "popen"

    def __init__(self, proc: subprocess.Popen, status_fd: int):
        self.proc, self.status_fd = proc, status_fd
        self.out_fd, self.err_fd = proc.stdout.fileno(), proc.stderr.fileno()

    def kill(self) -> None:
        kill_group(self.proc.pid)

    def wait_exited(self, timeout: float) -> bool:
        return wait_unreaped(self.proc.pid, timeout)

    def finish(self) -> None:
        self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()
        os.close(self.status_fd)


def start_with_popen(cfg: dict, stdin_f) -> PopenJob:
    r_fd, w_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", script("launcher"), json.dumps({**cfg, "status_fd": w_fd})],
            stdin=stdin_f,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(w_fd,),
            start_new_session=True,
            env={},
            cwd="/",
        )
    except BaseException:
        os.close(r_fd)
        raise
    finally:
        os.close(w_fd)
    return PopenJob(proc, r_fd)


def write_files(workdir: str, code: str, files: dict[str, str] | None, owner: tuple[int, int] | None) -> None:
    entries = {"main.py": code}
    for name, content in (files or {}).items():
        norm = os.path.normpath(name)
        if os.path.isabs(norm) or norm == ".." or norm.startswith(".." + os.sep) or norm in (".", "main.py"):
            raise ValueError(f"bad sandbox file name: {name!r}")
        entries[norm] = content
    for rel, content in entries.items():
        path = os.path.join(workdir, rel)
        parent = os.path.dirname(path)
        if parent != workdir:
            os.makedirs(parent, exist_ok=True)
            if owner:
                d = parent
                while d != workdir:
                    os.chown(d, *owner)
                    d = os.path.dirname(d)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
        if owner:
            os.chown(path, *owner)


def launch_config(workdir: str, limits: Limits) -> dict:
    """What the launcher needs (JSON): namespaces, mounts, rlimits, uid, argv, environment."""
    root = is_root()
    switch = root and not uid_switch_broken
    return {
        "workdir": workdir,
        "want_ns": (["pid", "mnt", "ipc"] + ([] if limits.network else ["net"])) if use_namespaces else [],
        "mounts": not mounts_broken,
        "tmpfs_mb": max(16, 4 * int(limits.file_size_mb)),
        "rlimits": limits.rlimits(),
        "expose": expose_plan() if switch else [],
        "keep": keep_plan(),
        "uid": SANDBOX_UID if switch else None,
        "gid": SANDBOX_GID if root else None,
        "argv": [sys.executable, "-s", "-P", "-B", "main.py"],
        "env": program_env(workdir),
        "hook_net": not limits.network,
        "deny_keyrings": use_namespaces and os.uname().machine in ("x86_64", "aarch64"),
        "net_hook": script("nethook"),
        "need": [sys.executable, os.path.dirname(os.__file__)],
    }


def execute(code: str, stdin: str, limits: Limits, files: dict[str, str] | None) -> tuple[Verdict, dict]:
    """Run one program; the verdict and what the launcher reported (plus ``start_path``)."""
    global mounts_broken, uid_switch_broken
    owner = (SANDBOX_UID, SANDBOX_GID) if is_root() else None
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="z1-sbx-")
    try:
        os.chmod(workdir, 0o700)
        if owner:
            os.chown(workdir, *owner)
        write_files(workdir, code, files, owner)
        cfg = launch_config(workdir, limits)
        with tempfile.TemporaryFile() as stdin_f:
            stdin_f.write(stdin.encode("utf-8"))
            stdin_f.flush()
            stdin_f.seek(0)
            if isolation == "bwrap":
                from . import bwrap

                job = bwrap.start(cfg, stdin_f, limits.rlimits(), limits.network)
            else:
                reuse = limits.reuse_interpreter and isolation == "launcher"
                job = zygotes.start(cfg, stdin_f.fileno()) if reuse else None
            if job is None:
                job = start_with_popen(cfg, stdin_f)
        collected = collect(job, limits, t0)
        info = status_info(collected.status)
        if job.path == "bwrap":
            info = bwrap.translate(info, job, limits.network)
        info["start_path"] = job.path
        if info.get("mount_error") and not mounts_broken:
            with _lock:
                mounts_broken = True
            return execute(code, stdin, limits, files)
        if (cfg["uid"] is not None and "could not start the program: PermissionError" in info.get("error", "")
                and not uid_switch_broken):
            # the interpreter is unreachable for the sandbox uid (and no mount namespace to expose it)
            with _lock:
                uid_switch_broken = True
            warnings.warn("z1.sandbox: the sandbox uid cannot start the interpreter (no mount namespace to expose "
                          "it); programs now run as the calling user -- see isolation_report()", RuntimeWarning,
                          stacklevel=3)
            return execute(code, stdin, limits, files)
        return classify(collected, info, limits), info
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


DEFAULT_LIMITS = Limits()


def run_program(
    code: str, *, stdin: str = "", limits: Limits = DEFAULT_LIMITS, files: dict[str, str] | None = None
) -> Verdict:
    """Run ``code`` as ``main.py`` in a fresh sandbox; ``files`` (relative name -> text) are written next
    to it, ``stdin`` is its standard input.  Never raises for anything the program does."""
    return execute(code, stdin, limits, files)[0]


def run_many(
    programs: Sequence[str | tuple[str, str]],
    *,
    limits: Limits = DEFAULT_LIMITS,
    workers: int = 2,
    progress: bool = False,
) -> list[Verdict]:
    """Run many programs, ``workers`` at a time (threads, each waiting on its sandbox; on the zygote path
    each worker forks its programs from one zygote); the result list has the order of ``programs``.
    An item is ``code`` or ``(code, stdin)``."""
    items = [(p, "") if isinstance(p, str) else (p[0], p[1]) for p in programs]
    results: list[Verdict | None] = [None] * len(items)
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(items), desc="sandbox", unit="prog")
        except ImportError:
            bar = None
    try:
        with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
            futs = {pool.submit(run_program, c, stdin=s, limits=limits): i for i, (c, s) in enumerate(items)}
            for fut in as_completed(futs):
                results[futs[fut]] = fut.result()
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return results  # type: ignore[return-value]
