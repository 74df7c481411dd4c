"""The isolation probe: run in the sandbox by ``isolation_report()``; prints one JSON object.

What it sees of its uid, network interfaces, loopback, the root file system, /proc, the kernel
keyrings and the environment.
"""

import ctypes
import json
import os
import socket

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
libc = ctypes.CDLL(None, use_errno=True)
key = libc.syscall({"x86_64": 248, "aarch64": 217}.get(os.uname().machine, -1), b"user", b"z1-probe", b"x",
                   ctypes.c_size_t(1), ctypes.c_int(-4))
r["add_key"] = "allowed" if key >= 0 else os.strerror(ctypes.get_errno())
r["env_keys"] = sorted(os.environ)
print(json.dumps(r))
