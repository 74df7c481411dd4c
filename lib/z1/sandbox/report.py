"""Which protections are active on this machine, and what the sandbox costs per program."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import runner, zygotes
from .limits import SANDBOX_UID, Limits
from .plans import script

PROBE = Path(script("probe")).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def isolation_report() -> dict:
    """Which protections are active on this machine (runs a probe program; cached)."""
    root = runner.is_root()
    limits = Limits(timeout_s=10)
    v, info = runner.execute(PROBE, "", limits, None)
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

    run_ms = best_ms(lambda: runner.run_program("pass", limits=limits))
    popen_ms = best_ms(lambda: runner.run_program("pass", limits=dataclasses.replace(limits, reuse_interpreter=False)))
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
        "mount_namespace": "mnt" in ns and not runner.mounts_broken,
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
        "zygote_disabled": zygotes.pool.disabled,
        # runner.run_program("pass") minus a bare `python -I -c pass`: negative when the zygote saves more than
        # the sandbox costs; "popen_*" is the same for the fresh-interpreter path
        "overhead_ms": round(run_ms - bare_ms, 1),
        "run_ms": round(run_ms, 1),
        "popen_overhead_ms": round(popen_ms - bare_ms, 1),
        "popen_run_ms": round(popen_ms, 1),
        "bare_python_ms": round(bare_ms, 1),
    }
