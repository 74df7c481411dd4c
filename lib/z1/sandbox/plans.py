"""What the sandbox's mount namespace must show of the host, and the program's environment.

The sandbox uid must reach the interpreter, its prefixes, ``sys.path`` and the sandbox's own scripts.
Two cases need mounts (computed once, in the parent, and carried out by ``launcher.make_mounts``):

* *keep*: such a path lies under a private scratch place (e.g. a venv in a checkout under ``/tmp``,
  as CI may use), which the sandbox hides behind a fresh tmpfs: it is bind-mounted back read-only;
* *expose*: such a path lies below a directory the sandbox uid cannot traverse (a pyenv Python under
  a 0700 ``/root``): a tmpfs hides that directory and only the needed entries are bound back, so the
  rest of e.g. ``/root`` stays invisible.
"""

from __future__ import annotations

import functools
import os
import sys

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
# Scratch places that get a private empty tmpfs inside the sandbox (launcher.PRIVATE_TMP).
PRIVATE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def script(name: str) -> str:
    """Path of one of the sandbox's own scripts (``launcher``, ``zygote``, ``nethook``, ``probe``)."""
    return os.path.join(PACKAGE_DIR, name + ".py")


def program_env(home: str) -> dict[str, str]:
    """The program's whole environment: nothing from the parent."""
    return {
        "PATH": SAFE_PATH,
        "LANG": "C.UTF-8",
        "HOME": home,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


def symlink_chain(path: str) -> list[str]:
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


def under_private(path: str) -> bool:
    return any(path == d or path.startswith(d + "/") for d in PRIVATE_DIRS)


def interpreter_paths() -> set[str]:
    """Every path a program needs: the interpreter's symlink chain, prefixes, sys.path entries, and
    this package (its network hook runs as the program)."""
    needed = set(symlink_chain(sys.executable))
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, PACKAGE_DIR, *sys.path):
        if p and os.path.isabs(p) and os.path.exists(p):
            needed.add(os.path.realpath(p))
            needed.add(os.path.abspath(p))
    return needed


def others_may_enter(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & 0o001)
    except OSError:
        return False


@functools.lru_cache(maxsize=1)
def keep_plan() -> list[str]:
    """Needed paths under a private scratch dir, bound back read-only after the private tmpfs hides
    them. Nested entries are covered by their ancestor."""
    under = sorted({p for p in interpreter_paths() if under_private(p) and p not in PRIVATE_DIRS})
    dirs = [p if os.path.isdir(p) else os.path.dirname(p) for p in under]
    # a directory the sandbox uid may not enter (e.g. a `mktemp -d` checkout, mode 0700, that is on
    # sys.path because pytest put its rootdir there) is never bound whole: its bind mount would keep
    # mode 0700 and hide everything below it; the needed entries inside are listed on their own and
    # their ancestors are recreated traversable in the private tmpfs
    dirs = sorted({p for p in dirs if others_may_enter(p)})
    return [p for p in dirs if not any(p != q and p.startswith(q + "/") for q in dirs)]


@functools.lru_cache(maxsize=1)
def expose_plan() -> list[tuple[str, list[str]]]:
    """``[(blocking_dir, [entries to bind-mount under it])]`` for needed paths below directories the
    sandbox uid cannot traverse."""
    needed = {p for p in interpreter_paths() if not under_private(p)}  # the rest is keep_plan's
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
