"""From what the launcher reported and what the parent saw to a :class:`Verdict`.

``passed`` (exit 0 within the limits), ``failed`` (non-zero exit, e.g. an exception), ``timeout``
(wall clock or CPU limit), ``memory`` (``MemoryError`` under ``RLIMIT_AS``) or ``crashed`` (signal,
closed pipes, output flood, sandbox error; the reason says which).
"""

from __future__ import annotations

import json
import re
import signal

from .capture import Collected
from .limits import Limits, Verdict


def status_info(status: bytes) -> dict:
    """The launcher's status lines (one JSON object each) merged; damaged lines are skipped."""
    info: dict = {}
    for line in status.decode("utf-8", errors="replace").splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict):
            info.update(msg)
    return info


def exception_line(stderr_tail: str) -> str:
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


def signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def classify(c: Collected, info: dict, limits: Limits) -> Verdict:
    stdout, stderr = c.out.text(), c.err.text()
    tail = c.err.tail_text()
    exc = exception_line(tail)
    code = info.get("exit")
    sig = info.get("signal")
    rc = code if code is not None else (-sig if sig is not None else None)
    killed = c.killed
    if killed == "straggler" and (code is not None or sig is not None):
        killed = None  # the program itself finished; only leftovers were killed

    def v(status: str, reason: str, returncode: int | None = rc) -> Verdict:
        return Verdict(status, reason, returncode, stdout, stderr, c.elapsed_s)

    if killed == "timeout":
        return v("timeout", f"wall-clock timeout after {float(limits.timeout_s):g} s", -signal.SIGKILL)
    if killed == "flood":
        return v("crashed", f"output limit exceeded: more than {c.flood_limit} bytes on stdout+stderr, killed",
                 -signal.SIGKILL)
    if info.get("mount_error"):
        return v("crashed", f"sandbox setup failed: {info['mount_error']}")
    if info.get("error"):
        return v("crashed", f"sandbox error: {info['error']}")
    if sig is not None:
        cpu_used = info.get("cpu") or 0.0
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_used >= limits.effective_cpu_s() - 0.05):
            return v("timeout", f"CPU time limit of {limits.effective_cpu_s()} s exceeded ({signame(sig)})")
        if exc.split(":")[0].endswith("MemoryError") or "Cannot allocate memory" in tail:
            return v("memory", f"killed by {signame(sig)} while out of memory")
        return v("crashed", f"killed by signal {sig} ({signame(sig)})" + (f" after {exc}" if exc else ""))
    if code is None:
        return v("crashed", "sandbox launcher ended without a status" + (f" ({exc})" if exc else ""))
    if code == 0:
        return v("passed", "exit code 0")
    if exc.split(":")[0].endswith("MemoryError"):
        return v("memory", f"exit code {code}: {exc}")
    if code == 120 and not exc:
        return v("crashed", "exit code 120: could not flush stdout/stderr (closed or broken pipe)")
    return v("failed", f"exit code {code}: {exc}" if exc else f"exit code {code}")
