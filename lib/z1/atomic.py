"""Writes a reader never sees half done: a file or a directory is written beside its target and
renamed into place (``os.replace`` is atomic on one filesystem), so a kill leaves the old version or
the new one, never a mix.

    atomic.write_text(path, text)            # also write_bytes; fsync=True to survive a power cut
    atomic.replace_dir(finished_tmp, out)    # swap a completed directory in, the old one removed
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = False) -> Path:
    path = Path(path)
    tmp = _sibling(path, "tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str, *, fsync: bool = False) -> Path:
    return write_bytes(path, text.encode("utf-8"), fsync=fsync)


def replace_dir(tmp: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Make the finished directory ``tmp`` be ``out_dir``; a previous ``out_dir`` is moved aside first
    and removed after the swap."""
    tmp, out_dir = Path(tmp), Path(out_dir)
    if out_dir.exists():
        old = _sibling(out_dir, "old")
        os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)
    return out_dir
