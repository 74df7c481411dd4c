"""Run untrusted, model-generated Python programs with limits and containment.

Each program is written to ``main.py`` in a fresh temporary directory and run by the project's
interpreter (``sys.executable``) in its own session / process group.  The result is a
:class:`Verdict`: ``passed`` (exit 0 within the limits), ``failed`` (non-zero exit, e.g. an
exception), ``timeout`` (wall clock or CPU limit), ``memory`` (``MemoryError`` under ``RLIMIT_AS``)
or ``crashed`` (signal, closed pipes, output flood, sandbox error; the reason says which).

How a program is started
------------------------
Both start paths run the same launcher code (``launch`` in ``launcher.py``), which

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
starting one if none is idle: a long-lived ``python -s -P -B zygote.py <fd>``, started (by ``Popen``, no
``preexec_fn``) as the Popen path starts a program -- same interpreter and flags, the same scrubbed
environment with ``PYTHONHASHSEED=0``, stdin a regular file, stdout/stderr pipes -- that has imported
only what the launcher needs (ctypes, resource, select, _socket) and never runs program code itself.
For each program the parent sends it the config (``marshal``; never the program text, stdin or output) and the
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
launcher, ``python -I -S launcher.py <json>``, in a new session for every program, and the program
process ``execve``s ``python -s -P -B main.py``.  Cost: two interpreter starts per program (~30 ms
here; ``isolation_report()["popen_overhead_ms"]``).

**Other isolation layers, for measurement.**  ``Z1_SANDBOX_ISOLATION=popen`` forces the Popen path
for every program; ``Z1_SANDBOX_ISOLATION=bwrap`` replaces the launcher with bubblewrap (``bwrap.py``:
the same namespaces, mounts, environment, rlimits, keyring filter and uid, root only).
``benchmarks/bench_isolation.py`` runs the adversarial suite and HumanEval grading under each; the
README gives the numbers and why the launcher stays the default.

On both paths the parent reads stdout/stderr with a bounded reader: it keeps the first
``output_bytes`` (minus a small tail window) and the last 2 KiB of each stream, and kills the program
when the two streams together exceed ``max(8 MiB, 16 * output_bytes)`` (verdict ``crashed``, "output
limit exceeded").  On the wall-clock deadline it SIGKILLs the whole process group (and therefore the
namespace init).  The temporary directory is removed afterwards.

Where things are
----------------
One module per concept; the four scripts that run inside the sandbox's process tree are plain files
run by path (standard library only, parameters as JSON on argv or, for the zygote, marshal over its
socket), linted and tested like the rest:

* ``limits``: :class:`Limits` and :class:`Verdict`;
* ``launcher`` (script): namespaces, mounts, rlimits, uid switch, seccomp, init and status reports;
* ``zygote`` (script) and ``zygotes`` (the parent's side: the pool, the socket protocol, jobs);
* ``nethook`` (script): the audit-hook stand-in for a network namespace;
* ``plans``: which host paths the sandbox must show, the program's environment;
* ``runner``: the work directory, the launcher config, the Popen path, ``run_program``/``run_many``;
* ``capture``: bounded output capture, deadline and flood kills;
* ``verdicts``: the launcher's reports and the parent's observations to a :class:`Verdict`;
* ``report`` and ``probe`` (script): :func:`isolation_report`;
* ``bwrap``: bubblewrap as the isolation layer (measured against the launcher, not the default).

How the zygote path differs, for a program
------------------------------------------
Checked against the Popen path by the tests (same globals, ``sys.argv``, ``sys.path``, ``sys.flags``,
``sys.modules``, environment, fds, uid/gid, capabilities, rlimits, signal dispositions, std streams,
mounts, outputs and exit codes).  What remains different:

* one caller frame above ``main.py``'s module frame (the top level of ``zygote.py``, its globals
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

from .limits import SANDBOX_GID, SANDBOX_UID, Limits, Verdict
from .report import isolation_report
from .runner import run_many, run_program

__all__ = ["Limits", "Verdict", "run_program", "run_many", "isolation_report", "SANDBOX_UID", "SANDBOX_GID"]
