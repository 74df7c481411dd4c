"""Reading a running sandbox: bounded output capture, the wall-clock deadline and the flood limit.

The parent reads stdout/stderr with a bounded reader: it keeps the first ``output_bytes`` (minus a
small tail window) and the last 2 KiB of each stream, and kills the program when the two streams
together exceed ``max(8 MiB, 16 * output_bytes)``.  On the wall-clock deadline it SIGKILLs the whole
process group (and with it the namespace init).  After the launcher reported, stragglers may hold the
pipes open for ``DRAIN_S`` more before they are killed too.
"""

from __future__ import annotations

import os
import selectors
import time
from dataclasses import dataclass
from typing import Protocol

from .limits import Limits

TAIL_BYTES = 2048
FLOOD_MIN = 8 * 1024 * 1024
DRAIN_S = 0.5  # after the launcher reported, how long stragglers may keep the pipes open
KILL_GRACE_S = 3.0  # after a kill, how long to wait for the pipes to close


class Job(Protocol):
    """A started sandbox (``runner.PopenJob`` or ``zygotes.ZygoteJob``)."""

    path: str
    out_fd: int
    err_fd: int
    status_fd: int

    def kill(self) -> None: ...
    def wait_exited(self, timeout: float) -> bool: ...
    def finish(self) -> None: ...


class Capture:
    """Bounded buffer: the head of a stream and its last ``TAIL_BYTES`` bytes."""

    def __init__(self, limit: int):
        self.limit = max(0, int(limit))
        self.tail_cap = min(TAIL_BYTES, self.limit // 4)
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


@dataclass
class Collected:
    out: Capture
    err: Capture
    status: bytes  # the launcher's status lines
    killed: str | None  # "timeout" | "flood" | "straggler" | None
    flood_limit: int
    elapsed_s: float


def collect(job: Job, limits: Limits, t0: float) -> Collected:
    """Read the job's pipes until it is over (or killed), then let it finish."""
    out, err = Capture(limits.output_bytes), Capture(limits.output_bytes)
    status_fd = job.status_fd
    status_buf = bytearray()
    flood_limit = max(FLOOD_MIN, 16 * int(limits.output_bytes))
    deadline = t0 + float(limits.timeout_s)
    sel = selectors.DefaultSelector()
    fds = {job.out_fd: out, job.err_fd: err, status_fd: None}
    for fd in fds:
        sel.register(fd, selectors.EVENT_READ)
    killed: str | None = None
    give_up_at: float | None = None  # stop reading pipes at this time
    ended_at: float | None = None
    try:
        while fds:
            now = time.monotonic()
            if killed is None and now >= deadline:
                job.kill()
                killed, ended_at, give_up_at = "timeout", now, now + KILL_GRACE_S
            if give_up_at is not None and now >= give_up_at:
                if killed is None:  # launcher reported, but something still holds the pipes
                    job.kill()
                    killed, give_up_at = "straggler", now + KILL_GRACE_S
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
                        give_up_at = ended_at + DRAIN_S
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
                    give_up_at = ended_at + KILL_GRACE_S
    finally:
        sel.close()
        if not job.wait_exited(5.0):
            job.kill()
            job.wait_exited(5.0)
        job.kill()  # fallback mode: stragglers still in the group; the pgid is not recycled yet
        job.finish()
    elapsed = round((ended_at or time.monotonic()) - t0, 4)
    return Collected(out, err, bytes(status_buf), killed, flood_limit, elapsed)

