"""The parent's side of the zygote path: one zygote per worker thread, a pool of idle ones.

A thread that runs a program takes a zygote (``zygote.py``, see its doc) from the pool, starting one
if none is idle, sends it the job's config and fds, and gives it back afterwards.  A zygote that died
is replaced (noticed when idle or when handed a job; a job it never started is retried in a new one).
If zygotes cannot run (not Linux/CPython, no ``socket.send_fds``, or three failed starts in a row,
then with a warning), ``start`` returns None and programs take the Popen path.  Up to ``MAX_IDLE``
idle zygotes are kept for later calls and closed at exit; a forked child of the caller forgets its
parent's.
"""

from __future__ import annotations

import atexit
import marshal
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import warnings

from .plans import program_env, script

REPLY_S = 10.0  # how long a zygote may take to fork a job's launcher (includes its own start)
MAX_IDLE = 8  # idle zygotes kept for later programs; more are closed when given back
SCRIPT = script("zygote")


class ZygoteError(Exception):
    pass


class Zygote:
    """One zygote process (``zygote.py``) and the parent's end of its socket; used by one thread at
    a time (the pool hands it out)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        diag_r, diag_w = os.pipe()
        try:
            # stdin a regular file and stdout/stderr pipes, as a program's are: the interpreter sets up
            # sys.stdin/stdout/stderr (buffering, seekable()) from them once, at start
            with tempfile.TemporaryFile() as stdin_f:
                self.proc = subprocess.Popen(
                    [sys.executable, "-s", "-P", "-B", SCRIPT, str(theirs.fileno())],
                    stdin=stdin_f,
                    stdout=diag_w,
                    stderr=diag_w,
                    pass_fds=(theirs.fileno(),),
                    start_new_session=True,
                    env=program_env("/"),
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
            self.sock.settimeout(REPLY_S)
            socket.send_fds(self.sock, [payload], fds)
        except OSError as e:
            self.broken = True
            raise ZygoteError(f"could not send a job: {e!r} {self.diagnostics()}") from e
        reply = self._recv(REPLY_S)
        if reply and reply.startswith(b"P"):
            return int(reply[1:])
        self.broken = True
        why = "no reply" if reply is None else "gone" if not reply else reply[1:].decode(errors="replace")
        raise ZygoteError(f"zygote {why} {self.diagnostics()}".strip())

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


class ZygotePool:
    """Idle zygotes, shared by all threads: a thread takes one for a program and gives it back.  After
    ``os.fork()`` the child forgets the parent's zygotes (their sockets are the parent's)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[Zygote] = []
        self.failures = 0
        self.disabled: str | None = None  # why the zygote path is off in this process
        self.started = 0

    def forget(self) -> None:  # after fork, in the child
        self.lock = threading.Lock()
        self.idle = []

    def acquire(self) -> Zygote | None:
        with self.lock:
            if self.disabled:
                return None
            while self.idle:
                z = self.idle.pop()
                if z.alive():
                    return z
                z.close()  # died while idle (killed, OOM): a new one replaces it
        try:
            z = Zygote()
        except OSError as e:
            self.failed(f"could not start a zygote: {e!r}")
            return None
        with self.lock:
            self.started += 1
        return z

    def give_back(self, z: Zygote) -> None:
        with self.lock:
            self.failures = 0
            if z.alive() and len(self.idle) < MAX_IDLE:
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


pool = ZygotePool()
atexit.register(pool.close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=pool.forget)


def supported() -> bool:
    return (sys.platform.startswith("linux") and sys.implementation.name == "cpython"
            and hasattr(socket, "send_fds") and hasattr(socket, "SOCK_SEQPACKET") and hasattr(os, "waitid"))


class ZygoteJob:
    """A sandbox whose launcher a zygote forked; the zygote keeps it unreaped until :meth:`finish`."""

    path = "zygote"

    def __init__(self, zygote: Zygote, pid: int, out_fd: int, err_fd: int, status_fd: int):
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
            pool.give_back(self.zygote)


def start(cfg: dict, stdin_fd: int) -> ZygoteJob | None:
    """Start the sandbox in a zygote (a new one if the last one died); None: use the Popen path."""
    if not supported():
        return None
    payload = marshal.dumps(cfg)
    for _ in range(2):
        z = pool.acquire()
        if z is None:
            return None
        pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, status
        try:
            pid = z.start(payload, [stdin_fd] + [w for _, w in pipes])
        except BaseException as e:
            for r, _ in pipes:
                os.close(r)
            z.close()  # also when interrupted: a zygote mid-job cannot be handed out again
            if not isinstance(e, ZygoteError):
                raise
            pool.failed(str(e))
            continue
        finally:
            for _, w in pipes:
                os.close(w)
        return ZygoteJob(z, pid, *(r for r, _ in pipes))
    return None
