"""z1.provenance.git_revision: "-dirty" means code, params or notebooks differ from the commit; the
pipeline's own outputs (dvc.lock, results/) rewritten by `dvc repro` do not make a run dirty."""

import subprocess

from z1 import provenance


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_dirty_means_the_code_not_the_pipelines_outputs(tmp_path):
    for rel in ("lib/z1/x.py", "params.yaml", "dvc.lock", "results/mini/metrics/a.json", "notebooks/01.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("0\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "c")
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True,
                         text=True).stdout.strip()
    revision = provenance.git_revision.__wrapped__  # uncached
    assert revision(str(tmp_path)) == rev
    (tmp_path / "dvc.lock").write_text("1\n")  # what dvc repro rewrites while it runs
    (tmp_path / "results/mini/metrics/a.json").write_text("1\n")
    (tmp_path / "untracked.txt").write_text("new\n")
    assert revision(str(tmp_path)) == rev
    assert revision(str(tmp_path / "results")) == rev  # the same from a subdirectory
    for rel in ("lib/z1/x.py", "params.yaml", "notebooks/01.ipynb"):
        (tmp_path / rel).write_text("1\n")
        assert revision(str(tmp_path)) == f"{rev}-dirty", rel
        _git(tmp_path, "checkout", "-q", "--", rel)
    assert revision(str(tmp_path)) == rev
