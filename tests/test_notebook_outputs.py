"""A stage whose outputs cannot be written is refused before it runs, naming the path (z1.notebook)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from z1 import notebook

REPO = Path(__file__).resolve().parents[1]


def test_stage_outputs_come_from_dvc_yaml():
    outs = notebook.stage_outputs("notebooks/04_evaluation.ipynb", "ci", REPO / "dvc.yaml")
    assert Path("results/ci/metrics/evaluation.json") in outs and Path("results/ci/curves/scaling.csv") in outs
    assert Path("generations/ci") in notebook.stage_outputs("notebooks/03_inference.ipynb", "ci", REPO / "dvc.yaml")
    assert notebook.stage_outputs("notebooks/99_none.ipynb", "ci", REPO / "dvc.yaml") == []


def test_missing_outputs_are_checked_at_their_nearest_existing_parent(tmp_path):
    notebook.check_writable([tmp_path / "results" / "ci" / "metrics" / "evaluation.json"])  # tmp_path: writable


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root to make a read-only mount")
def test_read_only_results_refuse_the_stage_before_it_runs(tmp_path):
    """The real entry point (`python -m z1.notebook`, the stage command) on a results tree mounted
    read-only (root ignores file modes, so a read-only mount stands in for another user's files)."""
    shutil.copy2(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    metrics = tmp_path / "results" / "ci" / "metrics"
    metrics.mkdir(parents=True)
    (metrics / "evaluation.json").write_text("{}")
    script = (f"mount --bind {tmp_path / 'results'} {tmp_path / 'results'} && "
              f"mount -o remount,bind,ro {tmp_path / 'results'} && "
              f"exec {sys.executable} -m z1.notebook {REPO / 'notebooks' / '04_evaluation.ipynb'} --profile ci")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "is not writable by uid 0" in proc.stderr and "nothing was run" in proc.stderr, proc.stderr
    assert (metrics / "evaluation.json").read_text() == "{}"  # nothing lost
    assert not (tmp_path / "results" / "ci" / "notebooks").exists()


def _stage_project(tmp_path: Path) -> Path:
    """A project directory with the repository's dvc.yaml, params.yaml and notebooks, and no models."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    return tmp_path


def _stage_command(cwd: Path, notebook: str) -> subprocess.CompletedProcess:
    """The inference stage's command as dvc.yaml runs it (scripts/py picks the project's interpreter)."""
    return subprocess.run([str(REPO / "scripts" / "py"), "-m", "z1.notebook", f"notebooks/{notebook}",
                           "--profile", "ci"], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_inference_stage_names_a_missing_or_truncated_model_and_its_remedy(tmp_path, ci_model_dir):
    """Finding 5 of the reliability issue, through the stage command: no hub "Repo id" error, no parser
    error without a file; the message names the directory or file and the command that restores it,
    and no generation file is written."""
    project = _stage_project(tmp_path)
    proc = _stage_command(project, "03_inference.ipynb")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Repo id" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]  # one line that says it all, after the cell's traceback
    assert last.startswith("error: notebooks/03_inference.ipynb failed on profile ci at cell"), last
    assert "have no model directory" in last and "dvc repro assets" in last, last

    base = project / "models" / "ci" / "pretrained" / "base"
    base.mkdir(parents=True)
    for f in ci_model_dir.iterdir():
        if f.suffix != ".safetensors":
            (base / f.name).symlink_to(f)
    weights = (ci_model_dir / "model.safetensors").read_bytes()
    (base / "model.safetensors").write_bytes(weights[:1 << 20])  # a copy cut short, as by a full disk
    (project / "models" / "ci" / "sft").symlink_to(ci_model_dir)  # complete: the base model is checked first
    proc = _stage_command(project, "03_inference.ipynb")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{Path('models/ci/pretrained/base/model.safetensors')}: truncated or padded" in proc.stderr, proc.stderr
    assert "dvc checkout models/ci/pretrained/base" in proc.stderr and "dvc repro -f assets" in proc.stderr
    assert not list(project.glob("generations/**/*.jsonl"))


def _blocked_ancestor(path: Path) -> Path | None:
    """The outermost directory above ``path`` that other users cannot enter (e.g. /root, mode 700)."""
    for parent in reversed(path.parents):
        if not parent.stat().st_mode & 0o001:
            return parent
    return None


NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("setpriv")),
                    reason="needs root (to become another user) and util-linux's unshare and setpriv")
def test_a_non_root_user_in_its_own_clone_and_venv_is_refused_on_read_only_results():
    """A real non-root run: uid 65534 with its own clone and its own venv (layered on this one's packages)
    runs the evaluation stage's command against a results directory owned by root. The stage is refused
    before it runs, naming the directory, and root's results are untouched."""
    base_prefix = Path(os.path.realpath(sys.base_prefix))
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    blocked = _blocked_ancestor(base_prefix)
    base = Path(tempfile.mkdtemp(prefix="z1-nonroot-", dir="/tmp"))
    try:
        base.chmod(0o755)
        clone = base / "clone"
        subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)], check=True, timeout=120)
        shutil.chown(base, NOBODY, NOBODY)
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(clone)], check=True)
        metrics = clone / "results" / "ci" / "metrics"  # another user's results: root's, mode 755/644
        metrics.mkdir(parents=True)
        for d in (clone / "results", clone / "results" / "ci", metrics):
            shutil.chown(d, 0, 0)
            d.chmod(0o755)
        (metrics / "evaluation.json").write_text('{"pass@1": 0.5}\n')
        (base / "shared-site").mkdir()
        # Inside a private mount namespace (nothing here is visible outside it): this interpreter's prefix
        # made reachable at its own path (its directory, e.g. /root, is mode 700), this venv's packages
        # read-only; then, as uid 65534: a venv of its own, and the stage command from dvc.yaml.
        reach = ""
        if blocked is not None:
            reach = (f"mkdir -p {base}/prefix && mount --bind {base_prefix} {base}/prefix && "
                     f"mount -t tmpfs -o mode=755 tmpfs {blocked} && mkdir -p {base_prefix} && "
                     f"mount --bind {base}/prefix {base_prefix} && ")
        as_nobody = f"setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups --inh-caps=-all"
        py = base_prefix / "bin" / Path(os.path.realpath(sys.executable)).name
        venv_site = clone / ".venv" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
        script = (f"mount --make-rprivate / && {reach}"
                  f"mount --bind -o ro {site} {base}/shared-site && "
                  f"{as_nobody} {py} -m venv --without-pip {clone}/.venv && "
                  f"{as_nobody} sh -c 'printf \"%s\\n%s\\n\" {base}/shared-site {clone}/lib > {venv_site}/deps.pth' && "
                  f"cd {clone} && exec {as_nobody} env -u Z1_PYTHON HOME={base} scripts/py -m z1.notebook "
                  "notebooks/04_evaluation.ipynb --profile ci")
        proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert f"{Path('results/ci')} is not writable by uid {NOBODY} (owner uid 0, mode 0o755" in proc.stderr, \
            proc.stderr
        assert "nothing was run" in proc.stderr
        assert (metrics / "evaluation.json").read_text() == '{"pass@1": 0.5}\n'  # nothing lost
        assert sorted(p.name for p in (clone / "results" / "ci").iterdir()) == ["metrics"]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_stage_kernels_get_text_progress_bars_and_relative_warning_paths(tmp_path):
    """z1.notebook sets Z1_STAGE_KERNEL=1 for the papermill kernel; importing z1 there makes tqdm.auto
    the text tqdm (an executed notebook keeps a text bar's final state; a widget bar would be saved at
    0 %) and names a warning's file relative to the project or to site-packages. Without the variable
    (JupyterLab) both are left alone."""
    import subprocess
    import sys

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "noisy.py").write_text("import warnings\n\ndef warn():\n    warnings.warn('careful')\n")
    probe = ("import sys; sys.path.insert(0, '.'); import z1, tqdm.auto, tqdm.std, pkg.noisy; "
             "print(tqdm.auto.tqdm is tqdm.std.tqdm); pkg.noisy.warn()")
    env = {k: v for k, v in os.environ.items() if k != "Z1_STAGE_KERNEL"}

    def run(**extra):
        return subprocess.run([sys.executable, "-c", probe], env={**env, **extra}, cwd=tmp_path, capture_output=True,
                              text=True, check=True)

    plain, stage = run(), run(Z1_STAGE_KERNEL="1")
    assert (plain.stdout.strip(), stage.stdout.strip()) == ("False", "True")
    assert f"{tmp_path}/pkg/noisy.py:4: UserWarning: careful" in plain.stderr
    assert stage.stderr.startswith("pkg/noisy.py:4: UserWarning: careful\n  warnings.warn('careful')")
    assert str(tmp_path) not in stage.stderr


def test_executed_notebooks_name_files_relative_to_the_project_or_site_packages(tmp_path):
    """What a stage's subprocesses print (vLLM's engine process warns with its own absolute paths) and
    tracebacks reach the executed notebook unfiltered by the kernel's warning hook; z1.notebook
    rewrites the saved outputs so committed notebooks name no machine's directories."""
    import site
    import subprocess
    import sys

    import nbformat

    sp = sorted(site.getsitepackages(), key=len)[-1]
    nb = nbformat.v4.new_notebook()
    (tmp_path / "child.py").write_text(f"import sys\nprint({sp!r} + '/vllm/x.py:1: FutureWarning', file=sys.stderr)\n")
    nb.cells = [nbformat.v4.new_code_cell("profile = None", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import os, subprocess, sys\n"
                                          "child = subprocess.run([sys.executable, 'child.py'], capture_output=True, text=True)\n"
                                          "print(child.stderr, file=sys.stderr)\n"
                                          "print(os.path.abspath('lib/z1/y.py'))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    code = "from z1 import notebook; notebook.run('tiny.ipynb', 'ci', results_root='res', cwd='.', progress=False)"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True, timeout=300)
    text = (tmp_path / "res" / "ci" / "notebooks" / "tiny.ipynb").read_text()
    assert "<site-packages>/vllm/x.py:1: FutureWarning" in text and "lib/z1/y.py" in text
    assert str(tmp_path) not in text and sp not in text
    from z1 import notebook

    assert notebook.relativize_outputs(tmp_path / "res" / "ci" / "notebooks" / "tiny.ipynb", tmp_path) is False  # idempotent


def test_stage_output_streams_live_when_progress_is_on(tmp_path):
    """Under `dvc repro` in a terminal (or with Z1_PROGRESS=1) the kernel's output reaches the
    terminal as it is written (the engines' and the grader's bars); without it only papermill runs
    silently. The executed notebook keeps the output either way."""
    import subprocess
    import sys

    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = None", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import sys\nprint('out-from-kernel')\nprint('err-from-kernel', file=sys.stderr)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    code = ("import sys; from z1 import notebook; "
            "notebook.run('tiny.ipynb', 'ci', results_root='res', cwd='.', progress=sys.argv[1] == '1')")

    def run(flag: str):
        return subprocess.run([sys.executable, "-c", code, flag], cwd=tmp_path, capture_output=True, text=True,
                              check=True, timeout=300)

    live, quiet = run("1"), run("0")
    assert "out-from-kernel" in live.stdout and "err-from-kernel" in live.stderr
    assert "from-kernel" not in quiet.stdout + quiet.stderr
    assert "out-from-kernel" in (tmp_path / "res" / "ci" / "notebooks" / "tiny.ipynb").read_text()


def test_committed_results_name_no_absolute_path_of_the_machine_that_ran_them():
    """Results travel with the repository: a path like /home/<user>/... or /work/... in a committed
    metrics file, benchmark record, table or executed notebook names a machine that is not the
    reader's (stages write relative paths; z1.notebook.relativize_outputs rewrites the notebooks)."""
    import re

    absolute = re.compile(r"""(^|["'( =])/(work|home|tmp|root|Users|private|mnt|srv)/""", re.M)
    files = subprocess.run(["git", "ls-files", "results"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    assert files, "no committed results"
    offenders = [f for f in files if f.endswith((".json", ".csv", ".md", ".ipynb", ".tsv", ".txt"))
                 and absolute.search((REPO / f).read_text(errors="replace"))]
    assert offenders == []
