"""z1.checkpoint: a missing, incomplete or truncated model directory is named, with its remedy, before
anything loads it -- through the entry points the stages use (make_engine, the SFT loaders)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from z1 import sft
from z1.checkpoint import CheckpointError, check_model_dir
from z1.engines import make_engine


@pytest.fixture
def model_dir(tmp_path) -> Path:
    import torch
    from safetensors.torch import save_file

    d = tmp_path / "models" / "ci" / "pretrained" / "base"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (d / "tokenizer.json").write_text(json.dumps({"version": "1.0"}))
    save_file({"w": torch.zeros(64, 64), "b": torch.ones(8)}, str(d / "model.safetensors"))
    return d


def test_a_complete_directory_passes(model_dir):
    check_model_dir(model_dir)


def test_missing_directory_names_the_remedy_not_the_hub(tmp_path):
    missing = tmp_path / "models" / "ci" / "pretrained" / "base"
    with pytest.raises(CheckpointError, match=r"base: no model directory; .*dvc checkout .*dvc repro -f assets"):
        make_engine("transformers", missing)
    with pytest.raises(CheckpointError, match=r"dvc repro -f sft"):
        check_model_dir(tmp_path / "models" / "ci" / "sft")


def test_truncated_weights_are_named(model_dir):
    path = model_dir / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(CheckpointError, match=rf"{path}: truncated or padded \({len(data) - 100} bytes, its header "
                                              rf"says {len(data)}\)"):
        make_engine("transformers", model_dir)
    path.write_bytes(b"\x00" * 4)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        check_model_dir(model_dir)


def test_damaged_tokenizer_or_config_is_named_before_the_sft_loaders(model_dir):
    tok = model_dir / "tokenizer.json"
    tok.write_text('{"version": "1.0", "model": {')  # cut mid-write
    with pytest.raises(CheckpointError, match=r"tokenizer.json: not readable JSON"):
        sft.trainer._load_tokenizer(model_dir)
    tok.write_text("{}")
    (model_dir / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"config.json: missing"):
        sft.trainer._load_model(model_dir, dtype=None)
    shutil.rmtree(model_dir)
    with pytest.raises(CheckpointError, match="no model directory"):
        sft.trainer._load_tokenizer(model_dir)


def test_no_weights_is_named(model_dir):
    (model_dir / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"no weights"):
        check_model_dir(model_dir)


def test_inference_checks_every_model_before_any_engine(model_dir, monkeypatch):
    from z1 import inference

    monkeypatch.setattr(inference, "make_engine", lambda *a, **k: pytest.fail("an engine started"))
    data = (model_dir / "model.safetensors").read_bytes()
    (model_dir / "model.safetensors").write_bytes(data[:-1])
    inf = {"engine": "transformers", "models": ["base"], "windows": [16], "max_tokens": 32, "batch_size": 1,
           "benchmarks": {"humaneval": {"n": 1}}, "methods": {"stw": {}}}
    with pytest.raises(CheckpointError, match=r"model.safetensors: truncated"):
        inference.validate(inf, {"base": model_dir})


def test_sft_checkpoints_are_keyed_by_the_base_model_files(model_dir, tmp_path):
    """A resume never continues training from checkpoints of another base model: same settings and
    data, changed weights -> another run directory; a re-run of the same inputs -> the same one."""
    import torch
    from safetensors.torch import save_file

    from z1.paths import Paths

    data = tmp_path / "trajectories.jsonl"
    data.write_text('{"id": "a"}\n')
    paths, settings = Paths("ci", tmp_path), {"lr": 1e-5, "epochs": 1}
    first = paths.sft_run_checkpoints(settings, data, model_dir)
    assert first == paths.sft_run_checkpoints(dict(settings), data, model_dir)
    assert first.parent == paths.sft_checkpoints
    save_file({"w": torch.ones(64, 64), "b": torch.ones(8)}, str(model_dir / "model.safetensors"))
    assert paths.sft_run_checkpoints(settings, data, model_dir) != first
    data.write_text('{"id": "b"}\n')
    assert len({first, paths.sft_run_checkpoints(settings, data, model_dir),
                paths.sft_run_checkpoints({**settings, "lr": 2e-5}, data, model_dir)}) == 3
