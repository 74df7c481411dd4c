"""Execute one pipeline notebook with papermill: the command behind each notebook stage of dvc.yaml.

    python -m z1.notebook notebooks/03_inference.ipynb --profile ci
        -> results/ci/notebooks/03_inference.ipynb (executed copy, committed for reading on the page)

The notebook runs on the `python3` kernel with the repository root as working directory and the
offline environment set; its tagged `parameters` cell receives `profile`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from z1 import config


class NotWritable(PermissionError):
    """A stage output cannot be written: the stage is refused before it runs, so nothing is lost."""


def stage_outputs(notebook: str | Path, profile: str, dvc_yaml: str | Path = "dvc.yaml") -> list[Path]:
    """The outs, metrics and plots ``dvc.yaml`` declares for the stage that runs ``notebook``."""
    import yaml

    path = Path(dvc_yaml)
    if not path.exists():
        return []
    stages = (yaml.safe_load(path.read_text()) or {}).get("stages", {})
    name = Path(notebook).name
    out: list[Path] = []
    for stage in stages.values():
        if name not in str(stage.get("cmd", "")):
            continue
        for key in ("outs", "metrics", "plots"):
            for entry in stage.get(key) or []:
                target = next(iter(entry)) if isinstance(entry, dict) else entry
                out.append(Path(str(target).replace("${profile}", profile)))
    return out


def check_writable(paths: list[Path]) -> None:
    """Raise :class:`NotWritable` naming the first output (or its nearest existing parent) this user
    cannot write: checked before the stage starts, so a read-only results tree costs nothing."""
    for path in paths:
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        # an existing file is rewritten in place or replaced (DVC removes outs first): it and its directory
        targets = [probe, probe.parent] if probe.is_file() else [probe]
        for target in targets:
            if os.access(target, os.W_OK | (os.X_OK if target.is_dir() else 0)):
                continue
            st = target.stat()
            raise NotWritable(f"{target} is not writable by uid {os.geteuid()} (owner uid {st.st_uid}, mode "
                              f"{oct(st.st_mode & 0o777)}; needed for {path}); nothing was run: fix its "
                              "permissions, run as its owner, or work in your own clone")


def executed_path(notebook: str | Path, profile: str, results_root: str | Path = "results") -> Path:
    return Path(results_root) / profile / "notebooks" / Path(notebook).name


def _replace_paths(value, pairs: list[tuple[str, str]]):
    if isinstance(value, str):
        for old, new in pairs:
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_replace_paths(v, pairs) for v in value]
    if isinstance(value, dict):
        return {k: _replace_paths(v, pairs) for k, v in value.items()}
    return value


def relativize_outputs(path: str | Path, root: str | Path = ".") -> bool:
    """Rewrite the outputs of the executed notebook ``path`` so that they name files relative to the
    project ``root`` (``lib/z1/...``) or to site-packages (``<site-packages>/vllm/...``): committed
    notebooks then carry no machine's absolute paths. The kernel's own warnings are already relative
    (``z1._stage_kernel``); this catches what its subprocesses print (vLLM's engine process) and
    tracebacks. Returns whether anything changed."""
    import nbformat

    from z1 import site_roots

    nb = nbformat.read(str(path), as_version=4)
    pairs = [(d.rstrip(os.sep) + os.sep, "<site-packages>/") for d in site_roots()]
    pairs.append((str(Path(root).resolve()) + os.sep, ""))
    changed = False
    for cell in nb.cells:
        if cell.get("outputs"):
            outputs = _replace_paths(cell["outputs"], pairs)
            if outputs != cell["outputs"]:
                cell["outputs"] = nbformat.from_dict(outputs)
                changed = True
    if changed:  # written as papermill writes it (no newline at the end), so only the paths differ
        Path(path).write_text(nbformat.writes(nb), encoding="utf-8")
    return changed


def run(notebook: str | Path, profile: str, *, results_root: str | Path = "results", cwd: str | Path = ".",
        progress: bool = True) -> Path:
    import papermill

    config.use_offline_defaults()
    out = executed_path(notebook, profile, results_root)
    check_writable([out.parent, *stage_outputs(notebook, profile, Path(cwd) / "dvc.yaml")])
    out.parent.mkdir(parents=True, exist_ok=True)
    os.environ["Z1_STAGE_KERNEL"] = "1"  # the kernel inherits it: text progress bars, relative paths (z1._stage_kernel)
    # with progress on (a terminal, or Z1_PROGRESS=1), the kernel's own output streams live (the engines'
    # and the grader's bars under `dvc repro`); the executed notebook keeps it either way
    streams = {"stdout_file": sys.stdout, "stderr_file": sys.stderr} if progress else {}
    try:
        papermill.execute_notebook(str(notebook), str(out), parameters={"profile": profile}, kernel_name="python3",
                                   cwd=str(cwd), progress_bar=progress, log_output=False, **streams)
    finally:
        if out.exists():  # papermill writes the executed copy also when a cell fails
            relativize_outputs(out, cwd)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m z1.notebook", description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("--profile", default=None, help="default: the active profile of params.yaml")
    args = parser.parse_args(argv)
    profile = args.profile or config.active_profile()
    try:
        out = run(args.notebook, profile, progress=sys.stderr.isatty() or bool(os.environ.get("Z1_PROGRESS")))
    except NotWritable as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        ename, evalue = getattr(e, "ename", None), getattr(e, "evalue", None)
        if ename is None:  # not a cell's error (kernel start, papermill itself)
            print(f"error: {args.notebook} failed on profile {profile}: {e}", file=sys.stderr)
            return 1
        # papermill's PapermillExecutionError: the cell's traceback first, then one line that says it all
        print(str(e).rstrip(), file=sys.stderr)
        print(f"error: {args.notebook} failed on profile {profile} at cell In [{e.exec_count}] (executed copy: "
              f"{executed_path(args.notebook, profile)}): {ename}: {evalue}", file=sys.stderr)
        return 1
    print(f"executed {args.notebook} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
