"""bubblewrap (``bwrap``) as the isolation layer instead of ``launcher.py``: kept to measure one against
the other (``benchmarks/bench_isolation.py``), chosen with ``Z1_SANDBOX_ISOLATION=bwrap``.

The same protections, expressed as bwrap options: new PID, IPC, network (unless ``network``) and UTS
namespaces; ``/`` bound read-only, a fresh ``/dev`` and ``/proc``, private size-capped tmpfs on the
scratch places, the ``plans`` entries bound back, the work directory bound read-write; a cleared
environment; the keyring seccomp program (``launcher.keyring_filter``) through ``--seccomp``; then
``setpriv`` drops to the sandbox uid (as root) before the interpreter starts.  The rlimits are set in
the forked child before ``bwrap`` runs (they are inherited; ``RLIMIT_NPROC`` binds once the uid is
dropped).  Each program pays two extra ``execve``s (bwrap, setpriv) and always a fresh interpreter:
there is no zygote on this path.  Root only.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import struct
import subprocess

from . import launcher
from .plans import PRIVATE_DIRS
from .runner import PopenJob


def available() -> bool:
    return os.geteuid() == 0 and bool(shutil.which("bwrap")) and bool(shutil.which("setpriv"))


def argv(cfg: dict, network: bool, status_fd: int, seccomp_fd: int | None) -> list[str]:
    a = [shutil.which("bwrap") or "bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]
    if not network:
        a.append("--unshare-net")
    a += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    size = str(cfg["tmpfs_mb"] * 1024 * 1024)
    for d in PRIVATE_DIRS:
        if os.path.isdir(d) and not os.path.islink(d) and d != "/dev/shm":  # --dev made a fresh /dev/shm
            a += ["--perms", "1777", "--size", size, "--tmpfs", d]
    for p in cfg["keep"]:
        a += ["--ro-bind", p, p]
    for anc, entries in cfg["expose"]:
        a += ["--tmpfs", anc]
        for ent in entries:
            a += ["--ro-bind", ent, ent]
    a += ["--bind", cfg["workdir"], cfg["workdir"], "--chdir", cfg["workdir"], "--clearenv"]
    for k, v in cfg["env"].items():
        a += ["--setenv", k, v]
    a += ["--json-status-fd", str(status_fd)]
    if seccomp_fd is not None:
        a += ["--seccomp", str(seccomp_fd)]
    a.append("--")
    if cfg["uid"] is not None:
        a += [shutil.which("setpriv") or "setpriv", f"--reuid={cfg['uid']}", f"--regid={cfg['gid']}",
              "--clear-groups", "--"]
    return a + list(cfg["argv"])


class BwrapJob(PopenJob):
    path = "bwrap"

    def finish(self) -> None:
        try:
            _, _, ru = os.wait4(self.proc.pid, 0)
            self.cpu = ru.ru_utime + ru.ru_stime  # bwrap's children, reaped by it, are included
            self.proc.returncode = 0
        except ChildProcessError:
            self.cpu = None
        super().finish()


def start(cfg: dict, stdin_f, rlimits: list[tuple[str, int, int]], network: bool) -> BwrapJob:
    r_fd, w_fd = os.pipe()
    prog = launcher.keyring_filter() if cfg.get("deny_keyrings") else None
    seccomp_r = None
    if prog:
        seccomp_r, seccomp_w = os.pipe()
        os.write(seccomp_w, b"".join(struct.pack("=HBBI", *ins) for ins in prog))
        os.close(seccomp_w)

    def limit():  # in the forked child, before bwrap runs
        for name, soft, hard in rlimits:
            resource.setrlimit(getattr(resource, name), (soft, hard))

    fds = (w_fd,) + ((seccomp_r,) if seccomp_r is not None else ())
    try:
        proc = subprocess.Popen(argv(cfg, network, w_fd, seccomp_r), stdin=stdin_f, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, pass_fds=fds, start_new_session=True, env={}, cwd="/",
                                preexec_fn=limit)
    except BaseException:
        os.close(r_fd)
        raise
    finally:
        for fd in fds:
            os.close(fd)
    return BwrapJob(proc, r_fd)


def translate(info: dict, job: BwrapJob, network: bool) -> dict:
    """bwrap's status lines (``child-pid``, ``*-namespace``, ``exit-code``) in the launcher's terms."""
    mounts = {"readonly_root": True, "private_tmp": [d for d in PRIVATE_DIRS if os.path.isdir(d)], "private_proc": True}
    out = {"ns": ["pid", "ipc", "uts", "mnt"] + ([] if network else ["net"]), "mounts": mounts,
           "cpu": getattr(job, "cpu", None)}
    code = info.get("exit-code")
    if code is None:
        return {**out, "error": "bwrap ended without a status" if "child-pid" in info else "bwrap could not start"}
    if code > 128 and code - 128 in signal.valid_signals():
        return {**out, "signal": code - 128}  # bwrap exits 128 + n when its child died of signal n
    return {**out, "exit": code}

