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


def executed_path(notebook: str | Path, profile: str, results_root: str | Path = "results") -> Path:
    return Path(results_root) / profile / "notebooks" / Path(notebook).name


def run(notebook: str | Path, profile: str, *, results_root: str | Path = "results", cwd: str | Path = ".",
        progress: bool = True) -> Path:
    import papermill

    config.use_offline_defaults()
    out = executed_path(notebook, profile, results_root)
    out.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(notebook), str(out), parameters={"profile": profile}, kernel_name="python3",
                               cwd=str(cwd), progress_bar=progress, log_output=False)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m z1.notebook", description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("--profile", default=None, help="default: the active profile of params.yaml")
    args = parser.parse_args(argv)
    profile = args.profile or config.active_profile()
    try:
        out = run(args.notebook, profile, progress=sys.stderr.isatty() or bool(os.environ.get("Z1_PROGRESS")))
    except Exception as e:  # papermill's PapermillExecutionError names the failing cell
        print(f"error: {args.notebook} failed on profile {profile}: {e}", file=sys.stderr)
        return 1
    print(f"executed {args.notebook} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
