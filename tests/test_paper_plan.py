"""The `paper` profile's whole plan, run by `dvc repro` on CPU with stand-ins.

The profile is taken from params.yaml exactly as committed; the test overrides only what this machine
cannot have: model sources (tiny random Qwen2 models with the real Qwen2.5 tokenizer in the roles base,
z1, r1_distill (a `<think>` chat template) and teacher), data and benchmark sources (a local copy in the
released dataset's schema; the official-schema LiveCodeBench and BigCodeBench fixture rows; offline
GPQA Diamond and MATH500 slices), sizes, windows and device (CPU, float32, the transformers engine,
no FSDP launcher). Everything else - which models run which methods, the benchmarks, the comparison
sets, the stop strings, Figure 1b - is the committed plan, so a structural error in it fails here:
the paper's LiveCodeBench number on the wrong row, Figure 1b averaging the wrong benchmarks,
R1-Distill running another method than the README names, stop strings that never reach the engine,
or the profile not evaluating its own fine-tuned model.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from z1.benchmarks import bigcodebench, livecodebench
from z1.evaluation import LCB_PAPER_WINDOW

REPO = Path(__file__).resolve().parents[1]
# The paper's Figure 1b: LiveCodeBench v5 on the authors' date window, GPQA Diamond, MATH500.
FIGURE_1B = (LCB_PAPER_WINDOW, "gpqa_diamond", "math500")
R1_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
               "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}")


def _tiny_qwen2(out: Path, tokenizer_dir: Path, seed: int, chat_template: str | None = None) -> Path:
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    if chat_template is not None:
        tok.chat_template = chat_template
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      tie_word_embeddings=True, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"))
    torch.manual_seed(seed)
    Qwen2ForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _released_copy(out: Path) -> Path:
    """A local copy in Z1-Code-Reasoning-107K's schema: a direct answer and longer reasoning."""
    out.mkdir(parents=True)
    rows = [{"id": f"stand-in/{i}", "question": f"Write a function that returns {i} plus its argument.",
             "response": ("Let me think about the argument first. " * (i % 4)) + f"def f(x):\n    return x + {i}\n",
             "token_num_qwen": 0} for i in range(8)]
    pd.DataFrame(rows).to_parquet(out / "train-00000-of-00001.parquet")
    return out


def _merge(base: dict, over: dict) -> dict:
    """``over`` into ``base``, mapping by mapping; an empty mapping replaces (engine_options: {})."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        nested = isinstance(value, dict) and value and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if nested else value
    return out


def overrides(models: dict[str, Path], tokenizer: Path, released: Path) -> dict:
    """Sources, sizes, windows and device: nothing that decides what the plan compares."""
    return {
        "assets": {"models": {key: {"source": "local", "id": str(path)} for key, path in models.items()},
                   "tokenizer": {"source": "local", "id": str(tokenizer)}},
        "compute": {"device": "cpu", "dtype": "float32", "threads": 2},
        "data": {"released_id": str(released)},
        "sft": {"launcher": None, "max_steps": 2, "per_device_batch_size": 2, "gradient_accumulation_steps": 1,
                "max_length": 256, "save_steps": 1, "logging_steps": 1, "warmup_steps": 0},
        "inference": {"engine": "transformers", "engine_options": {}, "batch_size": 8,
                      "benchmarks": {"livecodebench_v5": {"data_path": "tests/data/lcb_release_sample.jsonl"},
                                     "bigcodebench_hard": {"data_path": "tests/data/bcb_hard_sample.jsonl"},
                                     "gpqa_diamond": {"n": 2}, "math500": {"source": "offline", "n": 2}},
                      "methods": {"r1": {"windows": [8, 16, 24], "max_tokens": 32}},
                      "windows": [8, 16], "max_tokens": 24},
        "evaluation": {"workers": 2, "bootstrap": 50},
        "figures": {"main_window": 16},
    }


def _readme_r1_distill_method() -> str:
    """The method the README says R1-Distill-Qwen-7B runs on `paper`."""
    found = re.search(r"R1-Distill-Qwen-7B \(`r1_distill`\) runs `(\w+)`", (REPO / "README.md").read_text())
    assert found, "the README must say which method R1-Distill-Qwen-7B runs on `paper`"
    return found.group(1)


@pytest.mark.slow
def test_paper_plan_end_to_end_with_dvc_on_cpu_stand_ins(tmp_path, qwen_tokenizer_dir):
    from test_notebooks import _copy_worktree

    stand_ins = tmp_path / "stand_ins"
    models = {"base": _tiny_qwen2(stand_ins / "base", qwen_tokenizer_dir, 0),
              "z1": _tiny_qwen2(stand_ins / "z1", qwen_tokenizer_dir, 1),
              "r1_distill": _tiny_qwen2(stand_ins / "r1_distill", qwen_tokenizer_dir, 2, R1_TEMPLATE),
              "teacher": _tiny_qwen2(stand_ins / "teacher", qwen_tokenizer_dir, 3)}
    released = _released_copy(stand_ins / "released")

    work = tmp_path / "repo"
    _copy_worktree(work)
    params = yaml.safe_load((work / "params.yaml").read_text())
    committed = params["paper"]
    assert set(overrides(models, qwen_tokenizer_dir, released)["assets"]["models"]) == set(committed["assets"]["models"])
    params["paper"] = _merge(committed, overrides(models, qwen_tokenizer_dir, released))
    params["profile"] = "paper"
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    run = lambda *cmd: subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1500)  # noqa: E731
    assert run("git", "init", "-q").returncode == 0
    repro = run("dvc", "repro")
    assert repro.returncode == 0, repro.stdout[-4000:] + repro.stderr[-4000:]

    res = work / "results" / "paper"
    curves = pd.read_csv(res / "curves" / "scaling.csv")
    plan = curves.groupby("model")["method"].apply(lambda m: sorted(set(m))).to_dict()
    # error 6: the profile evaluates its own fine-tune beside Z1-7B; error 3: R1-Distill runs what the README says
    assert plan == {"z1": ["r1", "s1", "stw", "stw_paper"], "sft": ["stw_paper"], "base": ["stw_paper"],
                    "r1_distill": [_readme_r1_distill_method()]}
    assert plan["r1_distill"] == [committed["figures"]["model_methods"]["r1_distill"]]
    r1_windows = set(curves.loc[curves.model == "r1_distill", "window"])
    assert r1_windows == {8, 16, 24} and max(r1_windows) > max(curves.loc[curves.model == "base", "window"])

    # error 4: the code benchmarks' stop strings reached the engine; STW paper mode ends pass 1 with them
    gen = work / "generations" / "paper"
    for bench, stop in (("bigcodebench_hard", bigcodebench.STOP), ("livecodebench_v5", livecodebench.STOP),
                        ("gpqa_diamond", ()), ("math500", ())):
        rows = [json.loads(line) for line in (gen / "z1" / bench / "stw_paper.jsonl").read_text().splitlines()]
        assert rows and all(r["stop"] == list(stop) == r["record"]["options"]["stop"] for r in rows), bench
        assert all(r["record"]["options"]["stop_ends_window"] is True for r in rows)
    corrected = [json.loads(line) for line in (gen / "z1" / "bigcodebench_hard" / "stw.jsonl").read_text().splitlines()]
    assert all(r["record"]["options"]["stop_ends_window"] is False and r["stop"] == list(bigcodebench.STOP)
               for r in corrected)

    # error 1: the paper's LiveCodeBench number sits on the authors' date window, not on all of release_v5
    table = pd.read_csv(res / "tables" / "main_table.csv").set_index(["model", "benchmark"])
    assert table.loc[("z1", LCB_PAPER_WINDOW), "paper_pass_at_1"] == 35.3
    assert pd.isna(table.loc[("z1", "livecodebench_v5"), "paper_pass_at_1"])
    assert "ours" in table.loc[("z1", "livecodebench_v5"), "benchmark_label"]
    assert table.loc[("r1_distill", LCB_PAPER_WINDOW), "method"] == "r1"
    assert table.loc[("sft", "gpqa_diamond"), "paper_model"] == "Z1-7B"
    assert set(table.reset_index()["model"]) == {"z1", "sft", "r1_distill", "base"}

    # error 2: Figure 1b averages exactly the paper's three benchmarks, once each
    avg = pd.read_csv(res / "figures" / "figure_1b.csv")
    assert not avg.empty and (avg["benchmarks"] == 3).all()
    main = pd.concat([curves[(curves.method == "stw_paper") & (curves.model != "r1_distill")],
                      curves[(curves.model == "r1_distill") & (curves.method == "r1")]])
    expected = (main[main.benchmark.isin(FIGURE_1B)].groupby(["model", "method", "window"])
                .agg(pass_at_1=("pass_at_1", "mean"), avg_thinking_tokens=("avg_thinking_tokens", "mean")))
    got = avg.set_index(["model", "method", "window"]).sort_index()
    pd.testing.assert_frame_equal(got[["pass_at_1", "avg_thinking_tokens"]], expected.sort_index(), atol=1e-3)
    for name in ("test_time_scaling", "figure_1b", "test_time_controls", "thinking_vs_difficulty"):
        assert (res / "figures" / f"{name}.png").stat().st_size > 10_000, name
    sft = json.loads((res / "metrics" / "sft.json").read_text())
    assert sft["loss_averaging"] == "micro_batch"  # the authors' transformers 4.37 averaging
    assert json.loads((res / "metrics" / "evaluation.json").read_text())["provenance"]["profile"] == "paper"
    shutil.rmtree(stand_ins)
