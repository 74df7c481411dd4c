"""The zygote: a long-lived interpreter per worker that forks sandboxes (run as a script).

Started as ``python -s -P -B zygote.py <fd>`` -- the program's interpreter, started the way the Popen
path starts a program (same flags, the same scrubbed environment with ``PYTHONHASHSEED=0``) -- it
imports only what the launcher needs and never runs program code itself.  Per job it receives a
``marshal``-ed config and four fds (stdin, stdout, stderr, status pipe) over the Unix ``SOCK_SEQPACKET`` socket
``<fd>``, forks the launcher (a new session), replies ``P<pid>``, waits until that launcher has exited
*without reaping it* (so its pid, the sandbox's process group id, cannot be recycled while the parent
may still kill that group), replies ``X``, and reaps it only after the parent's ``A``.  ``E<why>``
answers a job it could not fork.

In the launcher's program process ``launch()`` returns and :func:`_z1_child` turns the process into
what ``python -s -P -B main.py`` would have been (environment, ``sys.argv``, a fresh ``__main__``,
``sys.modules`` without what the zygote imported); then main.py runs from this script's top level
with the interpreter's own file runner, so that exceptions, ``SystemExit`` and ``KeyboardInterrupt``
end the interpreter exactly as they end a script.  Every name of this script is deleted first.
"""

import sys

_z1_modules = set(sys.modules)
import _socket  # noqa: E402
import ctypes  # noqa: E402
import marshal  # noqa: E402
import os  # noqa: E402

_z1_env0 = dict(os.environ)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import launcher  # noqa: E402
import nethook  # noqa: E402

del sys.path[0]


def _z1_serve(fd):
    """Serve jobs until the parent hangs up; returns (config, fds, zygote pid) in a forked launcher."""
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
    launcher.libc.prctl(launcher.PR_SET_PDEATHSIG, launcher.SIGKILL, 0, 0, 0)  # die with the zygote
    if os.getppid() != zygote or len(fds) != 4:
        os._exit(0)
    for target, f in zip((0, 1, 2), fds[:3], strict=True):
        os.dup2(f, target)
        os.close(f)
    cfg["status_fd"] = fds[3]
    hook = launcher.launch(cfg, False)
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
        sys.addaudithook(nethook.no_net)
    path = os.path.join(cfg["workdir"], "main.py")
    fp = launcher.libc.fopen(os.fsencode(path), b"rb")  # as `python main.py` opens it: as the program's uid
    if not fp:
        e = ctypes.get_errno()
        sys.stderr.write(f"{cfg['argv'][0]}: can't open file {path!r}: [Errno {e}] {os.strerror(e)}\n")
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
    if (_z1_k[:2] != "__" or _z1_k in ("__file__", "__cached__", "__doc__")) and _z1_k != "_z1_run":
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
