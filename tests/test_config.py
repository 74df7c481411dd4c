"""z1.config: profiles resolve, switching keeps params.yaml's comments, bad input is explained."""

import shutil

import pytest

from z1 import config


@pytest.fixture
def params(tmp_path, repo_root):
    p = tmp_path / "params.yaml"
    shutil.copyfile(repo_root / "params.yaml", p)
    return p


def test_every_profile_has_every_stage_section(params):
    for name in config.PROFILES:
        cfg = config.load_profile(name, params)
        assert cfg["name"] == name
        assert set(config.STAGES) <= set(cfg)
        # every knob lives in params: the stages' essentials are there
        assert cfg["inference"]["windows"] and cfg["inference"]["max_tokens"] > max(cfg["inference"]["windows"]) - 1
        assert cfg["compute"]["dtype"] in ("float32", "bfloat16")


def test_cpu_profiles_compute_in_float32_and_paper_follows_the_recipe(params):
    for name in ("ci", "mini"):
        assert config.load_profile(name, params)["compute"] == {"device": "cpu", "dtype": "float32", "threads": 2}
    sft = config.load_profile("paper", params)["sft"]
    assert (sft["epochs"], sft["learning_rate"], sft["warmup_steps"], sft["seed"]) == (2, 1e-5, 100, 42)
    assert sft["per_device_batch_size"] * sft["gradient_accumulation_steps"] * 8 == 256
    assert sft["max_length"] > 512


def test_set_profile_rewrites_only_that_line(params):
    before = params.read_text()
    config.set_profile("ci", params)
    after = params.read_text()
    assert config.active_profile(params) == "ci"
    assert [a for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b] == ["profile: mini"]
    with pytest.raises(config.ConfigError, match="not defined"):
        config.set_profile("nope", params)


def test_clear_errors(tmp_path, params):
    with pytest.raises(config.ConfigError, match="not found"):
        config.load_profile("ci", tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: [unclosed")
    with pytest.raises(config.ConfigError, match="YAML"):
        config.read_params(bad)
    with pytest.raises(config.ConfigError, match="not defined"):
        config.load_profile("gpu", params)
    assert config.main(["--params", str(params), "set-profile", "nope"]) == 2
