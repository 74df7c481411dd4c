"""Tests for z1.sft: the authors' formatting and label mask (exact ids on the real Qwen tokenizer),
overflow accounting, data errors before any model loads, leak-free packing on a real small model,
resume continuing the schedule, LoRA merge, and evidence that training lowers the target loss."""

import json

import pytest
import torch
import torch.nn.functional as F

from z1 import sft

# Qwen2.5 ids (exact tokenizer): the default system prompt, the user turn, the generation prompt.
QWEN_PROMPT_IDS = [
    151644, 8948, 198,  # <|im_start|>system\n
    2610, 525, 1207, 16948, 11, 3465, 553, 54364, 14817, 13, 1446, 525, 264, 10950, 17847, 13,  # You are Qwen, ...
    151645, 198,  # <|im_end|>\n
    151644, 872, 198, 7985, 23811, 151645, 198,  # <|im_start|>user\nWrite hello<|im_end|>\n
    151644, 77091, 198,  # <|im_start|>assistant\n
]
QWEN_TARGET_IDS = [750, 282, 3932, 262, 470, 220, 16, 151645]  # "def f():\n    return 1" + <|im_end|>
IM_END = 151645


@pytest.fixture(scope="module")
def qwen_tok(qwen_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(qwen_tokenizer_dir))


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, qwen_tokenizer_dir):
    """A random-weight Qwen2-shaped model (2 layers, hidden 32) with the real Qwen tokenizer."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    out = tmp_path_factory.mktemp("tiny_qwen2")
    tok = AutoTokenizer.from_pretrained(str(qwen_tokenizer_dir))
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      tie_word_embeddings=True)
    torch.manual_seed(0)
    Qwen2ForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def rows(n=6):
    return [{"question": f"Write function number {i}. " * (1 + i % 3),
             "response": f"def f{i}(x):\n    return x + {i}\n" * (1 + i % 4)} for i in range(n)]


TINY_SETTINGS = {"epochs": 1, "learning_rate": 1e-3, "lr_scheduler": "cosine", "warmup_steps": 1,
                 "weight_decay": 0.0, "per_device_batch_size": 2, "gradient_accumulation_steps": 1,
                 "max_length": 128, "overflow": "truncate", "packing": False, "gradient_checkpointing": False,
                 "dtype": "float32", "seed": 42, "lora": None, "save_steps": 3, "logging_steps": 1}


# ---------------------------------------------------------------- formatting and label mask


def test_exact_ids_and_label_mask_on_qwen_tokenizer(qwen_tok):
    ex = sft.build_example(qwen_tok, "Write hello", "def f():\n    return 1", max_length=4096)
    n = len(QWEN_PROMPT_IDS)
    assert ex["input_ids"] == QWEN_PROMPT_IDS + QWEN_TARGET_IDS
    # prompt end / target start
    assert ex["input_ids"][n - 3 : n + 1] == [151644, 77091, 198, 750]
    assert ex["labels"][:n] == [-100] * n
    assert ex["labels"][n:] == QWEN_TARGET_IDS and ex["labels"][-1] == IM_END
    assert ex["length"] == len(ex["input_ids"]) and ex["overflow_tokens"] == 0
    text = qwen_tok.decode(ex["input_ids"][:n])
    assert text.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.")
    assert sft.end_of_turn(qwen_tok) == "<|im_end|>"


def test_build_dataset_matches_build_example(qwen_tok):
    rs = rows(5)
    examples, report = sft.build_dataset(qwen_tok, rs, max_length=4096, overflow="truncate")
    assert report["kept"] == 5 and report["truncated"] == report["dropped"] == 0
    for r, ex in zip(rs, examples, strict=True):
        one = sft.build_example(qwen_tok, r["question"], r["response"], max_length=4096)
        assert ex["input_ids"] == one["input_ids"] and ex["labels"] == one["labels"]
    assert report["target_tokens"] == sum(sum(x != -100 for x in e["labels"]) for e in examples)


def test_overflow_truncate_vs_drop_is_counted(qwen_tok):
    rs = rows(4) + [{"question": "Long one", "response": "word " * 300}]
    full = sft.build_example(qwen_tok, "Long one", "word " * 300, max_length=10_000)
    limit = 120
    assert full["length"] > limit
    with pytest.warns(UserWarning, match="1 row\\(s\\) truncated"):
        ex_t, rep_t = sft.build_dataset(qwen_tok, rs, max_length=limit, overflow="truncate")
    assert (rep_t["truncated"], rep_t["dropped"], rep_t["kept"]) == (1, 0, 5)
    assert ex_t[-1]["length"] == limit and ex_t[-1]["input_ids"] == full["input_ids"][:limit]
    assert ex_t[-1]["overflow_tokens"] == full["length"] - limit
    with pytest.warns(UserWarning, match="0 row\\(s\\) truncated and 1 dropped"):
        ex_d, rep_d = sft.build_dataset(qwen_tok, rs, max_length=limit, overflow="drop")
    assert (rep_d["truncated"], rep_d["dropped"], rep_d["kept"]) == (0, 1, 4)
    assert sft.build_example(qwen_tok, "Long one", "word " * 300, max_length=limit, overflow="drop") is None
    # a prompt that fills max_length leaves nothing to learn: dropped even under truncate
    assert sft.build_example(qwen_tok, "Long one", "x", max_length=10) is None


# ---------------------------------------------------------------- bad data before the model


BAD_DATA = [
    pytest.param([], id="zero-rows"),
    pytest.param([{"question": "q"}], id="missing-response"),
    pytest.param([{"prompt": "q", "completion": "r"}], id="wrong-columns"),
    pytest.param([{"question": "  ", "response": "r"}], id="empty-question"),
    pytest.param([{"question": "q", "response": ""}], id="empty-response"),
    pytest.param([{"question": "q", "response": None}], id="none-response"),
    pytest.param(["just a string"], id="not-a-mapping"),
    pytest.param("/nonexistent/trajectories.parquet", id="missing-file"),
    pytest.param([{"id": "a", "question": "q", "response": "r"}, {"id": "b", "question": "q2", "response": "r"},
                  {"id": "a", "question": "q3", "response": "r"}], id="duplicate-id"),
    pytest.param([{"question": "q \udce9", "response": "r"}], id="not-utf8-question"),
]


def test_bad_rows_are_named(tmp_path):
    dup = [{"id": "a", "question": "q", "response": "r"}, {"id": "b", "question": "q", "response": "r"},
           {"id": "a", "question": "q", "response": "r"}]
    with pytest.raises(sft.SFTDataError, match=r"row 2: id 'a' duplicates row 0"):
        sft.validate_rows(dup)
    with pytest.raises(sft.SFTDataError, match=r"row 0: 'question' is not valid UTF-8 text \(character 2\)"):
        sft.validate_rows([{"question": "q \udce9", "response": "r"}])
    bad = tmp_path / "rows.jsonl"
    bad.write_bytes(b'{"question": "q", "response": "r"}\n{"question": "caf\xe9", "response": "r"}\n')
    with pytest.raises(sft.SFTDataError, match=r"rows.jsonl:2: not a UTF-8 JSON row"):
        sft.validate_rows(bad)


@pytest.mark.parametrize("bad", BAD_DATA)
def test_bad_data_raises_before_model_loads(bad, monkeypatch, tmp_path):
    def forbidden(*a, **k):
        pytest.fail("the model was loaded before the data was checked")

    monkeypatch.setattr(sft.trainer, "_load_model", forbidden)
    with pytest.raises(sft.SFTDataError):
        sft.train(tmp_path / "no-model", bad, tmp_path / "out", TINY_SETTINGS, progress=False)
    assert not (tmp_path / "out").exists()


def test_all_rows_over_max_length_raise_before_model_loads(qwen_tokenizer_dir, monkeypatch, tmp_path):
    monkeypatch.setattr(sft.trainer, "_load_model", lambda *a, **k: pytest.fail("model loaded"))
    with pytest.raises(sft.SFTDataError, match="no trainable rows"), pytest.warns(UserWarning):
        sft.train(qwen_tokenizer_dir, rows(3), tmp_path / "out", {**TINY_SETTINGS, "max_length": 30,
                                                                  "overflow": "drop"}, progress=False)


def test_cli_reports_data_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q"}) + "\n")
    rc = sft.main(["--model-dir", str(tmp_path), "--data", str(bad), "--out", str(tmp_path / "o"),
                   "--settings-json", json.dumps(TINY_SETTINGS)])
    assert rc == 2 and "missing column" in capsys.readouterr().err


# ---------------------------------------------------------------- step arithmetic


def test_steps_for_reproduces_the_papers_836():
    paper = dict(epochs=2, per_device_batch_size=2, grad_accum=16, world_size=8)
    assert sft.steps_for(107_173, **paper) == 836  # 2 x floor(ceil(ceil(107173/8)/2)/16)
    assert sft.steps_for(107_173, **paper, rounding="ceil") == 838  # transformers 5.19's rounding
    assert sft.steps_for(107_173, epochs=2, per_device_batch_size=1, grad_accum=16, world_size=8) == 1674  # 128
    assert sft.steps_for(6, epochs=1, per_device_batch_size=2, grad_accum=1, world_size=1) == 3


# ---------------------------------------------------------------- packing


def test_pack_examples_structure(qwen_tok):
    examples, _ = sft.build_dataset(qwen_tok, rows(7), max_length=200)
    packs = sft.pack_examples(examples, max_length=200)
    assert sum(p["n_examples"] for p in packs) == 7 and len(packs) < 7
    assert sum(p["length"] for p in packs) == sum(e["length"] for e in examples)
    for p in packs:
        assert p["length"] <= 200 and len(p["input_ids"]) == len(p["labels"]) == len(p["position_ids"])
        for i, pos in enumerate(p["position_ids"]):
            if pos == 0:
                assert p["labels"][i] == -100  # no loss on an example's first token
    batch = sft.SFTCollator(qwen_tok.pad_token_id, packing=True)(packs[:2])
    assert "attention_mask" not in batch and batch["use_cache"] is False
    assert int(batch["num_real_tokens"]) == packs[0]["length"] + packs[1]["length"]


def _segment_losses(logits, batch):
    out = []
    for r in range(batch["input_ids"].shape[0]):
        pos = batch["position_ids"][r].tolist()
        starts = [i for i, p in enumerate(pos) if p == 0]
        for s, e in zip(starts, starts[1:] + [len(pos)], strict=True):
            lab = batch["labels"][r, s:e]
            if (lab[1:] != -100).any():
                out.append(F.cross_entropy(logits[r, s : e - 1], lab[1:], ignore_index=-100).item())
    return out


@pytest.mark.slow
def test_packing_does_not_leak_on_real_model(ci_model_dir):
    tok = sft.trainer._load_tokenizer(ci_model_dir)
    model = sft.trainer._load_model(ci_model_dir, dtype=torch.float32)
    examples, _ = sft.build_dataset(tok, rows(5), max_length=512)
    unpacked = sorted(sft.target_loss(model, examples))
    packs = sft.pack_examples(examples, max_length=512)
    assert max(p["n_examples"] for p in packs) >= 3
    batch = sft.SFTCollator(tok.pad_token_id, packing=True)(packs)
    batch.pop("num_real_tokens")
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    packed = sorted(_segment_losses(logits, batch))
    assert packed == pytest.approx(unpacked, abs=2e-4)
    # negative control: plain causal attention over the pack (what a leak looks like) differs
    with torch.no_grad():
        leaky = model(input_ids=batch["input_ids"], attention_mask=torch.ones_like(batch["input_ids"]),
                      position_ids=batch["position_ids"], use_cache=False).logits
    assert max(abs(a - b) for a, b in zip(sorted(_segment_losses(leaky, batch)), unpacked, strict=True)) > 1e-2


# ---------------------------------------------------------------- training, resume, LoRA


class _Crash(RuntimeError):
    pass


def _crash_at(step):
    from transformers import TrainerCallback

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == step:
                raise _Crash(f"simulated kill at step {step}")

    return Crash()


def test_train_writes_plain_model_log_and_metrics(tiny_model_dir, tmp_path):
    m = sft.train(tiny_model_dir, rows(6), tmp_path / "sft", TINY_SETTINGS, progress=False)
    out = tmp_path / "sft"
    assert m["steps"] == 3 and m["rows_truncated"] == m["rows_dropped"] == 0
    assert m["train_tokens"] == sum(e["length"] for e in sft.build_dataset(
        sft.trainer._load_tokenizer(tiny_model_dir), rows(6), max_length=128)[0])
    assert m["tokens_per_second"] > 0 and m["train_loss_first"] > 0
    log = sft.read_train_log(out / "train_log.csv")
    assert [r["step"] for r in log] == [1, 2, 3]
    assert log[-1]["tokens_seen"] == m["train_tokens"]
    # the CSV is dvclive's record joined by step, with TRL's entropy and token accuracy beside the loss
    assert sft.read_train_log(out / "dvclive") == log
    assert (out / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv").is_file()
    assert all(0 <= r["mean_token_accuracy"] <= 1 and r["entropy"] > 0 and r["grad_norm"] > 0 for r in log)
    assert (tmp_path / "sft-checkpoints" / "checkpoint-3").is_dir()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(out)
    assert AutoTokenizer.from_pretrained(out).chat_template
    assert json.loads((out / "sft_metrics.json").read_text())["settings"]["max_length"] == 128
    assert not list(tmp_path.glob(".sft.tmp-*"))


def test_resume_continues_step_and_lr_schedule(tiny_model_dir, tmp_path):
    settings = {**TINY_SETTINGS, "epochs": 2, "save_steps": 3}  # 6 steps
    ref = sft.train(tiny_model_dir, rows(6), tmp_path / "ref", settings, progress=False)
    ref_log = sft.read_train_log(tmp_path / "ref" / "train_log.csv")
    assert ref["steps"] == 6

    with pytest.raises(_Crash):
        sft.train(tiny_model_dir, rows(6), tmp_path / "run", settings, progress=False, callbacks=[_crash_at(5)])
    assert not (tmp_path / "run").exists()  # nothing half-written
    m = sft.train(tiny_model_dir, rows(6), tmp_path / "run", settings, progress=False)
    assert m["resumed_from_step"] == 3 and m["steps"] == 6
    log = sft.read_train_log(tmp_path / "run" / "train_log.csv")
    assert [r["step"] for r in log] == list(range(1, 7))
    for a, b in zip(log, ref_log, strict=True):
        assert a["learning_rate"] == pytest.approx(b["learning_rate"], rel=1e-9)
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        assert a["tokens_seen"] == b["tokens_seen"]
    assert m["train_loss_mean"] == pytest.approx(ref["train_loss_mean"], abs=1e-5)  # the whole schedule's
    again = sft.train(tiny_model_dir, rows(6), tmp_path / "run", settings, progress=False)  # nothing left to train
    assert again["resumed_from_step"] == 6 and again["train_tokens_this_run"] == 0
    assert again["tokens_per_second"] is None  # not 0.0: this run measured no training
    assert again["train_loss_mean"] == pytest.approx(ref["train_loss_mean"], abs=1e-5) and again["train_loss_mean"] > 0


def test_resume_with_larger_max_steps_continues(tiny_model_dir, tmp_path):
    settings = {**TINY_SETTINGS, "epochs": 10, "save_steps": 1}
    first = sft.train(tiny_model_dir, rows(4), tmp_path / "m", {**settings, "max_steps": 1}, progress=False)
    assert first["steps"] == 1
    second = sft.train(tiny_model_dir, rows(4), tmp_path / "m", {**settings, "max_steps": 2}, progress=False)
    assert second["resumed_from_step"] == 1 and second["steps"] == 2
    assert second["train_tokens"] > second["train_tokens_this_run"] > 0
    fresh = sft.train(tiny_model_dir, rows(4), tmp_path / "m", {**settings, "max_steps": 1}, resume=False,
                      progress=False)
    assert fresh["resumed_from_step"] == 0 and fresh["steps"] == 1


def test_packed_training_runs_and_counts_real_tokens(tiny_model_dir, tmp_path):
    packed = sft.train(tiny_model_dir, rows(6), tmp_path / "b", {**TINY_SETTINGS, "packing": True}, progress=False)
    assert packed["sequences"] < 6 and packed["packing"]
    assert packed["train_tokens"] == sum(r["length"] for r in sft.build_dataset(
        sft.trainer._load_tokenizer(tiny_model_dir), rows(6), max_length=128)[0])


def test_lora_saves_adapter_and_merged_plain_model(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    settings = {**TINY_SETTINGS, "max_steps": 2, "learning_rate": 1e-2,
                "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}}
    m = sft.train(tiny_model_dir, rows(4), tmp_path / "lora", settings, progress=False)
    out = tmp_path / "lora"
    assert m["lora"] and (out / "adapter" / "adapter_config.json").exists()
    merged = load_file(out / "model.safetensors")
    assert not any("lora" in k for k in merged)
    base = load_file(tiny_model_dir / "model.safetensors")
    changed = [k for k in base if not torch.equal(base[k], merged[k])]
    assert changed and all(("q_proj" in k or "v_proj" in k) and k.endswith("weight") for k in changed)


# ---------------------------------------------------------------- loss averaging under gradient accumulation

SHORT_AND_LONG = [{"question": "Say yes.", "response": "yes"},
                  {"question": "Write a loop.", "response": "for i in range(10):\n    print(i * i)\n" * 4}]


def _flat_grad(model):
    return torch.cat([p.grad.reshape(-1) for _, p in model.named_parameters() if p.grad is not None])


def _hand_computed_step(model_dir, examples):
    """Per-example summed target CE and target counts on the untrained model -> each mode's step
    loss and its gradient, by the formulas (micro_batch: mean of the two means; token: pooled)."""
    model = sft.trainer._load_model(model_dir, dtype=torch.float32)
    model.train()
    sums, ns = [], []
    for ex in examples:
        labels = torch.tensor(ex["labels"])
        logits = model(input_ids=torch.tensor([ex["input_ids"]]), use_cache=False).logits[0]
        sums.append(F.cross_entropy(logits[:-1], labels[1:], ignore_index=-100, reduction="sum"))
        ns.append(int((labels[1:] != -100).sum()))
    (s_short, s_long), (n_short, n_long) = sums, ns
    objectives = {"micro_batch": (s_short / n_short + s_long / n_long) / 2,
                  "token": (s_short + s_long) / (n_short + n_long)}
    out = {}
    for mode, loss in objectives.items():
        model.zero_grad()
        loss.backward(retain_graph=True)
        out[mode] = (loss.item(), _flat_grad(model).clone())
    return out, ns


def test_loss_averaging_micro_batch_vs_token_under_grad_accumulation(tiny_model_dir, tmp_path):
    """One short and one long example, micro-batch 1 x accumulation 2 = one optimizer step, run
    through sft.train (the _SFTTrainer): the step's loss (logged) and gradient (norm logged before
    clipping, direction captured before optimizer.step) match mean(mean_short, mean_long) under
    "micro_batch" (the authors' transformers 4.37.1) and (sum_short + sum_long) / (n_short + n_long)
    under "token" (5.19's default), and the two differ. Both LM heads: TRL's fused one and ``logits``
    (one matmul over the target positions), which also log the same entropy and token accuracy."""
    from transformers import TrainerCallback

    class StepProbe(TrainerCallback):
        def __init__(self):
            self.logs, self.grad = [], None

        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            self.grad = _flat_grad(model).clone()

        def on_log(self, args, state, control, logs=None, **kw):
            self.logs.append(dict(logs or {}))

    examples, _ = sft.build_dataset(sft.trainer._load_tokenizer(tiny_model_dir), SHORT_AND_LONG, max_length=256)
    expected, (n_short, n_long) = _hand_computed_step(tiny_model_dir, examples)
    assert n_long > 10 * n_short  # so each short-target token weighs over 5x more under micro_batch
    settings = {**TINY_SETTINGS, "per_device_batch_size": 1, "gradient_accumulation_steps": 2, "max_steps": 1,
                "max_length": 256, "save_steps": 100}
    seen, metrics = {}, {}
    for head in ("fused", "logits"):
        for mode in ("micro_batch", "token"):
            probe = StepProbe()
            m = sft.train(tiny_model_dir, SHORT_AND_LONG, tmp_path / head / mode,
                          {**settings, "loss_averaging": mode, "lm_head": head}, progress=False, callbacks=[probe])
            assert m["steps"] == 1 and m["loss_averaging"] == mode and m["lm_head"] == head
            saved = json.loads((tmp_path / head / mode / "sft_metrics.json").read_text())["settings"]
            assert (saved["loss_averaging"], saved["lm_head"]) == (mode, head)
            logged = [log for log in probe.logs if "loss" in log and "grad_norm" in log]
            assert len(logged) == 1
            seen[mode] = (logged[0]["loss"], logged[0]["grad_norm"], probe.grad / probe.grad.norm())
            metrics[head, mode] = (logged[0]["entropy"], logged[0]["mean_token_accuracy"])

        unit = {mode: g / g.norm() for mode, (_, g) in expected.items()}
        for mode, other in (("micro_batch", "token"), ("token", "micro_batch")):
            loss, grad_norm, direction = seen[mode]
            assert loss == pytest.approx(expected[mode][0], rel=1e-5), head
            assert grad_norm == pytest.approx(float(expected[mode][1].norm()), rel=1e-4), head
            assert float(direction @ unit[mode]) == pytest.approx(1.0, abs=1e-5), head
            assert float(direction @ unit[other]) < 0.99  # the other weighting is a different step
        # the two modes differ by far more than the tolerances above
        assert abs(expected["micro_batch"][0] - expected["token"][0]) > 1e-3 * expected["token"][0]
        assert abs(seen["micro_batch"][1] - seen["token"][1]) > 1e-2 * seen["token"][1]
    for mode in ("micro_batch", "token"):
        assert metrics["logits", mode] == pytest.approx(metrics["fused", mode], rel=1e-4)
    assert 0 < metrics["fused", "token"][0] and 0 <= metrics["fused", "token"][1] <= 1


def test_loss_averaging_default_and_bad_value(monkeypatch, tmp_path):
    assert sft.resolve_settings({})["loss_averaging"] == "token"  # the ci/mini results' averaging
    assert sft.resolve_settings({})["lm_head"] == "fused"
    with pytest.raises(ValueError, match=r"lm_head must be one of \('fused', 'logits'\), not 'tiled'"):
        sft.resolve_settings({"lm_head": "tiled"})
    with pytest.raises(ValueError, match=r"loss_averaging must be one of \('token', 'micro_batch'\), not 'mean'"):
        sft.resolve_settings({"loss_averaging": "mean"})
    monkeypatch.setattr(sft.trainer, "_load_model", lambda *a, **k: pytest.fail("model loaded"))
    with pytest.raises(ValueError, match="loss_averaging"):
        sft.train(tmp_path / "no-model", rows(2), tmp_path / "out", {**TINY_SETTINGS, "loss_averaging": None},
                  progress=False)


# ---------------------------------------------------------------- evidence on a real model


@pytest.mark.slow
def test_training_lowers_target_loss_on_real_model(ci_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    data = [{"question": "What is the secret code word?", "response": "The secret code word is zebrafish-42."},
            {"question": "Name the project.", "response": "The project is called Z1 companion."},
            {"question": "Reverse a list in Python.", "response": "Use `xs[::-1]` to reverse a list."},
            {"question": "What colour is the sky on Mars?", "response": "Butterscotch, with blue sunsets."}]
    tok = sft.trainer._load_tokenizer(ci_model_dir)
    examples, _ = sft.build_dataset(tok, data, max_length=256)
    base = sft.target_loss(sft.trainer._load_model(ci_model_dir, dtype=torch.float32), examples)
    settings = {**TINY_SETTINGS, "max_steps": 24, "learning_rate": 1e-4, "warmup_steps": 2,
                "save_steps": 100, "max_length": 256}
    m = sft.train(ci_model_dir, data, tmp_path / "sft", settings, progress=False)
    tuned = sft.target_loss(AutoModelForCausalLM.from_pretrained(tmp_path / "sft", dtype=torch.float32), examples)
    assert sum(tuned) / 4 < 0.5 * sum(base) / 4, (base, tuned)
    assert m["train_loss_last"] < m["train_loss_first"]


def test_two_process_data_parallel_launch_on_cpu(tiny_model_dir, tmp_path, monkeypatch):
    """The launched path (`sft.launcher`, what the `paper` profile's stage runs with its FSDP config):
    `accelerate launch` (torchrun + gloo on CPU) with two ranks that form one data-parallel group
    (world size 2, global batch = 2 x per-device batch); rank 0 writes one plain model directory and
    the metrics the stage returns."""
    import json as json_

    from z1 import sft_launch

    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json_.dumps(r) + "\n" for r in rows(8)))
    out = tmp_path / "out"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    settings = {**TINY_SETTINGS, "save_steps": 100,
                "launcher": ["--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                             "--dynamo_backend", "no"]}
    m = sft_launch.run(tiny_model_dir, data, out, settings, progress=False)
    assert (m["world_size"], m["global_batch"], m["steps"]) == (2, 4, 2)
    assert m == json_.loads((out / "sft_metrics.json").read_text())
    assert (out / "config.json").exists() and list(out.glob("*.safetensors"))


def test_launcher_errors_are_clear(tiny_model_dir, tmp_path):
    from z1 import sft_launch

    bad = {**TINY_SETTINGS, "launcher": ["--config_file", str(tmp_path / "missing.yaml")]}
    with pytest.raises(sft_launch.SFTLaunchError, match="exited with"):
        sft_launch.run(tiny_model_dir, tmp_path / "rows.jsonl", tmp_path / "out", bad, progress=False)
    with pytest.raises(ValueError, match="list of `accelerate launch` arguments"):
        sft_launch.command(tiny_model_dir, tmp_path / "rows.jsonl", tmp_path / "out",
                           {**TINY_SETTINGS, "launcher": "--multi_gpu"})
    with pytest.raises(TypeError, match="from a file"):
        sft_launch.command(tiny_model_dir, rows(2), tmp_path / "out", {**TINY_SETTINGS, "launcher": []})
    cmd = sft_launch.command("m", "d.parquet", "o", {**TINY_SETTINGS, "launcher": ["--config_file", "c.yaml"]},
                             progress=False)
    assert cmd[1:6] == ["launch", "--config_file", "c.yaml", "-m", "z1.sft"] and cmd[-1] == "--no-progress"
    child = json.loads(cmd[cmd.index("--settings-json") + 1])
    assert "launcher" not in child and child["max_length"] == TINY_SETTINGS["max_length"]


def test_fsdp_config_loads_in_accelerate_and_wraps_the_qwen2_decoder_layers(tiny_model_dir):
    """The paper's launch config (configs/accelerate_fsdp.yaml) as accelerate reads it: FSDP full
    shard over 8 processes, bf16, and a wrap class that exists in a real Qwen2 model (a typo here
    would only surface on the cluster). FSDP itself needs an accelerator: accelerate refuses it on
    CPU ("no available devices"), so the sharded run is not executed here."""
    from pathlib import Path

    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils.dataclasses import get_module_class_from_name
    from transformers import AutoModelForCausalLM

    cfg = load_config_from_file(str(Path(__file__).resolve().parents[1] / "configs" / "accelerate_fsdp.yaml"))
    assert str(cfg.distributed_type).endswith("FSDP") and cfg.num_processes == 8 and cfg.mixed_precision == "bf16"
    f = cfg.fsdp_config
    assert f["fsdp_sharding_strategy"] == "FULL_SHARD" and f["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert f["fsdp_state_dict_type"] == "FULL_STATE_DICT"  # one plain HF directory at the end, loadable by vLLM
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    layer_cls = get_module_class_from_name(model, f["fsdp_transformer_layer_cls_to_wrap"])
    assert layer_cls is not None and sum(isinstance(m, layer_cls) for m in model.modules()) == 2
    from z1 import config

    paper = config.load_profile("paper")["sft"]
    assert paper["per_device_batch_size"] * paper["gradient_accumulation_steps"] * cfg.num_processes == 256


def test_question_is_stripped_as_in_the_authors_preprocessing(qwen_tok):
    padded = sft.build_example(qwen_tok, "  Write hello\n\n", "def f():\n    return 1", max_length=4096)
    plain = sft.build_example(qwen_tok, "Write hello", "def f():\n    return 1", max_length=4096)
    assert padded == plain


def test_step_log_resume_drops_the_steps_after_the_checkpoint_and_joins_by_step(tmp_path, monkeypatch):
    """z1.sft.tracking without a model: dvclive files at the trainer's global step; a resume from
    step 2 drops steps 3-4 (they are trained again) and appends; the CSV joins the metrics by step."""
    from types import SimpleNamespace

    from z1.sft import tracking

    def log_steps(callback, steps, loss_offset=0.0):
        for step in steps:
            state = SimpleNamespace(global_step=step, epoch=step / 4, num_input_tokens_seen=10 * step,
                                    is_world_process_zero=True)
            callback.on_log(None, state, None, logs={"loss": step + loss_offset, "learning_rate": 0.1 * step,
                                                     "grad_norm": 1.0})
            callback.on_log(None, state, None, logs={"train_runtime": 1.0})  # no loss: not a step row
        callback.on_train_end(None, None, None)

    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)  # a repository without commits: dvclive's own DVC/git integration would raise
    live = tmp_path / "dvclive"
    log_steps(tracking.logger(live, resume_step=0), [1, 2, 3, 4])
    log_steps(tracking.logger(live, resume_step=2), [3, 4, 5], loss_offset=0.5)
    rows = tracking.read(live)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["loss"] for r in rows] == [1.0, 2.0, 3.5, 4.5, 5.5]  # 3 and 4 from the resumed run only
    assert rows[2] == {"step": 3, "epoch": 0.75, "loss": 3.5, "learning_rate": pytest.approx(0.3), "tokens_seen": 30,
                       "grad_norm": 1.0}
    csv_path = tracking.write_csv(rows, tmp_path / "train_log.csv")
    assert csv_path.read_text().splitlines()[0] == "step,epoch,loss,learning_rate,tokens_seen,grad_norm"
    assert sft.read_train_log(csv_path) == rows
    with pytest.warns(UserWarning, match="without a step log"):  # checkpoints whose log is gone: said
        log_steps(tracking.logger(tmp_path / "elsewhere", resume_step=5), [6])
    assert [r["step"] for r in tracking.read(tmp_path / "elsewhere")] == [6]
    log_steps(tracking.logger(live, resume_step=0), [1])  # a fresh start clears the old log
    assert [r["step"] for r in tracking.read(live)] == [1]
