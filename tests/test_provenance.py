"""z1.provenance.git_revision: "-dirty" means code, params or notebooks differ from the commit; the
pipeline's own outputs (dvc.lock, results/) rewritten by `dvc repro` and a switch of the active profile
do not make a run dirty."""

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


def test_switching_the_active_profile_alone_is_not_dirty(tmp_path):
    (tmp_path / "params.yaml").write_text("# profiles\nprofile: mini\nmini:\n  x: 1\nci:\n  x: 2\n")
    (tmp_path / "lib.py").write_text("0\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "c")
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True,
                         text=True).stdout.strip()
    revision = provenance.git_revision.__wrapped__
    (tmp_path / "params.yaml").write_text("# profiles\nprofile: ci\nmini:\n  x: 1\nci:\n  x: 2\n")
    assert revision(str(tmp_path)) == rev  # `make profile P=ci`: the result records its profile
    (tmp_path / "params.yaml").write_text("# profiles\nprofile: ci\nmini:\n  x: 1\nci:\n  x: 3\n")
    assert revision(str(tmp_path)) == f"{rev}-dirty"  # a setting changed too
    (tmp_path / "params.yaml").write_text("# profiles\nprofile: ci\nmini:\n  x: 1\nci:\n  x: 2\n")
    (tmp_path / "lib.py").write_text("1\n")
    assert revision(str(tmp_path)) == f"{rev}-dirty"  # code changed beside the switch
