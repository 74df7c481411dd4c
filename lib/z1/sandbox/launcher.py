"""The launcher: runs in the sandbox's process tree, as the caller (root in the intended setup).

``launch(cfg, exec_program)`` ``unshare``s the namespaces, forks the sandbox's init (which makes the
mounts, then forks the program process) and never returns in the launcher or the init.  In the
program process it sets the rlimits, drops to the sandbox uid, installs the keyring seccomp filter,
``chdir``s into the work directory and then either ``execve``s ``python -s -P -B main.py``
(``exec_program``, the Popen path) or returns (the zygote path runs main.py in-process, see
``zygote.py``).  The init reports on the status pipe (``cfg["status_fd"]``), one JSON object per line:
``{"ns", "mounts"}`` or ``{"ns", "mount_error"}`` once set up, then ``{"exit"|"signal", "cpu"}`` or
``{"error"}``.

Standard library only, and light: the zygote imports this file before it forks programs, and every
module it imports is torn down again at each program's exit (so no ``json``, whose ``re`` and
``enum`` would cost each program ~0.5 ms; status lines are written by :func:`to_json`).  Run as a
script (the Popen path), it takes the config as JSON in ``argv[1]``: ``python -I -S launcher.py
'<json>'``; the zygote receives it over its socket (``marshal``).
"""

import ctypes
import os
import resource
import select
import sys
from _json import encode_basestring_ascii

SIGKILL = 9
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_SECCOMP, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 22, 36, 38
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
CLONE = {"mnt": 0x00020000, "ipc": 0x08000000, "user": 0x10000000, "pid": 0x20000000, "net": 0x40000000}
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")  # scratch places that get a private tmpfs
MOUNT_SETATTR = {"x86_64": 442, "aarch64": 442}
# seccomp: refuse the kernel keyring calls (add_key, request_key, keyctl) with EPERM, as container
# runtimes' default profiles do; a foreign syscall ABI (i386 via int 0x80, x32) is refused entirely.
KEYRING_CALLS = {"x86_64": (0xC000003E, (248, 249, 250)), "aarch64": (0xC00000B7, (217, 218, 219))}

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def to_json(v):
    """JSON text of the status values (str, int, float, bool, None, lists, dicts) without ``json``."""
    if isinstance(v, str):
        return encode_basestring_ascii(v)
    if v is True or v is False or v is None:
        return {True: "true", False: "false", None: "null"}[v]
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(to_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(to_json(str(k)) + ":" + to_json(x) for k, x in v.items()) + "}"
    return encode_basestring_ascii(repr(v))


def _b(s):
    return None if s is None else s.encode()


def mount(src, tgt, fs, flags, data=None):
    if libc.mount(_b(src), _b(tgt), _b(fs), flags, _b(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {tgt}: {os.strerror(e)}")


def unshare(names):
    flags = 0
    for n in names:
        flags |= CLONE[n]
    return libc.unshare(flags) == 0


def keyring_filter():
    """The classic-BPF seccomp program as ``[(code, jt, jf, k)]``, or None on another architecture."""
    spec = KEYRING_CALLS.get(os.uname().machine)
    if spec is None:
        return None
    arch, calls = spec
    LD_ABS, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06
    ALLOW, EPERM = 0x7FFF0000, 0x00050000 | 1
    # load arch; another ABI -> EPERM; load nr; x32 (nr >= 0x40000000) -> EPERM; keyring nr -> EPERM
    body = [(LD_ABS, 4), (JEQ, arch), (LD_ABS, 0), (JGE, 0x40000000)] + [(JEQ, nr) for nr in calls]
    deny = len(body) + 1  # index of the EPERM return (after ALLOW)
    prog = []
    for i, (code, k) in enumerate(body):
        if code == LD_ABS:
            prog.append((code, 0, 0, k))
        elif code == JEQ and k == arch:
            prog.append((code, 0, deny - i - 1, k))
        else:
            prog.append((code, deny - i - 1, 0, k))
    return prog + [(RET, 0, 0, ALLOW), (RET, 0, 0, EPERM)]


def deny_keyrings():
    """Install :func:`keyring_filter` for this process and its children (no_new_privs first)."""
    prog = keyring_filter()
    if prog is None:
        return False

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(prog))(*[Filter(*f) for f in prog])
    fprog = Prog(len(prog), filters)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(PR_SET_SECCOMP, 2, ctypes.byref(fprog), 0, 0) == 0  # SECCOMP_MODE_FILTER


def enter_namespaces(want, root):
    """Unshare what can be had of ``want``; the names actually entered."""
    if not want:
        return []
    if root:
        if unshare(want):
            return list(want)
        return [n for n in want if unshare([n])]
    cand = ["user"] + [n for n in want if n != "mnt"]  # unprivileged: a user namespace makes the others
    return cand if len(cand) > 1 and unshare(cand) else []


def _bind(fd, target, isdir, readonly):
    if isdir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    if readonly:
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.close(fd)


def make_mounts(cfg, pidns):
    """In the new mount namespace: everything read-only, private tmpfs scratch places, the entries of
    ``cfg["keep"]``/``cfg["expose"]`` bound back read-only, the work directory read-write, a new /proc.
    Returns what was done (for the report); raises OSError."""
    workdir = cfg["workdir"]
    mounts = {}
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # open everything first: the tmpfs mounts below hide the originals
    wfd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
    expose = [(anc, [(ent, os.open(ent, os.O_PATH), os.path.isdir(ent)) for ent in ents])
              for anc, ents in cfg["expose"]]
    keep = [(p, os.open(p, os.O_PATH), os.path.isdir(p)) for p in cfg["keep"]]

    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    attr = MountAttr(1, 0, 0, 0)  # MOUNT_ATTR_RDONLY, recursively (AT_RECURSIVE 0x8000) from /
    nr = MOUNT_SETATTR.get(os.uname().machine)
    mounts["readonly_root"] = bool(nr) and libc.syscall(
        nr, ctypes.c_int(-100), b"/", ctypes.c_uint(0x8000), ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr))) == 0
    mounts["private_tmp"] = []
    for d in PRIVATE_TMP:
        if os.path.isdir(d) and not os.path.islink(d):
            mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['tmpfs_mb']}m,mode=1777")
            mounts["private_tmp"].append(d)
    mounts["kept_under_private_tmp"] = []
    for ent, efd, isdir in keep:  # the interpreter / venv when it lives under a private dir
        _bind(efd, ent, isdir, readonly=True)
        mounts["kept_under_private_tmp"].append(ent)
    mounts["exposed"] = []
    for anc, entries in expose:  # e.g. /root (0700) hidden, /root/.pyenv bound back
        mount("tmpfs", anc, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
        for ent, efd, isdir in entries:
            _bind(efd, ent, isdir, readonly=False)
            mounts["exposed"].append(ent)
        mount(None, anc, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.makedirs(workdir, exist_ok=True)
    mount(f"/proc/self/fd/{wfd}", workdir, None, MS_BIND)
    mount(None, workdir, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
    os.close(wfd)
    if pidns:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        mounts["private_proc"] = True
    return mounts


def become_program(cfg, active, root, exec_program):
    """In the program process: rlimits, uid, seccomp, cwd; then ``execve`` the interpreter or (zygote
    path) return whether the program needs the audit hook that stands in for a network namespace."""
    for name, soft, hard in cfg["rlimits"]:
        resource.setrlimit(getattr(resource, name), (soft, hard))
    switch = root and cfg["uid"] is not None
    if switch:
        os.setgroups([])
        os.setgid(cfg["gid"])
        os.setuid(cfg["uid"])
    if cfg.get("deny_keyrings") and not deny_keyrings():
        raise OSError("could not install the seccomp filter that denies the kernel keyrings")
    os.chdir(cfg["workdir"])
    hook = "net" not in active and cfg["hook_net"]
    need = [(p, os.R_OK | os.X_OK) for p in cfg["need"]] + ([(cfg["net_hook"], os.R_OK)] if hook else [])
    for path, mode in need:  # what execve would check: can this uid reach the interpreter (and the hook)?
        if not os.access(path, mode):
            raise PermissionError(13, "Permission denied", path)
    if exec_program:
        os.set_inheritable(cfg["status_fd"], False)
        argv = list(cfg["argv"])
        if hook:  # python -s -P -B nethook.py main.py
            argv[-1:-1] = [cfg["net_hook"]]
        os.execve(argv[0], argv, cfg["env"])
    if switch:
        libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # which execve would have restored
    os.closerange(3, max(3, os.sysconf("SC_OPEN_MAX")))  # the status pipe, and anything else
    return hook


def _kill_leftovers():
    """Without a PID namespace: the init (a child subreaper) kills and reaps what the program left."""
    import time

    for _ in range(300):
        kids = set()
        try:
            for tid in os.listdir("/proc/self/task"):
                with open(f"/proc/self/task/{tid}/children") as f:
                    kids.update(int(x) for x in f.read().split())
        except OSError:
            pass
        if not kids:
            return
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


def launch(cfg, exec_program):
    status_fd = cfg["status_fd"]

    def report(**kw):
        try:
            os.write(status_fd, (to_json(kw) + "\n").encode())
        except OSError:
            pass

    root = os.geteuid() == 0
    active = enter_namespaces(cfg["want_ns"], root)
    lr, lw = os.pipe()
    pid = os.fork()
    if pid:  # ---- the launcher: waits for the init, then exits (the PID namespace dies with the init)
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
    libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    if select.select([lr], [], [], 0)[0]:
        os._exit(0)  # the launcher died before prctl
    os.close(lr)
    pidns = "pid" in active
    if not pidns:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    mounts = {}
    if root and "mnt" in active and cfg["mounts"]:
        try:
            mounts = make_mounts(cfg, pidns)
        except OSError as e:
            report(ns=active, mount_error=str(e))
            os._exit(0)
    report(ns=active, mounts=mounts)
    p = os.fork()
    if p == 0:  # ---- the program process
        try:
            return become_program(cfg, active, root, exec_program)
        except BaseException as e:
            report(error=f"could not start the program: {e!r}")
        os._exit(127)
    status = ru = None
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
        _kill_leftovers()
    cpu = (ru.ru_utime + ru.ru_stime) if ru is not None else None
    if status is None:
        report(error="lost the program process")
    elif os.WIFEXITED(status):
        report(exit=os.WEXITSTATUS(status), cpu=cpu)
    else:
        report(signal=os.WTERMSIG(status), cpu=cpu)
    os._exit(0)


if __name__ == "__main__":
    import json

    launch(json.loads(sys.argv[1]), True)
