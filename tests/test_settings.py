"""Typed settings (z1.settings): every committed profile fits its schema; a misspelled key, a wrong type,
an unknown mode or a broken cross-reference fails when the profile loads, with one line naming it."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest
import yaml

from z1 import config, settings, sft, thinking

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def params(tmp_path):
    """A copy of the committed params.yaml and a function that edits one profile and loads it."""
    base = yaml.safe_load((REPO / "params.yaml").read_text())

    def load(profile: str, edit) -> dict:
        data = yaml.safe_load(yaml.safe_dump(base, sort_keys=False))
        edit(data[profile])
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return config.load_profile(profile, path)

    return load


@pytest.mark.parametrize("profile", config.PROFILES)
def test_every_committed_profile_fits_its_schema(profile):
    s = config.load_settings(profile, REPO / "params.yaml")
    assert s.name == profile and s.inference.methods and isinstance(s.compute.threads, int)
    assert all(m.function in settings.METHOD_OPTIONS for m in s.inference.methods.values())


def _error(params, profile, edit) -> str:
    with pytest.raises(config.ConfigError) as e:
        params(profile, edit)
    message = str(e.value)
    assert "\n" not in message
    return message


def test_a_misspelled_key_is_named_with_the_known_ones(params):
    m = _error(params, "ci", lambda p: p["sft"].update(learning_rte=1e-4))
    assert m.startswith(f"{Path(m.split(':')[0])}: ci.sft: unknown key 'learning_rte' (known: epochs, max_steps,")
    m = _error(params, "mini", lambda p: p["inference"]["methods"]["r1"].update(answer_budgt=64))
    assert "mini.inference.methods.r1.answer_budgt: not an option of r1_truncation (options: stop," in m


def test_a_wrong_type_is_named(params):
    assert _error(params, "ci", lambda p: p["inference"].update(windows=[16, "32"])).endswith(
        "ci.inference.windows[1]: expected an integer, got '32'")
    assert _error(params, "ci", lambda p: p["data"].update(filter_repetitive="yes")).endswith(
        "ci.data.filter_repetitive: expected true or false, got 'yes'")
    assert _error(params, "mini", lambda p: p["sft"].update(lora={"r": "16"})).endswith(
        "mini.sft.lora.r: expected an integer, got '16'")
    assert _error(params, "ci", lambda p: p["compute"].update(threads=True)).endswith(
        "ci.compute.threads: expected an integer, got True")


def test_an_unknown_mode_lists_the_allowed_values(params):
    assert _error(params, "mini", lambda p: p["inference"]["methods"]["stw"].update(mode="corected")).endswith(
        "mini.inference.methods.stw.mode: 'corected' is not one of 'paper', 'corrected'")
    assert _error(params, "ci", lambda p: p["inference"].update(engine="vllm-cpu")).endswith(
        "ci.inference.engine: 'vllm-cpu' is not one of 'transformers', 'vllm'")
    assert _error(params, "ci", lambda p: p["assets"]["models"]["base"].update(source="pypi")).endswith(
        "ci.assets.models.base.source: 'pypi' is not one of 'registry', 'hub', 'local'")
    assert _error(params, "ci", lambda p: p["data"]["select"].update(mode="longest")).endswith(
        "ci.data.select.mode: 'longest' is not one of 'length', 'sample'")
    assert re.search(r"ci\.inference\.methods\.s1\.function: 'budget' is not one of 'shifted_thinking_window', ",
                     _error(params, "ci", lambda p: p["inference"]["methods"]["s1"].update(function="budget")))


def test_cross_references_are_checked(params):
    assert _error(params, "ci", lambda p: p["inference"]["methods"]["r1"].update(models=["z1"])).endswith(
        "ci.inference.methods.r1.models: 'z1' is not in inference.models")
    assert _error(params, "ci", lambda p: p["figures"].update(main_method="stw_corrected")).endswith(
        "ci.figures.main_method: 'stw_corrected' is not a method of inference.methods (stw, stw_paper, r1, s1)")
    assert _error(params, "ci", lambda p: p["data"].update(teacher="qwq")).endswith(
        "ci.data.teacher: 'qwq' is not an asset model (base)")
    assert "missing key 'models'" in _error(params, "ci", lambda p: p["inference"].pop("models"))


def test_defaults_fill_what_a_profile_leaves_out(params):
    cfg = params("ci", lambda p: p["inference"].pop("merge_jobs"))
    s = config.check_settings("ci", {k: v for k, v in cfg.items() if k != "name"})
    assert s.inference.merge_jobs is False and s.sft.save_total_limit == 2


def test_schema_defaults_and_method_options_match_the_code_they_describe():
    """The tables here must follow z1.sft's defaults and z1.thinking's signatures, or a valid key would be
    refused (or a wrong one let through)."""
    defaults = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
                for f in dataclasses.fields(settings.SFTSettings)}
    assert {k: v for k, v in defaults.items() if k != "launcher"} == sft.DEFAULT_SETTINGS
    internal = {"engine", "prompts", "window", "max_tokens", "sampling", "progress", "pass1", "overrides", "unknown"}
    stw_fields = {f.name for f in dataclasses.fields(thinking.STWOptions)}
    for name, allowed in settings.METHOD_OPTIONS.items():
        params = set(inspect.signature(thinking.METHODS[name]).parameters) - internal
        if name == "no_cap":  # window is accepted and ignored there (every window is the same run)
            params -= {"window"}
        if name == "shifted_thinking_window":
            params |= stw_fields  # **overrides: one STWOptions field each
        assert set(allowed) == params, name
