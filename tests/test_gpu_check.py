"""scripts/gpu_check.py (`make gpu-check`): a clean skip without CUDA, and its checks' code end to end.

This machine has no GPU, so the CUDA run itself cannot be tested here. The script's test hook
(``--device cpu``) runs the engine check on the CPU with the same tiny random Qwen2 and the exact
Qwen2.5 tokenizer, which exercises everything but the device; the SFT check's launch command and
data are checked without launching (a CPU launch takes ~20 s and is not the FSDP path anyway).
"""

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_check.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(*args, timeout=120):
    """The script as `make gpu-check` runs it, with CUDA hidden (as on this machine, also on a GPU one)."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _strings(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)
    elif isinstance(obj, str):
        yield obj


def _no_absolute_paths(data, *roots):
    for s in _strings(data):
        assert not s.startswith("/"), s
        for root in (REPO, *roots):
            assert str(root) not in s, s


def test_skips_without_cuda_with_one_line_and_a_skip_json(tmp_path):
    out = tmp_path / "gpu_check.json"
    p = _run("--out", out)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, p.stdout
    assert lines[0].startswith("gpu-check: skipped: no CUDA device") and "is_available() is False" in lines[0]
    assert lines[0].endswith(f"wrote {out}")
    data = json.loads(out.read_text())
    assert data["status"] == "skipped" and data["reason"].startswith("no CUDA device")
    assert data["versions"]["torch"] == importlib.metadata.version("torch")
    assert data["versions"]["transformers"] == importlib.metadata.version("transformers")
    assert "checks" not in data and data["device"] == {"requested": "cuda"}
    _no_absolute_paths(data, tmp_path)


def test_a_skip_never_overwrites_a_gpu_result(tmp_path):
    out = tmp_path / "gpu_check.json"
    out.write_text(json.dumps({"status": "failed", "created": "2026-11-30T12:00:00+0000",
                               "device": {"requested": "cuda", "name": "NVIDIA H200"}, "checks": {}}))
    before = out.read_bytes()
    p = _run("--out", out)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("\n") == 1 and "skipped: no CUDA device" in p.stdout
    assert f"kept {out} (it holds the GPU run of 2026-11-30T12:00:00+0000, status failed)" in p.stdout
    assert out.read_bytes() == before


def test_cpu_hook_needs_an_explicit_out_file():
    p = _run("--device", "cpu", "--checks", "engine")
    assert p.returncode == 2 and "give --out" in p.stderr


def test_engine_check_end_to_end_on_cpu(qwen_tokenizer_dir, tmp_path):
    gc = _module()
    out = tmp_path / "cpu.json"
    p = _run("--device", "cpu", "--checks", "engine", "--tokenizer", qwen_tokenizer_dir, "--out", out, timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip().splitlines()[-1].startswith("gpu-check: passed")
    data = json.loads(out.read_text())
    _no_absolute_paths(data, tmp_path)
    assert data["status"] == "passed" and list(data["checks"]) == ["engine"]
    assert data["tokenizer"]["path"] == "models/ci/pretrained/tokenizer" and data["tokenizer"]["qwen2.5_specials"]
    assert data["model"]["vocab_size"] == data["tokenizer"]["len"] >= 151_665  # 151,643 BPE + 22 specials (+ pad)
    assert data["git"]["revision"] and len(data["git"]["revision"]) == 40

    engine = data["checks"]["engine"]
    assert engine["ok"] is True and "error" not in engine and engine["seconds"] > 0
    d = engine["details"]
    assert d["backend"] == "transformers" and d["weights_on"] == "cpu float32"
    w, m, n = gc.WINDOW, gc.MAX_TOKENS, len(gc.PROMPTS)
    assert (d["window"], d["max_tokens"], d["prompts"]) == (w, m, n)
    for mode, budget in (("corrected", m - w), ("paper", m)):
        run = d[mode]
        assert len(run["window_hit"]) == len(run["thinking_tokens"]) == n
        for hit, think, answer, finish1 in zip(run["window_hit"], run["thinking_tokens"], run["answer_tokens"],
                                               run["pass1_finish"], strict=True):
            assert hit == (finish1 == "length")
            assert think == w if hit else 1 <= think <= w
            assert (0 < answer <= budget) if hit else answer is None
    sweep = d["window_sweep"]
    for win in gc.SWEEP_WINDOWS:
        assert all(t <= win for t in sweep[str(win)]["thinking_tokens"])
    # fp32 greedy on one machine: the shared sweep gives exactly the independent run's answers
    assert sweep["same_answers_as_independent_run"] == [True] * n


def test_stw_sanity_check_catches_violations():
    from z1.thinking import ThinkingRecord

    gc = _module()

    def rec(i, think, answer, hit=True):
        return ThinkingRecord(
            method="shifted_thinking_window", prompt_index=i, sample_index=0, prompt_tokens=5, window=16,
            window_requested=16, max_tokens=40, pass1_token_ids=[7] * think, pass1_text="",
            pass1_finish_reason="length" if hit else "stop", window_hit=hit, hint=None, answer="", trajectory="",
            thinking_tokens=think, thinking_tokens_only=think, finish_reason="stop",
            pass2_token_ids=None if answer is None else [7] * answer)

    sane = [rec(0, 16, 24), rec(1, 5, None, hit=False)]
    assert gc.stw_problems(sane, 2, 16, 40, "corrected") == []
    assert gc.stw_problems(sane, 3, 16, 40, "corrected") == ["corrected W=16: 2 records for 3 prompts"]
    assert "thinking_tokens 17 > window 16" in gc.stw_problems([rec(0, 17, 23)], 1, 16, 40, "corrected")[0]
    assert "pass-2 answer has None tokens" in gc.stw_problems([rec(0, 16, None)], 1, 16, 40, "corrected")[0]
    too_long = [rec(0, 16, 30)]  # corrected: the answer gets max_tokens - W = 24; paper: the full 40
    assert "budget 24" in gc.stw_problems(too_long, 1, 16, 40, "corrected")[0]
    assert gc.stw_problems(too_long, 1, 16, 40, "paper") == []
    flag = rec(0, 16, 24)
    flag.window_hit = False
    assert "window_hit False with pass-1 finish 'length'" in gc.stw_problems([flag], 1, 16, 40, "corrected")[0]


def test_sft_check_launches_the_stage_command_with_the_fsdp_config(qwen_tokenizer_dir, tmp_path):
    import pandas as pd
    from transformers import AutoTokenizer

    from z1 import sft, sft_launch

    gc = _module()
    launcher = gc.sft_launcher("cuda", 8, 29555)
    assert launcher == ["--config_file", "configs/accelerate_fsdp.yaml", "--num_processes", "8",
                        "--main_process_port", "29555"]
    assert (REPO / launcher[1]).is_file()
    settings = {**gc.SFT_SETTINGS, "dtype": "bfloat16", "launcher": launcher}
    cmd = sft_launch.command("model", tmp_path / "rows.parquet", "out", settings, progress=False)
    assert cmd[1:2 + len(launcher)] == ["launch", *launcher]
    assert cmd[2 + len(launcher):4 + len(launcher)] == ["-m", "z1.sft"]
    child = json.loads(cmd[cmd.index("--settings-json") + 1])
    assert child["dtype"] == "bfloat16" and child["master_dtype"] == "float32" and child["gradient_checkpointing"]

    tok = AutoTokenizer.from_pretrained(str(qwen_tokenizer_dir))
    path = tmp_path / "rows.parquet"
    assert gc.write_sft_rows(tok, path) == 8
    df = pd.read_parquet(path)
    assert list(df.columns) == ["id", "question", "response", "token_num_qwen"]
    assert df["id"].is_unique and (df["token_num_qwen"] > 0).all()
    assert len(sft.validate_rows(str(path))) == 8
    # the 8 rows give the 4 optimizer steps on 1 GPU and on 8 (transformers 5.x rounds partial updates up)
    for world in (1, 8):
        assert sft.steps_for(8, epochs=gc.SFT_SETTINGS["epochs"], world_size=world, rounding="ceil",
                             per_device_batch_size=gc.SFT_SETTINGS["per_device_batch_size"],
                             grad_accum=gc.SFT_SETTINGS["gradient_accumulation_steps"]) >= gc.SFT_STEPS


def test_a_failing_check_is_recorded_and_the_others_still_run(qwen_tokenizer_dir, tmp_path, monkeypatch, capsys):
    gc = _module()
    ran = []

    def broken_sft(model_dir, work, *args):
        raise RuntimeError(f"launch broke in {work}")

    def fake_child(name, model_dir, work, device, timeout):
        ran.append((name, (model_dir / "config.json").is_file(), device))
        return {"ok": True, "details": {"backend": name}, "_tokens": [[1, 2]], "summary": "fine"}

    monkeypatch.setattr(gc, "check_sft", broken_sft)
    monkeypatch.setattr(gc, "run_child_check", fake_child)
    out = tmp_path / "run.json"
    rc = gc.main(["--device", "cpu", "--checks", "sft", "engine", "--tokenizer", str(qwen_tokenizer_dir),
                  "--out", str(out)])
    assert rc == 1
    assert ran == [("engine", True, "cpu")]  # the tiny model was saved, and engine ran after sft failed
    data = json.loads(out.read_text())
    assert data["status"] == "failed"
    assert data["checks"]["sft"]["ok"] is False and "RuntimeError: launch broke in <tmp>" in data["checks"]["sft"]["error"]
    assert data["checks"]["engine"] == {"ok": True, "seconds": data["checks"]["engine"]["seconds"],
                                        "details": {"backend": "engine"}}
    _no_absolute_paths(data, tmp_path)
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("gpu-check: failed (sft) in ")


def test_a_crashing_check_process_is_recorded_with_its_error(tmp_path):
    gc = _module()
    result = gc.run_child_check("engine", tmp_path / "no-model", tmp_path, "cpu", 120)
    assert result["ok"] is False
    assert "CheckpointError" in result["error"] and "<tmp>/no-model: no model directory" in result["error"]
    _no_absolute_paths(result, tmp_path)
