"""Run untrusted, model-generated Python programs with limits and containment.

Each program is written to ``main.py`` in a fresh temporary directory and run by the project's
interpreter (``sys.executable``) in its own session / process group.  The result is a
:class:`Verdict`: ``passed`` (exit 0 within the limits), ``failed`` (non-zero exit, e.g. an
exception), ``timeout`` (wall clock or CPU limit), ``memory`` (``MemoryError`` under ``RLIMIT_AS``)
or ``crashed`` (signal, closed pipes, output flood, sandbox error; the reason says which).

How a program is started
------------------------
``Popen`` (no ``preexec_fn``: it is unsafe with the thread pool of :func:`run_many`) starts a small
launcher, ``python -I -S -c <_LAUNCHER>``, which

1. ``unshare(2)``s (via ctypes; ``os.unshare`` is 3.12+) a new **network** namespace (only a loopback
   interface, and it is down: nothing, not even 127.0.0.1, can be reached), a new **PID** namespace
   and a new **mount** namespace;
2. forks the namespace's init (PID 1, still root, dies with the launcher through
   ``PR_SET_PDEATHSIG``).  In the mount namespace it makes every mount read-only (recursive
   ``mount_setattr``), mounts fresh small private tmpfs on ``/tmp``, ``/var/tmp``, ``/dev/shm`` and
   ``/run/lock``, bind-mounts the work directory (read-write) at its own path, and mounts a new
   ``/proc`` that shows only the sandbox's processes.  If the interpreter lives below a directory the
   sandbox uid cannot traverse (here: a pyenv Python under ``/root``, mode 0700), that directory is
   hidden by a tmpfs and only the needed entries (``/root/.pyenv``) are bind-mounted back read-only;
3. the init forks the program process, which sets ``RLIMIT_CPU`` (soft = ``cpu_s``, SIGXCPU; hard one
   second later, SIGKILL), ``RLIMIT_AS``, ``RLIMIT_FSIZE``, ``RLIMIT_NPROC`` and ``RLIMIT_CORE=0``,
   drops to uid/gid ``SANDBOX_UID``/``SANDBOX_GID`` (65534, *nobody*; supplementary groups cleared)
   when the parent is root, ``chdir``s into the work directory and ``execve``s
   ``python -s -P -B main.py`` with a scrubbed environment (``PATH``, ``LANG``, ``HOME=<workdir>``,
   ``PYTHONDONTWRITEBYTECODE=1``, ``PYTHONHASHSEED=0`` and nothing else from the parent).
   ``-s -P`` plus the scrubbed environment is ``-I`` (isolated mode) minus ``-E``: ``-E`` would make
   the interpreter ignore ``PYTHONHASHSEED=0`` and hash randomisation would make set/dict order of
   str keys differ between runs;
4. the init reaps everything, reports the program's exit status and CPU time on a private status pipe
   and exits, and the kernel then SIGKILLs every process left in the PID namespace (backgrounded
   children, ``setsid`` escapees, fork-bomb leftovers) before the launcher returns.

The parent reads stdout/stderr with a bounded reader: it keeps the first ``output_bytes`` (minus a
small tail window) and the last 2 KiB of each stream, and kills the program when the two streams
together exceed ``max(8 MiB, 16 * output_bytes)`` (verdict ``crashed``, "output limit exceeded").  On
the wall-clock deadline it SIGKILLs the whole process group (and therefore the namespace init).  The
temporary directory is removed afterwards.  Overhead is one extra interpreter start (``-S``, ~10 ms)
per program; see ``isolation_report()["overhead_ms"]``.

What it protects against (as root, the intended setup)
------------------------------------------------------
* network access of any kind (new empty network namespace, enforced by the kernel);
* writing or deleting files outside the work directory: the whole file system is read-only in the
  sandbox's mount namespace, world-writable scratch places are private throw-away tmpfs, and the
  program runs as an unprivileged uid anyway;
* reading the parent's environment (API keys): the environment is built from scratch;
* signalling / ptracing the parent, the grader or other sandboxes (different uid; other PID namespace);
* fork bombs (``RLIMIT_NPROC`` for the unprivileged uid; all leftovers die with the PID namespace);
* CPU hogs, infinite loops, hangs after printing the answer (CPU rlimit + wall clock kill);
* memory bombs (``RLIMIT_AS``), big files (``RLIMIT_FSIZE``; tmpfs size caps), output floods, core
  dumps, stray processes surviving the program.

What it does NOT protect against
--------------------------------
* It is not a VM and not a seccomp jail: the full syscall surface is reachable, so kernel exploits,
  and container escapes that follow from them, are out of scope.
* Reading world-readable files (the project tree, the Python installation, ``/etc/passwd``...) is
  allowed; only the parent's environment is hidden.
* CPU / cache timing side channels, and resource contention (disk I/O, memory bandwidth, CPU time
  shares) with other programs on the machine.  Memory is limited per process (``RLIMIT_AS``), not
  per sandbox: up to ``max_processes`` processes can each use ``memory_mb``.
* ``RLIMIT_NPROC`` counts all processes of the sandbox uid, so concurrent sandboxes share that budget
  (a fork bomb in one can make ``fork`` fail for a short time in another); no cgroup is used.
* Writing to the program's own work directory up to ``RLIMIT_FSIZE`` per file (no quota on count).

Degradation when not root (see :func:`isolation_report`)
--------------------------------------------------------
No uid switch (the program runs as the caller: it *can* signal the caller and write wherever the
caller can, and ``RLIMIT_NPROC`` counts all the caller's processes).  The launcher tries an
unprivileged user namespace with network and PID namespaces; if that works, network and process
containment are as above (no read-only mounts).  If no network namespace can be created, the
network is blocked by a ``sys.addaudithook`` hook on all ``socket.*`` events -- which ctypes or a
subprocess can bypass; the report says ``"network": "audit-hook"``.  Without a PID namespace the
init becomes a child subreaper and kills the program's left-over descendants itself, and the parent
kills the process group; processes that ``setsid`` *and* outlive the init can escape.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import marshal
import math
import os
import re
import selectors
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
from dataclasses import dataclass

__all__ = ["Limits", "Verdict", "run_program", "run_many", "isolation_report", "SANDBOX_UID", "SANDBOX_GID"]

SANDBOX_UID = 65534  # "nobody": used when the parent runs as root
SANDBOX_GID = 65534

_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_TAIL_BYTES = 2048
_FLOOD_MIN = 8 * 1024 * 1024
_DRAIN_S = 0.5  # after the launcher reported, how long stragglers may keep the pipes open
_KILL_GRACE_S = 3.0  # after a kill, how long to wait for the pipes to close


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock
    cpu_s: float | None = None  # RLIMIT_CPU, default = ceil(timeout_s)+1
    memory_mb: int = 1024  # RLIMIT_AS
    file_size_mb: int = 16  # RLIMIT_FSIZE
    max_processes: int = 64  # RLIMIT_NPROC (only meaningful for a non-root uid, see module doc)
    output_bytes: int = 64_000  # stdout/stderr kept (truncated beyond, with a marker)
    network: bool = False

    def effective_cpu_s(self) -> int:
        if self.cpu_s is not None:
            return max(1, math.ceil(self.cpu_s))
        return math.ceil(self.timeout_s) + 1


@dataclass(frozen=True)
class Verdict:
    status: str  # "passed" | "failed" | "timeout" | "memory" | "crashed"
    reason: str
    returncode: int | None
    stdout: str
    stderr: str
    elapsed_s: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------------
# The launcher: runs as ``python -I -S -c _LAUNCHER <marshal config, hex>`` in the new session.
# --------------------------------------------------------------------------------------------------
_LAUNCHER = r"""
import os, sys, marshal, ctypes, resource, select
cfg = marshal.loads(bytes.fromhex(sys.argv[1]))
ST = cfg["status_fd"]
SIGKILL = 9
def report(**kw):
    try:
        os.write(ST, (repr(kw) + "\n").encode())
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
def _b(s):
    return None if s is None else s.encode()
def mount(src, tgt, fs, flags, data=None):
    if libc.mount(_b(src), _b(tgt), _b(fs), flags, _b(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s: %s" % (tgt, os.strerror(e)))
CLONE = {"mnt": 0x00020000, "user": 0x10000000, "pid": 0x20000000, "net": 0x40000000}
def unshare(names):
    fl = 0
    for n in names:
        fl |= CLONE[n]
    return libc.unshare(fl) == 0
root = os.geteuid() == 0
want = cfg["want_ns"]
active = []
if want:
    if root:
        if unshare(want):
            active = list(want)
        else:
            active = [n for n in want if unshare([n])]
    else:
        cand = ["user"] + [n for n in want if n != "mnt"]
        if len(cand) > 1 and unshare(cand):
            active = cand
lr, lw = os.pipe()
pid = os.fork()
if pid:
    os.close(lr)
    while True:
        try:
            os.waitpid(pid, 0)
            break
        except ChildProcessError:
            break
        except InterruptedError:
            continue
    os._exit(0)
# ---- init of the sandbox (PID 1 when "pid" in active)
os.close(lw)
libc.prctl(1, SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
if select.select([lr], [], [], 0)[0]:
    os._exit(0)  # the launcher died before prctl
os.close(lr)
pidns = "pid" in active
if not pidns:
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
workdir = cfg["workdir"]
mounts = {}
if root and "mnt" in active and cfg["mounts"]:
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
        1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
    try:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        wfd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
        expose = [(anc, [(ent, os.open(ent, os.O_PATH), os.path.isdir(ent)) for ent in ents])
                  for anc, ents in cfg["expose"]]
        keep = [(p, os.open(p, os.O_PATH), os.path.isdir(p)) for p in cfg["keep"]]
        class MountAttr(ctypes.Structure):
            _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                        ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]
        attr = MountAttr(1, 0, 0, 0)  # MOUNT_ATTR_RDONLY
        nr = {"x86_64": 442, "aarch64": 442}.get(os.uname().machine)
        mounts["readonly_root"] = bool(nr) and libc.syscall(
            nr, ctypes.c_int(-100), b"/", ctypes.c_uint(0x8000), ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr))) == 0
        tmps = []
        for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
            if os.path.isdir(d) and not os.path.islink(d):
                mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "size=%dm,mode=1777" % cfg["tmpfs_mb"])
                tmps.append(d)
        mounts["private_tmp"] = tmps
        kept = []
        for ent, efd, isdir in keep:  # the interpreter / venv when it lives under a private dir
            if isdir:
                os.makedirs(ent, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(ent), exist_ok=True)
                open(ent, "a").close()
            mount("/proc/self/fd/%d" % efd, ent, None, MS_BIND | MS_REC)
            mount(None, ent, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
            os.close(efd)
            kept.append(ent)
        mounts["kept_under_private_tmp"] = kept
        exposed = []
        for anc, entries in expose:
            mount("tmpfs", anc, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
            for ent, efd, isdir in entries:
                if isdir:
                    os.makedirs(ent, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(ent), exist_ok=True)
                    open(ent, "a").close()
                mount("/proc/self/fd/%d" % efd, ent, None, MS_BIND | MS_REC)
                os.close(efd)
                exposed.append(ent)
            mount(None, anc, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        mounts["exposed"] = exposed
        os.makedirs(workdir, exist_ok=True)
        mount("/proc/self/fd/%d" % wfd, workdir, None, MS_BIND)
        mount(None, workdir, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
        os.close(wfd)
        if pidns:
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            mounts["private_proc"] = True
    except OSError as e:
        report(ns=active, mount_error=str(e))
        os._exit(0)
report(ns=active, mounts=mounts)
p = os.fork()
if p == 0:
    try:
        os.set_inheritable(ST, False)
        for name, soft, hard in cfg["rlimits"]:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        if root and cfg["uid"] is not None:
            os.setgroups([])
            os.setgid(cfg["gid"])
            os.setuid(cfg["uid"])
        os.chdir(workdir)
        argv = list(cfg["argv"])
        if "net" not in active and cfg["hook_net"]:
            argv[-1:-1] = ["-c", cfg["net_hook"]]
        os.execve(argv[0], argv, cfg["env"])
    except BaseException as e:
        report(error="could not start the program: %r" % (e,))
    os._exit(127)
status = None
ru = None
while True:
    try:
        wpid, st, r = os.wait4(-1, 0)
    except ChildProcessError:
        break
    except InterruptedError:
        continue
    if wpid == p:
        status, ru = st, r
        break
if not pidns:
    import time
    for _ in range(300):
        kids = set()
        try:
            for tid in os.listdir("/proc/self/task"):
                with open("/proc/self/task/%s/children" % tid) as f:
                    kids.update(int(x) for x in f.read().split())
        except OSError:
            pass
        if not kids:
            break
        for k in kids:
            try:
                os.kill(k, SIGKILL)
            except OSError:
                pass
        time.sleep(0.005)
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
cpu = (ru.ru_utime + ru.ru_stime) if ru is not None else None
if status is None:
    report(error="lost the program process")
elif os.WIFEXITED(status):
    report(exit=os.WEXITSTATUS(status), cpu=cpu)
else:
    report(signal=os.WTERMSIG(status), cpu=cpu)
os._exit(0)
"""

# Used only when no network namespace could be made: an audit hook that refuses every socket.* event,
# then the program runs as __main__.  Bypassable (ctypes, subprocess); isolation_report says so.
_NET_HOOK = r"""
import sys
def _z1_no_net(event, args):
    if event.startswith("socket.") and event != "socket.gethostname":
        raise PermissionError("network access is disabled in this sandbox")
sys.addaudithook(_z1_no_net)
del _z1_no_net
sys.argv = sys.argv[1:]
import runpy
runpy.run_path(sys.argv[0], run_name="__main__")
"""

_use_namespaces = True  # tests switch this off to exercise the fallbacks (audit hook, subreaper)
_mounts_broken = False  # set when the mount namespace setup failed once: then run without it
_uid_switch_broken = False  # set when the sandbox uid cannot start the interpreter: then run as the caller
_mounts_lock = threading.Lock()


def _symlink_chain(path: str) -> list[str]:
    """``path`` and every path its symlinks go through, up to the real file."""
    out, seen = [], set()
    cur = os.path.abspath(path)
    while cur not in seen and len(seen) < 40:
        seen.add(cur)
        parent = os.path.realpath(os.path.dirname(cur))
        cur = os.path.join(parent, os.path.basename(cur))
        out.append(cur)
        if not os.path.islink(cur):
            break
        cur = os.path.normpath(os.path.join(parent, os.readlink(cur)))
    out.append(os.path.realpath(path))
    return out


# Scratch places that get a private empty tmpfs inside the sandbox (see the launcher).
_PRIVATE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def _under_private(path: str) -> bool:
    return any(path == d or path.startswith(d + "/") for d in _PRIVATE_DIRS)


def _interpreter_paths() -> set[str]:
    """Every path the interpreter needs: its symlink chain, prefixes and sys.path entries."""
    needed = set(_symlink_chain(sys.executable))
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path):
        if p and os.path.isabs(p) and os.path.exists(p):
            needed.add(os.path.realpath(p))
            needed.add(os.path.abspath(p))
    return needed


@functools.lru_cache(maxsize=1)
def _keep_plan() -> list[str]:
    """Interpreter paths under a private scratch dir (e.g. a venv in a checkout under /tmp, as CI
    may use): bind-mounted back read-only after the private tmpfs hides them. Nested entries are
    covered by their ancestor."""
    under = sorted({p for p in _interpreter_paths() if _under_private(p) and p not in _PRIVATE_DIRS})
    dirs = [p if os.path.isdir(p) else os.path.dirname(p) for p in under]
    dirs = sorted(set(dirs))
    return [p for p in dirs if not any(p != q and p.startswith(q + "/") for q in dirs)]


@functools.lru_cache(maxsize=1)
def _expose_plan() -> list[tuple[str, list[str]]]:
    """Directories that the unprivileged uid cannot traverse but the interpreter needs (e.g. a pyenv
    Python under a 0700 ``/root``): ``[(blocking_dir, [entries to bind-mount under it])]``.  In the
    sandbox a tmpfs hides the blocking directory and only these entries are bind-mounted back
    (read-only), so the rest of e.g. ``/root`` stays invisible."""
    # paths under a private scratch dir are handled by _keep_plan (recreated traversable there)
    needed = {p for p in _interpreter_paths() if not _under_private(p)}
    plan: dict[str, set[str]] = {}
    for path in sorted(needed):
        parts = path.strip("/").split("/")
        cur = "/"
        for i, part in enumerate(parts[:-1]):
            cur = os.path.join(cur, part)
            try:
                st = os.stat(cur)
            except OSError:
                break
            if not (st.st_mode & 0o001):  # others may not traverse it
                if cur in ("/proc", "/sys", "/dev"):
                    break
                plan.setdefault(cur, set()).add(os.path.join(cur, parts[i + 1]))
                break
    # an entry that is itself under another blocking dir of the plan is covered by its own ancestor
    return [(anc, sorted(ents)) for anc, ents in sorted(plan.items())
            if not any(anc != a and anc.startswith(a + "/") for a in plan)]


class _Capture:
    """Bounded buffer: the head of a stream and its last ``_TAIL_BYTES`` bytes."""

    def __init__(self, limit: int):
        self.limit = max(0, int(limit))
        self.tail_cap = min(_TAIL_BYTES, self.limit // 4)
        self.head_cap = self.limit - self.tail_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_cap:
            self.tail += data
            if len(self.tail) > self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]

    def text(self) -> str:
        if self.total <= self.limit:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", errors="replace")
        head = bytes(self.head).decode("utf-8", errors="replace")
        tail = bytes(self.tail).decode("utf-8", errors="replace")
        marker = f"\n...[output truncated: {self.total} bytes in total, {len(self.head) + len(self.tail)} kept]...\n"
        return head + marker + tail

    def tail_text(self, n: int = 4096) -> str:
        data = bytes(self.tail) if self.tail else bytes(self.head)
        if self.tail and len(self.tail) < n and self.total <= self.limit:
            data = bytes(self.head) + bytes(self.tail)
        return data[-n:].decode("utf-8", errors="replace")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _write_files(workdir: str, code: str, files: dict[str, str] | None, owner: tuple[int, int] | None) -> None:
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


def _exception_line(stderr_tail: str) -> str:
    """The final exception line of a traceback (``Name: message``), or ''."""
    lines = [ln for ln in stderr_tail.splitlines() if ln.strip()]
    for ln in reversed(lines[-60:]):
        if ln[:1].isspace() or ln.startswith(("Traceback (most recent call last)", "During handling", "The above")):
            continue  # traceback body; interleaved tracebacks of several processes are common (fork)
        m = re.match(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$", ln)
        if m and (m.group(1).endswith(("Error", "Exception", "Exit", "Interrupt", "Warning", "Iteration"))
                  or m.group(2) is not None):
            name = m.group(1)
            msg = (m.group(2) or "").strip()
            if len(msg) > 120:
                msg = msg[:117] + "..."
            return f"{name}: {msg}" if msg else name
        break
    return ""


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def _wait_unreaped(pid: int, timeout: float) -> bool:
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


def _execute(code: str, stdin: str, limits: Limits, files: dict[str, str] | None) -> tuple[Verdict, dict]:
    global _mounts_broken, _uid_switch_broken
    root = _is_root()
    owner = (SANDBOX_UID, SANDBOX_GID) if root else None
    want_ns = (["pid", "mnt"] + ([] if limits.network else ["net"])) if _use_namespaces else []
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="z1-sbx-")
    try:
        os.chmod(workdir, 0o700)
        if owner:
            os.chown(workdir, *owner)
        _write_files(workdir, code, files, owner)
        cpu = limits.effective_cpu_s()
        mb = 1024 * 1024
        rlimits = [
            ("RLIMIT_CORE", 0, 0),
            ("RLIMIT_CPU", cpu, cpu + 1),
            ("RLIMIT_AS", int(limits.memory_mb) * mb, int(limits.memory_mb) * mb),
            ("RLIMIT_FSIZE", int(limits.file_size_mb) * mb, int(limits.file_size_mb) * mb),
            ("RLIMIT_NPROC", int(limits.max_processes), int(limits.max_processes)),
        ]
        env = {
            "PATH": _SAFE_PATH,
            "LANG": "C.UTF-8",
            "HOME": workdir,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
        }
        cfg = {
            "workdir": workdir,
            "want_ns": want_ns,
            "mounts": not _mounts_broken,
            "tmpfs_mb": max(16, 4 * int(limits.file_size_mb)),
            "rlimits": rlimits,
            "expose": _expose_plan() if (root and not _uid_switch_broken) else [],
            "keep": _keep_plan(),
            "uid": SANDBOX_UID if (root and not _uid_switch_broken) else None,
            "gid": SANDBOX_GID if root else None,
            "argv": [sys.executable, "-s", "-P", "-B", "main.py"],
            "env": env,
            "hook_net": not limits.network,
            "net_hook": _NET_HOOK,
        }
        r_fd, w_fd = os.pipe()
        cfg["status_fd"] = w_fd
        try:
            with tempfile.TemporaryFile() as stdin_f:
                stdin_f.write(stdin.encode("utf-8"))
                stdin_f.seek(0)
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-c", _LAUNCHER, marshal.dumps(cfg).hex()],
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
        verdict, info = _collect(proc, r_fd, limits, t0)
        if info.get("mount_error") and not _mounts_broken:
            with _mounts_lock:
                _mounts_broken = True
            return _execute(code, stdin, limits, files)
        if (cfg["uid"] is not None and "could not start the program: PermissionError" in info.get("error", "")
                and not _uid_switch_broken):
            # the interpreter is unreachable for the sandbox uid (and no mount namespace to expose it)
            with _mounts_lock:
                _uid_switch_broken = True
            warnings.warn("z1.sandbox: the sandbox uid cannot start the interpreter (no mount namespace to expose "
                          "it); programs now run as the calling user -- see isolation_report()", RuntimeWarning,
                          stacklevel=3)
            return _execute(code, stdin, limits, files)
        return verdict, info
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _collect(proc: subprocess.Popen, status_fd: int, limits: Limits, t0: float) -> tuple[Verdict, dict]:
    out, err = _Capture(limits.output_bytes), _Capture(limits.output_bytes)
    status_buf = bytearray()
    flood_limit = max(_FLOOD_MIN, 16 * int(limits.output_bytes))
    deadline = t0 + float(limits.timeout_s)
    sel = selectors.DefaultSelector()
    fds = {proc.stdout.fileno(): out, proc.stderr.fileno(): err, status_fd: None}
    for fd in fds:
        sel.register(fd, selectors.EVENT_READ)
    killed: str | None = None  # "timeout" | "flood" | "straggler"
    give_up_at: float | None = None  # stop reading pipes at this time
    ended_at: float | None = None
    try:
        while fds:
            now = time.monotonic()
            if killed is None and now >= deadline:
                _kill_group(proc.pid)
                killed, ended_at, give_up_at = "timeout", now, now + _KILL_GRACE_S
            if give_up_at is not None and now >= give_up_at:
                if killed is None:  # launcher reported, but something still holds the pipes
                    _kill_group(proc.pid)
                    killed, give_up_at = "straggler", now + _KILL_GRACE_S
                    continue
                break
            wait_until = give_up_at if give_up_at is not None else deadline
            for key, _ in sel.select(timeout=max(0.0, wait_until - now)):
                fd = key.fd
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(fd)
                    del fds[fd]
                    if fd == status_fd and killed is None:
                        ended_at = time.monotonic()
                        give_up_at = ended_at + _DRAIN_S
                    continue
                cap = fds[fd]
                if cap is None:
                    if len(status_buf) < 1 << 16:
                        status_buf += data
                    continue
                cap.add(data)
                if killed is None and out.total + err.total > flood_limit:
                    _kill_group(proc.pid)
                    killed, ended_at = "flood", time.monotonic()
                    give_up_at = ended_at + _KILL_GRACE_S
    finally:
        sel.close()
        if not _wait_unreaped(proc.pid, 5.0):
            _kill_group(proc.pid)
            _wait_unreaped(proc.pid, 5.0)
        _kill_group(proc.pid)  # fallback mode: stragglers still in the group; the pgid is not recycled yet
        proc.wait()
        for f in (proc.stdout, proc.stderr):
            f.close()
        os.close(status_fd)
    elapsed = round((ended_at or time.monotonic()) - t0, 4)

    info: dict = {}
    for line in bytes(status_buf).decode("utf-8", errors="replace").splitlines():
        try:
            msg = ast.literal_eval(line)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(msg, dict):
            info.update(msg)
    stdout, stderr = out.text(), err.text()
    exc = _exception_line(err.tail_text())
    code = info.get("exit")
    sig = info.get("signal")
    rc = code if code is not None else (-sig if sig is not None else None)
    if killed == "straggler" and (code is not None or sig is not None):
        killed = None  # the program itself finished; only leftovers were killed

    def v(status: str, reason: str, returncode: int | None = rc) -> tuple[Verdict, dict]:
        return Verdict(status, reason, returncode, stdout, stderr, elapsed), info

    if killed == "timeout":
        return v("timeout", f"wall-clock timeout after {float(limits.timeout_s):g} s", -signal.SIGKILL)
    if killed == "flood":
        return v("crashed", f"output limit exceeded: more than {flood_limit} bytes on stdout+stderr, killed",
                 -signal.SIGKILL)
    if info.get("mount_error"):
        return v("crashed", f"sandbox setup failed: {info['mount_error']}")
    if info.get("error"):
        return v("crashed", f"sandbox error: {info['error']}")
    if sig is not None:
        cpu_used = info.get("cpu") or 0.0
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_used >= limits.effective_cpu_s() - 0.05):
            return v("timeout", f"CPU time limit of {limits.effective_cpu_s()} s exceeded ({_signame(sig)})")
        if exc.split(":")[0].endswith("MemoryError") or "Cannot allocate memory" in err.tail_text():
            return v("memory", f"killed by {_signame(sig)} while out of memory")
        return v("crashed", f"killed by signal {sig} ({_signame(sig)})" + (f" after {exc}" if exc else ""))
    if code is None:
        return v("crashed", "sandbox launcher ended without a status" + (f" ({exc})" if exc else ""))
    if code == 0:
        return v("passed", "exit code 0")
    if exc.split(":")[0].endswith("MemoryError"):
        return v("memory", f"exit code {code}: {exc}")
    if code == 120 and not exc:
        return v("crashed", "exit code 120: could not flush stdout/stderr (closed or broken pipe)")
    return v("failed", f"exit code {code}: {exc}" if exc else f"exit code {code}")


def run_program(
    code: str, *, stdin: str = "", limits: Limits = Limits(), files: dict[str, str] | None = None
) -> Verdict:
    """Run ``code`` as ``main.py`` in a fresh sandbox; ``files`` (relative name -> text) are written next
    to it, ``stdin`` is its standard input.  Never raises for anything the program does."""
    return _execute(code, stdin, limits, files)[0]


def run_many(
    programs: Sequence[str | tuple[str, str]],
    *,
    limits: Limits = Limits(),
    workers: int = 2,
    progress: bool = False,
) -> list[Verdict]:
    """Run many programs, ``workers`` at a time (threads, each waiting on its sandbox); the result list
    has the order of ``programs``.  An item is ``code`` or ``(code, stdin)``."""
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


_PROBE = r"""
import json, os, socket
r = {"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(), "ppid": os.getppid()}
try:
    with open("/proc/net/dev") as f:
        r["interfaces"] = [ln.split(":")[0].strip() for ln in f.readlines()[2:]]
except OSError:
    r["interfaces"] = None
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(0.2)
    s.connect(("127.0.0.1", 9))
    r["loopback_connect"] = "connected"
except Exception as e:
    r["loopback_connect"] = type(e).__name__
try:
    open("/z1_sandbox_probe", "w").close()
    os.unlink("/z1_sandbox_probe")
    r["root_writable"] = True
except OSError:
    r["root_writable"] = False
r["visible_pids"] = len([d for d in os.listdir("/proc") if d.isdigit()])
r["env_keys"] = sorted(os.environ)
print(json.dumps(r))
"""


@functools.lru_cache(maxsize=1)
def isolation_report() -> dict:
    """Which protections are active on this machine (runs a probe program; cached)."""
    root = _is_root()
    limits = Limits(timeout_s=10)
    v, info = _execute(_PROBE, "", limits, None)
    try:
        probe = json.loads(v.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        probe = {}
    ns = info.get("ns", [])
    mounts = info.get("mounts", {})
    times = []
    for _ in range(3):
        t = time.monotonic()
        run_program("pass", limits=limits)
        times.append(time.monotonic() - t)
    t = time.monotonic()
    subprocess.run([sys.executable, "-I", "-c", "pass"], env={}, check=False)
    bare = time.monotonic() - t
    return {
        "probe_status": v.status,
        "probe_reason": v.reason,
        "parent_is_root": root,
        "sandbox_uid": probe.get("uid"),
        "uid_switch": bool(root and probe.get("uid") == SANDBOX_UID),
        "namespaces": ns,
        "network_namespace": "net" in ns,
        "network": "netns" if "net" in ns else "audit-hook",
        "probe_interfaces": probe.get("interfaces"),
        "probe_loopback_connect": probe.get("loopback_connect"),
        "pid_namespace": "pid" in ns,
        "mount_namespace": "mnt" in ns and not _mounts_broken,
        "readonly_root": bool(mounts.get("readonly_root")) and probe.get("root_writable") is False,
        "private_tmp": mounts.get("private_tmp", []),
        "private_proc": bool(mounts.get("private_proc")),
        "probe_visible_pids": probe.get("visible_pids"),
        "straggler_cleanup": "pid-namespace" if "pid" in ns else "subreaper+process-group",
        "rlimits": ["RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_CORE"],
        "nproc_enforced": bool(root and probe.get("uid") == SANDBOX_UID) or not root,
        "env_keys": probe.get("env_keys"),
        "overhead_ms": round(1000 * (min(times) - bare), 1),
        "run_ms": round(1000 * min(times), 1),
        "bare_python_ms": round(1000 * bare, 1),
    }
