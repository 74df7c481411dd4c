"""z1.stages.sft / inference / evaluation / figures: the stage logic the notebooks call, wired to the profile's paths."""

from pathlib import Path

import pandas as pd

from z1.paths import Paths


def _cfg():
    return {"name": "ci", "compute": {"dtype": "float32"}, "assets": {"models": {"base": {"id": "m"}}},
            "sft": {"epochs": 1, "learning_rate": 1e-4}, "evaluation": {"bootstrap": 50, "seed": 0, "workers": 1}}


def test_sft_stage_trains_into_the_keyed_checkpoints_and_saves_the_declared_files(tmp_path, monkeypatch):
    from z1 import sft_launch
    from z1.stages import sft as stage

    paths = Paths("ci", root=tmp_path)
    paths.trajectories.parent.mkdir(parents=True)
    paths.trajectories.write_bytes(b"rows")
    base = paths.model("base")
    base.mkdir(parents=True)
    (base / "config.json").write_text("{}")
    calls = {}

    def fake_run(model_dir, data, out, settings):
        calls["run"] = (Path(model_dir), Path(data), Path(out), dict(settings))
        return {"global_step": 3}

    def fake_save(metrics, **kw):
        calls["save"] = (metrics, kw)
        return tmp_path / "log.csv"

    monkeypatch.setattr(sft_launch, "run", fake_run)
    monkeypatch.setattr(sft_launch, "save_results", fake_save)
    metrics, log = stage.run(_cfg(), paths)
    model_dir, data, out, settings = calls["run"]
    assert (model_dir, data, out) == (base, paths.trajectories, paths.sft)
    assert settings["dtype"] == "float32" and settings["learning_rate"] == 1e-4
    # the resume key is the settings (dtype included), the data and the base weights: the same inputs give
    # the same directory, so a killed stage continues its own run
    want = paths.sft_run_checkpoints({"epochs": 1, "learning_rate": 1e-4, "dtype": "float32"}, paths.trajectories, base)
    assert settings["checkpoint_dir"] == str(want)
    assert metrics == {"global_step": 3} and log == tmp_path / "log.csv"
    assert calls["save"][1]["metrics_path"] == paths.metrics / "sft.json"
    assert calls["save"][1]["profile"] == "ci" and calls["save"][1]["base_model"] == {"id": "m"}


def test_evaluation_stage_grades_the_rows_and_writes_every_declared_file(tmp_path, monkeypatch):
    from z1 import evaluation, generations
    from z1.stages import evaluation as stage

    samples = _graded_samples()
    monkeypatch.setattr(generations, "read_generations", lambda path: ["row"])
    monkeypatch.setattr(evaluation, "grade_rows", lambda rows, workers, progress: samples)
    monkeypatch.setattr(evaluation, "generation_provenance", lambda rows: {"rows": len(rows)})
    result = stage.run(_cfg(), Paths("ci", root=tmp_path), progress=False)
    assert set(result.written) == {"metrics", "curves", "samples", "paired", "difficulty", "headline"}
    for path in result.written.values():
        assert Path(path).exists(), path
    assert len(result.summary) == 4  # 2 models x 2 windows
    assert set(result.comparisons["comparison"]) == {"model", "window"}
    assert set(result.difficulty["model"]) == {"base", "sft"}


def _graded_samples():
    return pd.DataFrame({
        "model": ["base"] * 4 + ["sft"] * 4, "benchmark": "math500", "stand_in_for": "", "method": "stw",
        "window": [8, 8, 16, 16] * 2, "problem_id": ["p0", "p1"] * 4, "sample_index": 0,
        "difficulty": [1.0, 2.0] * 4, "correct": [True, False, True, True, False, False, True, True],
        "strict_correct": False, "verdict": "", "thinking_tokens": [8, 8, 9, 16, 8, 8, 10, 16],
        "thinking_tokens_only": 8, "answer_tokens": 3, "window_hit": True, "finished": True, "contest_date": None})


def test_inference_stage_generates_for_every_configured_model_and_summarizes_the_rows(tmp_path, monkeypatch):
    from z1 import inference
    from z1.stages import inference as stage

    paths = Paths("ci", root=tmp_path)
    calls = {}

    def fake_run(cfg, *, model_dirs, out_dir, summary_path):
        calls["run"] = (model_dirs, out_dir, summary_path)
        return {"rows_written": 3, "files": ["a"], "engine_calls": 1, "largest_engine_call": 3, "generated_tokens": 30,
                "prompt_tokens": 9, "cached_prompt_tokens": 0, "generate_s": 1.0, "engine_start_s": 2.0}

    rows = [{"model": "base", "benchmark": "math500", "method": "stw", "window": w,
             "record": {"thinking_tokens": t, "window_hit": t >= w}} for w, t in [(8, 8), (8, 4), (16, 10)]]
    monkeypatch.setattr(inference, "run", fake_run)
    monkeypatch.setattr(inference, "read_generations", lambda path: rows if path == paths.generations else [])
    result = stage.run({**_cfg(), "inference": {"models": {"base": {}, "sft": {}}}}, paths)
    assert calls["run"] == ({"base": paths.model("base"), "sft": paths.model("sft")}, paths.generations,
                            paths.results / "inference_run.json")
    assert "3 rows written to 1 files" in result.line()
    at8 = result.overview.loc[("base", "math500", "stw", 8)]
    assert (at8["samples"], at8["avg_thinking_tokens"], at8["window_hit_rate"]) == (2, 6.0, 0.5)
    assert result.overview.loc[("base", "math500", "stw", 16)]["window_hit_rate"] == 0.0


def test_figures_stage_draws_every_figure_from_the_evaluation_outputs_and_says_what_it_skipped(tmp_path, monkeypatch):
    from z1 import evaluation, generations
    from z1.stages import evaluation as evaluation_stage
    from z1.stages import figures as stage

    monkeypatch.setattr(generations, "read_generations", lambda path: [])
    monkeypatch.setattr(evaluation, "grade_rows", lambda rows, workers, progress: _graded_samples())
    monkeypatch.setattr(evaluation, "generation_provenance", lambda rows: {"rows": len(rows)})
    paths = Paths("ci", root=tmp_path)
    cfg = {**_cfg(), "inference": {"models": {"base": {}, "sft": {}}}, "figures": {"main_window": 16}}
    evaluation_stage.run(cfg, paths, progress=False)
    paths.metrics.mkdir(parents=True, exist_ok=True)
    (paths.metrics / "data.json").write_text('{"teacher": "t"}')
    result = stage.run(cfg, paths)

    assert "profile ci" in result.caption and "sft = base fine-tuned on data/ci" in result.caption
    assert list(result.shown) == list(stage.SECTIONS)
    names = {p.name for p in result.written}
    for figure in ("test_time_scaling", "figure_1b", "paired_differences", "thinking_vs_difficulty"):
        assert f"{figure}.png" in names, figure
    assert {"main_table.csv", "main_table.md", "test_time_controls.md", "figure_1b.csv"} <= names
    assert all(p.exists() for p in result.written)
    assert [p.name for p in result.shown["tables"]] == ["main_table.md", "test_time_controls.md"]
    # one method only, no generations to pick examples from, no token-matched subsets: each said, none drawn
    assert "nothing to compare, figure skipped" in result.shown["controls"][0]
    assert result.shown["examples"][0].startswith("simple vs complex skipped")
    assert result.shown["data"] == ["the data report has no token_matched_subsets: figure skipped"]
