"""The README's results match the committed results: the "ours beside the paper" table is exactly
what `tables.comparison_markdown` renders from `results/mini/tables/main_table.csv`, every image it
embeds exists, and the mini run time it states is the one `benchmarks/bench_repro.py` measured."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from z1 import tables

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _block(name: str) -> str:
    m = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", README, re.S)
    assert m, f"README has no {name} block"
    return m.group(1)


def test_readme_comparison_table_is_rendered_from_the_committed_main_table():
    table = pd.read_csv(REPO / "results" / "mini" / "tables" / "main_table.csv")
    assert _block("ours-vs-paper") == tables.comparison_markdown(table)


def test_readme_cpu_full_tables_are_rendered_from_its_committed_results():
    """The cpu-full section's base-vs-fine-tuned and difficulty tables are exactly what
    `tables.model_comparison_markdown` / `tables.difficulty_markdown` render from its CSVs."""
    results = REPO / "results" / "cpu-full"
    paired = pd.read_csv(results / "paired.csv")
    assert _block("cpu-full-models") == tables.model_comparison_markdown(paired, method="stw")
    difficulty = pd.read_csv(results / "difficulty.csv")
    assert _block("cpu-full-difficulty") == tables.difficulty_markdown(difficulty, method="stw", window=256)


def test_comparison_markdown_gap_and_missing_paper_numbers():
    row = {"model": "sft", "benchmark": "math500", "benchmark_label": "math500", "method": "stw", "window": 256,
           "problems": 6, "pass_at_1": 16.67, "ci_low": 0.0, "ci_high": 50.0, "avg_thinking_tokens": 200.5,
           "paper_model": "Z1-7B", "paper_benchmark": "math500", "paper_pass_at_1": 76.4,
           "paper_avg_thinking_tokens": 1186.0}
    md = tables.comparison_markdown(pd.DataFrame([row, {**row, "model": "base", "paper_pass_at_1": float("nan"),
                                                        "paper_model": "Qwen2.5-Coder-7B-Instruct"}]))
    lines = md.splitlines()
    assert lines[2] == "| sft | math500 | 16.67 [0.00, 50.00] | 200.5 | Z1-7B on MATH500 | 76.4 | 1186 | -59.7 |"
    assert lines[3] == "| base | math500 | 16.67 [0.00, 50.00] | 200.5 | – | – | – | – |"
    with pytest.raises(ValueError, match="lacks columns"):
        tables.comparison_markdown(pd.DataFrame([{"model": "sft"}]))


def test_every_embedded_image_exists():
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert len(images) >= 5
    missing = [p for p in images if not (REPO / p).is_file()]
    assert not missing, missing


def test_stated_mini_run_time_is_the_measured_one():
    measured = json.loads((REPO / "results" / "benchmarks" / "repro_mini.json").read_text())
    stated = re.search(r"<!-- mini-time -->([^<]+)<!-- /mini-time -->", README)
    assert stated, "README does not state the mini run time"
    minutes, seconds = divmod(round(measured["total_s"]), 60)
    assert stated.group(1).strip() == f"{minutes} min {seconds} s"
    assert measured["cold"] and measured["up_to_date_after"]


def test_pyproject_declares_every_required_package():
    """`pip install -e .[cpu,assets,dev]` names what the requirements files install (the lock pins them)."""
    import re
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    def name(spec: str) -> str:
        return re.split(r"[<>=!~\[; ]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")

    declared = {name(d) for d in project["dependencies"]}
    declared |= {name(d) for extra in project["optional-dependencies"].values() for d in extra}
    for req in ("requirements.txt", "requirements-gpu.txt", "requirements-assets.txt"):
        lines = [ln.split("#")[0].strip() for ln in (REPO / req).read_text().splitlines()]
        missing = {name(ln) for ln in lines if ln and not ln.startswith("-")} - declared
        assert not missing, f"{req}: {sorted(missing)} not declared in pyproject.toml"


def test_environment_yml_is_an_interpreter_for_the_lock():
    """conda users get the lock through `make setup` (--no-deps), so environment.yml must not carry a
    second package list that could drift from it; its Python is the one the lock was resolved for."""
    import sys

    import yaml

    env = yaml.safe_load((REPO / "environment.yml").read_text())
    deps = env["dependencies"]
    assert not [d for d in deps if isinstance(d, dict)], "a pip section would install without --no-deps"
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    assert python == f"python={sys.version_info.major}.{sys.version_info.minor}"  # the venv's, which runs the lock
    assert "PYTHON=python make setup" in (REPO / "environment.yml").read_text()
    assert "PYTHON=python make setup" in README
