"""Run untrusted, model-generated Python programs with limits and containment.

Each program is written to ``main.py`` in a fresh temporary directory and run by the project's
interpreter (``sys.executable``) in its own session / process group.  The result is a
:class:`Verdict`: ``passed`` (exit 0 within the limits), ``failed`` (non-zero exit, e.g. an
exception), ``timeout`` (wall clock or CPU limit), ``memory`` (``MemoryError`` under ``RLIMIT_AS``)
or ``crashed`` (signal, closed pipes, output flood, sandbox error; the reason says which).

How a program is started
------------------------
Both start paths run the same launcher code (``launch`` in ``_LAUNCH_LIB``), which

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
   when the parent is root, ``chdir``s into the work directory and becomes ``python -s -P -B main.py``
   with a scrubbed environment (``PATH``, ``LANG``, ``HOME=<workdir>``, ``PYTHONDONTWRITEBYTECODE=1``,
   ``PYTHONHASHSEED=0`` and nothing else from the parent) -- how, is what the two paths differ in.
   ``-s -P`` plus the scrubbed environment is ``-I`` (isolated mode) minus ``-E``: ``-E`` would make
   the interpreter ignore ``PYTHONHASHSEED=0`` and hash randomisation would make set/dict order of
   str keys differ between runs;
4. the init reaps everything, reports the program's exit status and CPU time on a private status pipe
   and exits, and the kernel then SIGKILLs every process left in the PID namespace (backgrounded
   children, ``setsid`` escapees, fork-bomb leftovers) before the launcher returns.

**Zygote path** (the default, ``Limits.reuse_interpreter=True``).  A thread that runs a program (each
worker of :func:`run_many`, or a caller of :func:`run_program`) takes a *zygote* from a small pool,
starting one if none is idle: a long-lived ``python -s -P -B -c <_ZYGOTE>``, started (by ``Popen``, no
``preexec_fn``) as the Popen path starts a program -- same interpreter and flags, the same scrubbed
environment with ``PYTHONHASHSEED=0``, stdin a regular file, stdout/stderr pipes -- that has imported
only what the launcher needs (ctypes, resource, select, _socket) and never runs program code itself.
For each program the parent sends it the config (never the program text, stdin or output) and the
stdin/stdout/stderr/status-pipe fds over a Unix socketpair (``SCM_RIGHTS``).  The zygote forks the
launcher, which ``setsid``s (its pid is the process group the parent kills), sets
``PR_SET_PDEATHSIG`` (it dies with the zygote), moves the fds to 0/1/2 and runs steps 1-4; its
program process does not ``execve`` but, after the rlimits, uid switch and ``chdir``, sets
``PR_SET_DUMPABLE`` back to 1 and checks that its uid can reach the interpreter (both as ``execve``
would), closes every fd but 0/1/2, sets ``os.environ`` to the scrubbed environment,
``sys.argv = ['main.py']`` and ``sys.orig_argv``, installs the audit hook when needed (see below),
makes a fresh ``__main__`` with the attributes ``python main.py`` gives it, removes from
``sys.modules`` what the zygote imported, empties the zygote's globals and runs ``main.py`` with the
interpreter's own file runner (``PyRun_FileExFlags``, as ``python main.py`` does: same tokenizer,
encoding cookies, syntax errors) from the top level of the zygote's script.  An uncaught exception
therefore ends the interpreter as it ends a script (traceback from ``main.py`` on, exit 1;
``SystemExit`` codes; ``KeyboardInterrupt`` exits by SIGINT), stdout/stderr are flushed right after
the script as the interpreter does, and the interpreter finalises normally (non-daemon threads
joined, atexit handlers, ``__del__``).  Programs are forked, so nothing one program does in its
process reaches the zygote or the next program.  The zygote replies with the launcher's pid, tells
the parent when the launcher has exited, and reaps it only after the parent's acknowledgement, so
the process group id the parent kills cannot be recycled meanwhile.  A zygote that died is replaced
(noticed when idle or when handed a job; a job it never started is retried in a new one).  If
zygotes cannot run (not Linux/CPython, no ``socket.send_fds``, or three failed starts in a row, then
with a warning), programs take the Popen path.  Up to 8 idle zygotes are kept for later calls and
closed at exit; a forked child of the caller forgets its parent's.  Cost here: ~10 ms per trivial
program, less than a bare interpreter start (``isolation_report()["overhead_ms"]`` is negative).

**Popen path** (``Limits(reuse_interpreter=False)``, and the fallback).  ``Popen`` starts a fresh
launcher, ``python -I -S -c <_LAUNCHER>``, in a new session for every program, and the program
process ``execve``s ``python -s -P -B main.py``.  Cost: two interpreter starts per program (~30 ms
here; ``isolation_report()["popen_overhead_ms"]``).

On both paths the parent reads stdout/stderr with a bounded reader: it keeps the first
``output_bytes`` (minus a small tail window) and the last 2 KiB of each stream, and kills the program
when the two streams together exceed ``max(8 MiB, 16 * output_bytes)`` (verdict ``crashed``, "output
limit exceeded").  On the wall-clock deadline it SIGKILLs the whole process group (and therefore the
namespace init).  The temporary directory is removed afterwards.

How the zygote path differs, for a program
------------------------------------------
Checked against the Popen path by the tests (same globals, ``sys.argv``, ``sys.path``, ``sys.flags``,
``sys.modules``, environment, fds, uid/gid, capabilities, rlimits, signal dispositions, std streams,
mounts, outputs and exit codes).  What remains different:

* one caller frame above ``main.py``'s module frame (the zygote's ``<string>`` frame, its globals
  emptied), plus the C call into the file runner: ``RecursionError`` comes two levels earlier (996
  instead of 998 nested calls at the default limit), and ``sys._getframe(1)``, ``inspect.stack()``,
  ``traceback.print_stack()`` and ``warnings.warn(..., stacklevel=2)`` at module level see that frame;
* ``/proc/self/cmdline`` and ``/proc/self/environ`` show the zygote's start (its command line, and its
  environment, which has ``HOME=/``), not ``python -s -P -B main.py``; ``os.environ``, ``sys.argv``
  and ``sys.orig_argv`` are as on the Popen path;
* the process starts with the zygote's address space (~1.6 MB more, so that much less headroom under
  ``RLIMIT_AS``); modules the zygote imported are out of ``sys.modules`` and are imported afresh on
  demand, but C extensions with single-phase init (``_ctypes``, ``_socket``) keep their process-wide C
  state, as on any re-import;
* the CPU clock (``RLIMIT_CPU``, ``time.process_time()``) starts at the fork, without the ~10 ms of an
  interpreter start; umask, CPU affinity and nice value are the caller's when the zygote started, not
  at each call;
* after an uncaught exception, ``__main__.__file__`` is already gone when ``sys.excepthook`` runs
  (the interpreter removes it just after).

What the zygote path changes in the protection: nothing in the list below is weaker or stronger for
the program itself, but there is now a long-lived process per worker, running as the caller (root in
the intended setup), whose memory every program inherits.  It holds no secrets: it starts with the
scrubbed environment and only ever sees job configs (work-dir paths, limits), never program text,
stdin or output.  As root with namespaces a program cannot reach it (other uid, other PID namespace,
``/proc`` shows only the sandbox).  In the degraded modes without both a uid switch and a PID
namespace, a program can signal or ptrace its zygote -- as it can the caller itself there; a killed
zygote is replaced, and the parent still kills the dead launcher's process group, now without the
guarantee that the group id was not recycled in between (it stays allocated while any member lives,
and the kernel hands out pids cyclically, so a reuse needs ``pid_max`` forks in that short window).

What it protects against (as root, the intended setup)
------------------------------------------------------
* network access of any kind (new empty network namespace, enforced by the kernel);
* writing or deleting files outside the work directory: the whole file system is read-only in the
  sandbox's mount namespace, world-writable scratch places are private throw-away tmpfs, and the
  program runs as an unprivileged uid anyway;
* reading the parent's environment (API keys): the environment is built from scratch;
* signalling / ptracing the parent, the grader or other sandboxes (different uid; other PID namespace);
* fork bombs (``RLIMIT_NPROC`` for the unprivileged uid; all leftovers die with the PID namespace);
* state carried from one program to the next, or kept after it: each program gets a new **IPC**
  namespace (SysV shared memory, message queues and semaphores, POSIX message queues die with it,
  so a segment outside ``RLIMIT_AS`` cannot outlive the program), and a seccomp filter refuses the
  kernel keyring calls (``add_key``, ``request_key``, ``keyctl``: EPERM), so nothing can be stored in
  the sandbox uid's keyrings;
* descriptor hoarding: ``RLIMIT_NOFILE`` (``max_open_files``, 128) bounds the pipes and sockets one
  process can hold (each pipe pins up to 64 KiB of kernel memory outside ``RLIMIT_AS``);
* CPU hogs, infinite loops, hangs after printing the answer (CPU rlimit + wall clock kill);
* memory bombs (``RLIMIT_AS``), big files (``RLIMIT_FSIZE``; tmpfs size caps), output floods, core
  dumps, stray processes surviving the program.

What it does NOT protect against
--------------------------------
* It is not a VM and not a full seccomp jail: apart from the keyring calls the syscall surface is
  reachable, so kernel exploits, and container escapes that follow from them, are out of scope.
  Kernel memory held by pipes is bounded per process (``max_open_files``), not per sandbox: up to
  ``max_processes`` processes can each hold that many descriptors.
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
import atexit
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
import socket
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
_ZYGOTE_REPLY_S = 10.0  # how long a zygote may take to fork a job's launcher (includes its own start)
_MAX_IDLE_ZYGOTES = 8  # idle zygotes kept for later programs; more are closed when given back


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock
    cpu_s: float | None = None  # RLIMIT_CPU, default = ceil(timeout_s)+1
    memory_mb: int = 1024  # RLIMIT_AS
    file_size_mb: int = 16  # RLIMIT_FSIZE
    max_processes: int = 64  # RLIMIT_NPROC (only meaningful for a non-root uid, see module doc)
    max_open_files: int = 128  # RLIMIT_NOFILE: also bounds the kernel memory pipes can pin
    output_bytes: int = 64_000  # stdout/stderr kept (truncated beyond, with a marker)
    network: bool = False
    reuse_interpreter: bool = True  # fork programs from a per-worker zygote; False: a fresh interpreter each

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
# The launcher code, shared by both start paths.  ``launch(cfg, exec_program)`` unshares the
# namespaces, forks the init (which mounts, then forks the program process) and never returns in the
# launcher or the init.  In the program process it ``execve``s ``python -s -P -B main.py`` when
# ``exec_program`` is true (the Popen path), else it returns (the zygote path runs main.py in-process).
# --------------------------------------------------------------------------------------------------
_LAUNCH_LIB = r"""
import os, sys, ctypes, resource, select
SIGKILL = 9
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
def _b(s):
    return None if s is None else s.encode()
def mount(src, tgt, fs, flags, data=None):
    if libc.mount(_b(src), _b(tgt), _b(fs), flags, _b(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s: %s" % (tgt, os.strerror(e)))
CLONE = {"mnt": 0x00020000, "ipc": 0x08000000, "user": 0x10000000, "pid": 0x20000000, "net": 0x40000000}
# seccomp: refuse the kernel keyring calls (add_key, request_key, keyctl) with EPERM, as container
# runtimes' default profiles do; a foreign syscall ABI (i386 via int 0x80, x32) is refused entirely.
KEYRING_CALLS = {"x86_64": (0xC000003E, (248, 249, 250)), "aarch64": (0xC00000B7, (217, 218, 219))}
def deny_keyrings():
    spec = KEYRING_CALLS.get(os.uname().machine)
    if spec is None:
        return False
    arch, calls = spec
    LD_ABS, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06
    ALLOW, EPERM = 0x7FFF0000, 0x00050000 | 1
    body = [(LD_ABS, 4), (JEQ, arch), (LD_ABS, 0), (JGE, 0x40000000)] + [(JEQ, nr) for nr in calls]
    prog = []
    deny = len(body) + 1  # index of the EPERM return (after ALLOW)
    for i, (code, k) in enumerate(body):
        if code == LD_ABS:
            prog.append((code, 0, 0, k))
        elif code == JEQ and k == arch:
            prog.append((code, 0, deny - i - 1, k))  # another ABI: refused
        else:
            prog.append((code, deny - i - 1, 0, k))
    prog += [(RET, 0, 0, ALLOW), (RET, 0, 0, EPERM)]
    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]
    filters = (Filter * len(prog))(*[Filter(*f) for f in prog])
    fprog = Prog(len(prog), filters)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return False
    return libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
def unshare(names):
    fl = 0
    for n in names:
        fl |= CLONE[n]
    return libc.unshare(fl) == 0
def launch(cfg, exec_program):
    ST = cfg["status_fd"]
    def report(**kw):
        try:
            os.write(ST, (repr(kw) + "\n").encode())
        except OSError:
            pass
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
        # ---- the program process
        try:
            for name, soft, hard in cfg["rlimits"]:
                resource.setrlimit(getattr(resource, name), (soft, hard))
            switch = root and cfg["uid"] is not None
            if switch:
                os.setgroups([])
                os.setgid(cfg["gid"])
                os.setuid(cfg["uid"])
            if cfg.get("deny_keyrings") and not deny_keyrings():
                raise OSError("could not install the seccomp filter that denies the kernel keyrings")
            os.chdir(workdir)
            hook = "net" not in active and cfg["hook_net"]
            if exec_program:
                os.set_inheritable(ST, False)
                argv = list(cfg["argv"])
                if hook:
                    argv[-1:-1] = ["-c", cfg["net_hook"]]
                os.execve(argv[0], argv, cfg["env"])
            if switch:
                libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE=1, which execve would have restored
            for path in cfg["need"]:  # what execve would have checked: can this uid reach the interpreter?
                if not os.access(path, os.R_OK | os.X_OK):
                    raise PermissionError(13, "Permission denied", path)
            os.closerange(3, max(3, os.sysconf("SC_OPEN_MAX")))  # the status pipe, and anything else
            return hook
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

# The Popen path: ``python -I -S -c _LAUNCHER <marshal config, hex>``, started in a new session.
_LAUNCHER = "import marshal\n" + _LAUNCH_LIB + "launch(marshal.loads(bytes.fromhex(sys.argv[1])), True)\n"

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

# The zygote path: ``python -s -P -B -c _ZYGOTE <fd>``, the program's interpreter started the way the
# Popen path starts it (same flags, same scrubbed environment, PYTHONHASHSEED=0), once per worker.
# Per job it receives the config and four fds (stdin, stdout, stderr, status pipe) over a Unix
# SOCK_SEQPACKET socket, forks the launcher (a new session), replies "P<pid>", waits until that
# launcher has exited *without reaping it* (so its pid, which is the sandbox's process group id,
# cannot be recycled while the parent may still kill that group), replies "X", and reaps it only
# after the parent's "A".  In the launcher's program process, launch() returns and the rest of this
# script turns the process into what ``python -s -P -B main.py`` would have been, then runs main.py
# in a fresh ``__main__`` from this script's top level, so that exceptions, SystemExit and
# KeyboardInterrupt end the interpreter exactly as they would end a script.
_ZYGOTE = r"""
import sys
_z1_modules = set(sys.modules)
import os, marshal, _socket
_z1_env0 = dict(os.environ)
""" + _LAUNCH_LIB + r"""
def _z1_no_net(event, args):
    if event.startswith("socket.") and event != "socket.gethostname":
        raise PermissionError("network access is disabled in this sandbox")
def _z1_serve(fd):
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET, 0, fd)
    me = os.getpid()
    space = _socket.CMSG_SPACE(4 * 4)
    while True:
        try:
            msg, anc, _flags, _addr = sock.recvmsg(1 << 16, space)
        except OSError:
            os._exit(0)
        fds = []
        for level, kind, data in anc:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += [int.from_bytes(data[i:i + 4], sys.byteorder) for i in range(0, len(data) - 3, 4)]
        if not msg:  # the parent closed its end (or died)
            os._exit(0)
        try:
            pid = os.fork()
        except OSError as e:
            pid = None
            err = repr(e).encode()
        if pid == 0:
            sock.close()
            return marshal.loads(msg), fds, me
        for f in fds:
            os.close(f)
        try:
            if pid is None:
                sock.send(b"E" + err)
                continue
            sock.send(b"P%d" % pid)
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            sock.send(b"X")
            ack = sock.recv(16)
        except OSError:
            ack = b""
        if pid is not None:
            os.waitpid(pid, 0)
        if not ack:
            os._exit(0)
def _z1_child(fd):
    cfg, fds, zygote = _z1_serve(fd)
    # ---- the launcher: a new session (its pid is the process group the parent kills)
    os.setsid()
    libc.prctl(1, SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the zygote
    if os.getppid() != zygote or len(fds) != 4:
        os._exit(0)
    for target, f in zip((0, 1, 2), fds):
        os.dup2(f, target)
        os.close(f)
    cfg["status_fd"] = fds[3]
    hook = launch(cfg, False)
    # ---- the program process: limits, uid, cwd set; only fds 0/1/2 open
    env = dict(cfg["env"])
    for k, v in _z1_env0.items():  # what the interpreter added to its own environment (locale coercion)
        if k not in env:
            env[k] = v
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["main.py"]
    sys.orig_argv = list(cfg["argv"])
    if hook:
        sys.addaudithook(_z1_no_net)
    path = os.path.join(cfg["workdir"], "main.py")
    fp = libc.fopen(os.fsencode(path), b"rb")  # as `python main.py` opens it: as the program's uid
    if not fp:
        e = ctypes.get_errno()
        sys.stderr.write("%s: can't open file %r: [Errno %d] %s\n" % (cfg["argv"][0], path, e, os.strerror(e)))
        sys.exit(2)
    main = type(sys)("__main__")
    g = main.__dict__
    g["__annotations__"] = {}
    g["__builtins__"] = sys.modules["builtins"]
    g["__file__"] = path
    g["__cached__"] = None
    g["__loader__"] = sys.modules["_frozen_importlib_external"].SourceFileLoader("__main__", path)
    sys.modules["__main__"] = main
    for name in list(sys.modules):  # forget what the zygote imported: the program imports afresh
        if name not in _z1_modules:
            del sys.modules[name]
    # the interpreter's own file runner (tokenizer, encoding cookie, errors), as `python main.py` uses it
    run = ctypes.pythonapi.PyRun_FileExFlags
    run.restype = ctypes.py_object
    run.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.py_object, ctypes.py_object,
                    ctypes.c_int, ctypes.c_void_p]
    def flush_io(sys=sys):  # what the interpreter does right after the script, before any exit handling
        for f in (sys.stderr, sys.stdout):
            try:
                f.flush()
            except BaseException:
                pass
    return run, (fp, os.fsencode(path), 257, g, g, 1, None), g, flush_io  # 257: Py_file_input; 1: close fp
_z1_run = _z1_child(int(sys.argv[1]))
for _z1_k in list(globals()):
    if _z1_k[:2] != "__" and _z1_k != "_z1_run":
        del globals()[_z1_k]
del _z1_k
try:
    _z1_run[0](*_z1_run[1])
except BaseException as _z1_e:
    try:
        _z1_e.__traceback__ = _z1_e.__traceback__.tb_next  # the traceback starts in main.py
    except BaseException:
        pass
    _z1_run[3]()
    if not isinstance(_z1_e, SystemExit):
        _z1_run[2].pop("__file__", None)
        _z1_run[2].pop("__cached__", None)
    raise
_z1_run[3]()
_z1_run[2].pop("__file__", None)
_z1_run[2].pop("__cached__", None)
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
    # a directory the sandbox uid may not enter (e.g. a `mktemp -d` checkout, mode 0700, that is on
    # sys.path because pytest put its rootdir there) is never bound whole: its bind mount would keep
    # mode 0700 and hide everything below it; the needed entries inside are listed on their own and
    # their ancestors are recreated traversable in the private tmpfs
    dirs = sorted({p for p in dirs if _others_may_enter(p)})
    return [p for p in dirs if not any(p != q and p.startswith(q + "/") for q in dirs)]


def _others_may_enter(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & 0o001)
    except OSError:
        return False


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


def _program_env(home: str) -> dict[str, str]:
    return {
        "PATH": _SAFE_PATH,
        "LANG": "C.UTF-8",
        "HOME": home,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


# ------------------------------------------------------------------------------------------- zygotes
class _ZygoteError(Exception):
    pass


class _Zygote:
    """One zygote process (see ``_ZYGOTE``) and the parent's end of its socket; used by one thread at
    a time (the pool hands it out)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        diag_r, diag_w = os.pipe()
        try:
            # stdin a regular file and stdout/stderr pipes, as a program's are: the interpreter sets up
            # sys.stdin/stdout/stderr (buffering, seekable()) from them once, at start
            with tempfile.TemporaryFile() as stdin_f:
                self.proc = subprocess.Popen(
                    [sys.executable, "-s", "-P", "-B", "-c", _ZYGOTE, str(theirs.fileno())],
                    stdin=stdin_f,
                    stdout=diag_w,
                    stderr=diag_w,
                    pass_fds=(theirs.fileno(),),
                    start_new_session=True,
                    env=_program_env("/"),
                    cwd="/",
                )
        except BaseException:
            ours.close()
            os.close(diag_r)
            raise
        finally:
            os.close(diag_w)
            theirs.close()
        self.sock = ours
        os.set_blocking(diag_r, False)
        self.diag = open(diag_r, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        self.broken = False

    def _recv(self, timeout: float) -> bytes | None:
        """A reply; ``b""`` when the zygote is gone, None on timeout."""
        try:
            self.sock.settimeout(max(0.0, timeout))
            return self.sock.recv(256)
        except TimeoutError:
            return None
        except OSError:
            return b""

    def start(self, payload: bytes, fds: list[int]) -> int:
        """Hand a job to the zygote; the pid of the sandbox's launcher (its process group id)."""
        try:
            self.sock.settimeout(_ZYGOTE_REPLY_S)
            socket.send_fds(self.sock, [payload], fds)
        except OSError as e:
            self.broken = True
            raise _ZygoteError(f"could not send a job: {e!r} {self.diagnostics()}") from e
        reply = self._recv(_ZYGOTE_REPLY_S)
        if reply and reply.startswith(b"P"):
            return int(reply[1:])
        self.broken = True
        why = "no reply" if reply is None else "gone" if not reply else reply[1:].decode(errors="replace")
        raise _ZygoteError(f"zygote {why} {self.diagnostics()}".strip())

    def wait_exited(self, timeout: float) -> bool:
        """True once the launcher has exited (it stays unreaped until :meth:`release`), or the zygote
        is gone (the launcher then died with it: PR_SET_PDEATHSIG)."""
        reply = self._recv(timeout)
        if reply is None:
            return False
        if reply != b"X":
            self.broken = True
        return True

    def release(self) -> None:
        """The parent is done with the launcher's process group: the zygote may reap it."""
        if not self.broken:
            try:
                self.sock.send(b"A")
            except OSError:
                self.broken = True

    def alive(self) -> bool:
        return not self.broken and self.proc.poll() is None

    def diagnostics(self) -> str:
        try:
            return (self.diag.read(4096) or b"").decode(errors="replace").strip()[-1000:]
        except OSError:
            return ""

    def close(self, wait_s: float = 1.0) -> None:
        self.sock.close()  # the zygote reads EOF and exits
        try:
            self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.diag.close()


class _ZygotePool:
    """Idle zygotes, shared by all threads: a thread takes one for a program and gives it back.  After
    ``os.fork()`` the child forgets the parent's zygotes (their sockets are the parent's)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Zygote] = []
        self.failures = 0
        self.disabled: str | None = None  # why the zygote path is off in this process
        self.started = 0

    def forget(self) -> None:  # after fork, in the child
        self.lock = threading.Lock()
        self.idle = []

    def acquire(self) -> _Zygote | None:
        with self.lock:
            if self.disabled:
                return None
            while self.idle:
                z = self.idle.pop()
                if z.alive():
                    return z
                z.close()  # died while idle (killed, OOM): a new one replaces it
        try:
            z = _Zygote()
        except OSError as e:
            self.failed(f"could not start a zygote: {e!r}")
            return None
        with self.lock:
            self.started += 1
        return z

    def give_back(self, z: _Zygote) -> None:
        with self.lock:
            self.failures = 0
            if z.alive() and len(self.idle) < _MAX_IDLE_ZYGOTES:
                self.idle.append(z)
                return
        z.close()

    def failed(self, why: str) -> None:
        with self.lock:
            self.failures += 1
            if self.failures < 3 or self.disabled:
                return
            self.disabled = why
        warnings.warn(f"z1.sandbox: interpreters cannot be reused ({why}); every program now starts a fresh "
                      "interpreter (slower) -- see isolation_report()", RuntimeWarning, stacklevel=4)

    def close_all(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for z in idle:
            z.sock.close()
        for z in idle:
            z.close()


_zygotes = _ZygotePool()
atexit.register(_zygotes.close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_zygotes.forget)


def _zygote_supported() -> bool:
    return (sys.platform.startswith("linux") and sys.implementation.name == "cpython"
            and hasattr(socket, "send_fds") and hasattr(socket, "SOCK_SEQPACKET") and hasattr(os, "waitid"))


# ---------------------------------------------------------------------------------------------- jobs
class _PopenJob:
    """A sandbox started by ``Popen`` of the launcher (a child of this process)."""

    path = "popen"

    def __init__(self, proc: subprocess.Popen, status_fd: int):
        self.proc, self.status_fd = proc, status_fd
        self.out_fd, self.err_fd = proc.stdout.fileno(), proc.stderr.fileno()

    def kill(self) -> None:
        _kill_group(self.proc.pid)

    def wait_exited(self, timeout: float) -> bool:
        return _wait_unreaped(self.proc.pid, timeout)

    def finish(self) -> None:
        self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()
        os.close(self.status_fd)


class _ZygoteJob:
    """A sandbox whose launcher a zygote forked; the zygote keeps it unreaped until :meth:`finish`."""

    path = "zygote"

    def __init__(self, zygote: _Zygote, pid: int, out_fd: int, err_fd: int, status_fd: int):
        self.zygote, self.pid = zygote, pid
        self.out_fd, self.err_fd, self.status_fd = out_fd, err_fd, status_fd
        self.exited = False

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:  # the launcher has not made its session yet
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
        except OSError:
            pass

    def wait_exited(self, timeout: float) -> bool:
        self.exited = self.exited or self.zygote.wait_exited(timeout)
        return self.exited

    def finish(self) -> None:
        if not self.exited:  # the launcher would not die: the zygote is stuck waiting for it
            self.zygote.broken = True
        self.zygote.release()
        for fd in (self.out_fd, self.err_fd, self.status_fd):
            os.close(fd)
        if self.zygote.broken:
            self.zygote.close()
        else:
            _zygotes.give_back(self.zygote)


def _start_in_zygote(cfg: dict, stdin_fd: int) -> _ZygoteJob | None:
    """Start the sandbox in a zygote (a new one if the last one died); None: use the Popen path."""
    if not _zygote_supported():
        return None
    payload = marshal.dumps(cfg)
    for _ in range(2):
        z = _zygotes.acquire()
        if z is None:
            return None
        pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, status
        try:
            pid = z.start(payload, [stdin_fd] + [w for _, w in pipes])
        except BaseException as e:
            for r, _ in pipes:
                os.close(r)
            z.close()  # also when interrupted: a zygote mid-job cannot be handed out again
            if not isinstance(e, _ZygoteError):
                raise
            _zygotes.failed(str(e))
            continue
        finally:
            for _, w in pipes:
                os.close(w)
        return _ZygoteJob(z, pid, *(r for r, _ in pipes))
    return None


def _start_with_popen(cfg: dict, stdin_f) -> _PopenJob:
    r_fd, w_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, marshal.dumps({**cfg, "status_fd": w_fd}).hex()],
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
    return _PopenJob(proc, r_fd)


def _execute(code: str, stdin: str, limits: Limits, files: dict[str, str] | None) -> tuple[Verdict, dict]:
    global _mounts_broken, _uid_switch_broken
    root = _is_root()
    owner = (SANDBOX_UID, SANDBOX_GID) if root else None
    want_ns = (["pid", "mnt", "ipc"] + ([] if limits.network else ["net"])) if _use_namespaces else []
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
            ("RLIMIT_NOFILE", int(limits.max_open_files), int(limits.max_open_files)),
        ]
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
            "env": _program_env(workdir),
            "hook_net": not limits.network,
            "deny_keyrings": _use_namespaces and os.uname().machine in ("x86_64", "aarch64"),
            "net_hook": _NET_HOOK,
            "need": [sys.executable, os.path.dirname(os.__file__)],
        }
        with tempfile.TemporaryFile() as stdin_f:
            stdin_f.write(stdin.encode("utf-8"))
            stdin_f.flush()
            stdin_f.seek(0)
            job = _start_in_zygote(cfg, stdin_f.fileno()) if limits.reuse_interpreter else None
            if job is None:
                job = _start_with_popen(cfg, stdin_f)
        verdict, info = _collect(job, limits, t0)
        info["start_path"] = job.path
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


def _collect(job: _PopenJob | _ZygoteJob, limits: Limits, t0: float) -> tuple[Verdict, dict]:
    out, err = _Capture(limits.output_bytes), _Capture(limits.output_bytes)
    status_fd = job.status_fd
    status_buf = bytearray()
    flood_limit = max(_FLOOD_MIN, 16 * int(limits.output_bytes))
    deadline = t0 + float(limits.timeout_s)
    sel = selectors.DefaultSelector()
    fds = {job.out_fd: out, job.err_fd: err, status_fd: None}
    for fd in fds:
        sel.register(fd, selectors.EVENT_READ)
    killed: str | None = None  # "timeout" | "flood" | "straggler"
    give_up_at: float | None = None  # stop reading pipes at this time
    ended_at: float | None = None
    try:
        while fds:
            now = time.monotonic()
            if killed is None and now >= deadline:
                job.kill()
                killed, ended_at, give_up_at = "timeout", now, now + _KILL_GRACE_S
            if give_up_at is not None and now >= give_up_at:
                if killed is None:  # launcher reported, but something still holds the pipes
                    job.kill()
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
                    job.kill()
                    killed, ended_at = "flood", time.monotonic()
                    give_up_at = ended_at + _KILL_GRACE_S
    finally:
        sel.close()
        if not job.wait_exited(5.0):
            job.kill()
            job.wait_exited(5.0)
        job.kill()  # fallback mode: stragglers still in the group; the pgid is not recycled yet
        job.finish()
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
    """Run many programs, ``workers`` at a time (threads, each waiting on its sandbox; on the zygote path
    each worker forks its programs from one zygote, see the module doc); the result list has the order
    of ``programs``.  An item is ``code`` or ``(code, stdin)``."""
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
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
key = libc.syscall({"x86_64": 248, "aarch64": 217}.get(os.uname().machine, -1), b"user", b"z1-probe", b"x",
                   ctypes.c_size_t(1), ctypes.c_int(-4))
r["add_key"] = "allowed" if key >= 0 else os.strerror(ctypes.get_errno())
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

    def best_ms(fn) -> float:  # min of 3: the machine's noise only adds
        times = []
        for _ in range(3):
            t = time.monotonic()
            fn()
            times.append(time.monotonic() - t)
        return 1000 * min(times)

    run_ms = best_ms(lambda: run_program("pass", limits=limits))
    popen_ms = best_ms(lambda: run_program("pass", limits=dataclasses.replace(limits, reuse_interpreter=False)))
    bare_ms = best_ms(lambda: subprocess.run([sys.executable, "-I", "-c", "pass"], env={}, check=False))
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
        "ipc_namespace": "ipc" in ns,
        "keyrings": "denied (seccomp)" if probe.get("add_key") == os.strerror(1) else probe.get("add_key"),
        "readonly_root": bool(mounts.get("readonly_root")) and probe.get("root_writable") is False,
        "private_tmp": mounts.get("private_tmp", []),
        "private_proc": bool(mounts.get("private_proc")),
        "probe_visible_pids": probe.get("visible_pids"),
        "straggler_cleanup": "pid-namespace" if "pid" in ns else "subreaper+process-group",
        "rlimits": ["RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_CORE"],
        "nproc_enforced": bool(root and probe.get("uid") == SANDBOX_UID) or not root,
        "env_keys": probe.get("env_keys"),
        # how programs start: "zygote" (forked from a per-worker interpreter) or "popen" (a fresh one)
        "start_path": info.get("start_path"),
        "zygote_disabled": _zygotes.disabled,
        # run_program("pass") minus a bare `python -I -c pass`: negative when the zygote saves more than
        # the sandbox costs; "popen_*" is the same for the fresh-interpreter path
        "overhead_ms": round(run_ms - bare_ms, 1),
        "run_ms": round(run_ms, 1),
        "popen_overhead_ms": round(popen_ms - bare_ms, 1),
        "popen_run_ms": round(popen_ms, 1),
        "bare_python_ms": round(bare_ms, 1),
    }
