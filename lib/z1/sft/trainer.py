"""The training loop around TRL's SFTTrainer: settings, step arithmetic, model and tokenizer loading,
checkpoints and resume, the step log (dvclive, ``z1.sft.tracking``), the atomic final save, and the
per-example target loss.

What TRL takes over: the training loop, the loss (its fused LM head computes the target tokens'
log-probabilities in chunks, without the full logits) and its entropy and token-accuracy metrics.
``lm_head: logits`` replaces the fused head by one LM-head matmul over the positions that have a
target (``logits_to_keep``) and the same loss and metrics from those logits: on CPU the tiled head
trained the mini LoRA 1.2x slower (``benchmarks/bench_sft.py --lm-head``); for long sequences on GPUs
the fused head's memory saving is what counts.
What stays ours, and why: the examples are tokenized, label-masked and packed by
``z1.sft.examples`` and handed to TRL as-is (``skip_prepare_dataset``). The authors' recipe formats
one user turn with Qwen's default system prompt and masks exactly the prompt, and the pinned
label-mask tests check those ids. TRL's own preparation would build the prompt from its chat-template
handling and its "bfd" packing re-orders and splits rows, so the authors' rows would not be
reproduced exactly."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from z1 import atomic
from z1.dtypes import torch_dtype
from z1.sft import DEFAULT_SETTINGS, LM_HEADS, LOSS_AVERAGING, tracking
from z1.sft.examples import SFTCollator, build_dataset, pack_examples, validate_rows

# --------------------------------------------------------------------------------------------
# Step arithmetic
# --------------------------------------------------------------------------------------------


def steps_for(n_rows: int, *, epochs: float, per_device_batch_size: int, grad_accum: int, world_size: int,
              rounding: str = "floor") -> int:
    """Optimizer steps the HF Trainer runs for ``n_rows`` rows (no packing).

    Each of ``world_size`` ranks gets ceil(n_rows / world_size) rows (the distributed sampler
    pads to equal shards); its dataloader (drop_last=False) yields ceil(that / per_device_batch)
    micro-batches; updates per epoch = micro-batches / grad_accum, rounded **down** by the
    transformers releases of the authors' time (the remainder micro-batches are skipped) or **up**
    by transformers 5.19 (``rounding="ceil"``: the remainder makes one short update).

    The paper: 107,173 rows, 8 GPUs x 2 x 16 = 256 per update, 2 epochs →
    ceil(107173/8) = 13,397 rows per rank → 6,699 micro-batches → floor(6699/16) = 418 updates per
    epoch → **836 steps**, the number the authors report (5.19's rounding would give 838). With the
    article's batch of 128 (8 x 1 x 16, or 8 x 2 x 8) the same arithmetic gives 1,674, so the
    reported 836 comes from 256.
    """
    if rounding not in ("floor", "ceil"):
        raise ValueError("rounding must be 'floor' or 'ceil'")
    per_rank = math.ceil(n_rows / world_size)
    micro_batches = math.ceil(per_rank / per_device_batch_size)
    if rounding == "floor":
        per_epoch = max(micro_batches // grad_accum, 1)
    else:
        per_epoch = max(math.ceil(micro_batches / grad_accum), 1)
    return math.ceil(epochs * per_epoch)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def resolve_settings(settings: Mapping[str, Any] | None) -> dict:
    s = dict(DEFAULT_SETTINGS)
    s.update({k: v for k, v in (settings or {}).items()})
    import torch

    if s["dtype"] in (None, "auto"):
        s["dtype"] = "bfloat16" if torch.cuda.is_available() else "float32"
    if s["overflow"] not in ("truncate", "drop"):
        raise ValueError(f"overflow must be 'truncate' or 'drop', not {s['overflow']!r}")
    if s["loss_averaging"] not in LOSS_AVERAGING:
        raise ValueError(f"loss_averaging must be one of {LOSS_AVERAGING}, not {s['loss_averaging']!r}")
    if s["lm_head"] not in LM_HEADS:
        raise ValueError(f"lm_head must be one of {LM_HEADS}, not {s['lm_head']!r}")
    return s


def _load_tokenizer(model_dir):
    from transformers import AutoTokenizer

    from z1.checkpoint import check_tokenizer_dir

    check_tokenizer_dir(model_dir)  # missing or damaged: named, with the command that restores it
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def _load_model(model_dir, *, dtype, attn_implementation: str = "sdpa"):
    """Load the base model (a separate function so tests can check it is not reached)."""
    from transformers import AutoModelForCausalLM

    from z1.checkpoint import check_model_dir

    check_model_dir(model_dir)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype, attn_implementation=attn_implementation)
    model.config.use_cache = False  # a KV cache in training would also disable packed-sequence masking
    return model


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def default_checkpoint_dir(out_dir) -> Path:
    out_dir = Path(out_dir)
    return out_dir.parent / f"{out_dir.name}-checkpoints"


def _make_trainer_class():
    from trl import SFTTrainer

    class _SFTTrainer(SFTTrainer):
        """TRL's SFTTrainer that counts non-padding tokens itself (the packed batches have no
        attention mask for Trainer's own non-padding count); the count lives in TrainerState, so it
        is checkpointed and restored on resume.

        ``loss_averaging="micro_batch"`` reproduces the authors' transformers 4.37.1: each
        micro-batch's loss is the mean over its own target tokens, divided by the accumulation
        steps (the step sees the mean of micro-batch means; DDP/FSDP then average the ranks). TRL's
        loss is the micro-batch mean when it gets no ``num_items_in_batch``, and with
        ``model_accepts_loss_kwargs`` off Trainer divides it by the accumulation steps and skips the
        x world-size rescale. ``"token"`` leaves the default (sum over the global batch / its target
        tokens)."""

        def __init__(self, *args, loss_averaging: str = "token", lm_head: str = "fused", **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_averaging, self.lm_head = loss_averaging, lm_head
            if loss_averaging == "micro_batch":
                self.model_accepts_loss_kwargs = False

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if self.loss_averaging == "micro_batch":
                num_items_in_batch = None
            if self.lm_head == "fused" or return_outputs:
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            return self._logits_loss(model, inputs, num_items_in_batch)

        def _logits_loss(self, model, inputs, num_items_in_batch):
            """TRL's loss and metrics (sum of the targets' -log p over ``num_items_in_batch``, else over
            this micro-batch's targets; entropy and top-1 accuracy over the targets) from the logits of
            the positions that predict a target, in one LM-head matmul."""
            import torch

            labels = inputs["labels"]
            target = labels[:, 1:]
            keep = (target != -100).any(dim=0).nonzero().squeeze(-1)  # positions whose next token is a target
            forward = {k: v for k, v in inputs.items() if k != "labels"}
            logits = model(**forward, use_cache=False, logits_to_keep=keep).logits.float()
            target = target[:, keep]
            mask = target != -100
            log_probs = torch.log_softmax(logits, dim=-1)
            picked = log_probs.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            n = mask.sum() if num_items_in_batch is None else num_items_in_batch
            loss = -(picked * mask).sum() / torch.as_tensor(n).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * (self.accelerator.num_processes // self.get_tp_size())  # as TRL: DDP averages
            with torch.no_grad():
                mode = "train" if model.training else "eval"
                lp = log_probs[mask]
                entropy = -(lp.exp() * lp).sum(-1)
                top1 = lp.argmax(-1) == target[mask]
                valid = self.accelerator.gather_for_metrics(mask.sum()).sum()
                ent = self.accelerator.gather_for_metrics(entropy.sum()).sum()
                correct = self.accelerator.gather_for_metrics(top1.sum()).sum()
                self._metrics[mode]["entropy"].append((ent / valid).item() if valid > 0 else 0.0)
                self._metrics[mode]["mean_token_accuracy"].append((correct / valid).item() if valid > 0 else 0.0)
            return loss

        def training_step(self, model, inputs, num_items_in_batch=None):
            n = inputs.pop("num_real_tokens", None)
            if n is not None:
                n = n.to(self.args.device) if hasattr(n, "to") else n
                self.state.num_input_tokens_seen += int(self.accelerator.gather(n.reshape(1)).sum().item())
            return super().training_step(model, inputs, num_items_in_batch)

    return _SFTTrainer


def read_train_log(path) -> list[dict]:
    """The step log: a ``train_log.csv`` or the dvclive directory it was joined from."""
    path = Path(path)
    return tracking.read(path) if path.is_dir() else tracking.read_csv(path)


def train(model_dir, rows, out_dir, settings: Mapping[str, Any], *, resume: bool = True, progress: bool = True,
          callbacks: Iterable[Any] = ()) -> dict:
    """Fine-tune ``model_dir`` on ``rows`` (question/response) and write a plain HF model to ``out_dir``.

    ``settings`` are the params' ``sft`` keys (see DEFAULT_SETTINGS). Rows are validated and
    tokenized before the model is loaded (bad data raises SFTDataError first). Returns metrics:
    train loss first/last, steps, train tokens, tokens/s, runtime, rows truncated/dropped, ...
    """
    s = resolve_settings(settings)
    rows = validate_rows(rows)  # before anything heavy
    out_dir = Path(out_dir)
    ckpt_dir = Path(s["checkpoint_dir"]) if s["checkpoint_dir"] else default_checkpoint_dir(out_dir)

    tokenizer = _load_tokenizer(model_dir)
    examples, report = build_dataset(tokenizer, rows, max_length=int(s["max_length"]), overflow=s["overflow"])
    items = pack_examples(examples, max_length=int(s["max_length"])) if s["packing"] else examples
    report["sequences"] = len(items)

    import torch
    from datasets import Dataset
    from transformers import set_seed
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTConfig

    set_seed(int(s["seed"]))
    compute_dtype = torch_dtype(s["dtype"])
    lora = s["lora"]
    load_dtype = compute_dtype if lora else torch_dtype(s["master_dtype"] or s["dtype"])
    if not torch.cuda.is_available() and compute_dtype == torch.float32:
        load_dtype = torch.float32
    model = _load_model(model_dir, dtype=load_dtype, attn_implementation=s["attn_implementation"])
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            r=int(lora.get("r", 16)), lora_alpha=int(lora.get("alpha", 32)), lora_dropout=float(lora.get("dropout", 0.0)),
            target_modules=lora.get("target_modules") or "all-linear", task_type="CAUSAL_LM"))
        if s["gradient_checkpointing"]:
            model.enable_input_require_grads()

    use_cuda = torch.cuda.is_available()
    mixed_bf16 = compute_dtype == torch.bfloat16 and load_dtype != torch.bfloat16
    mixed_fp16 = compute_dtype == torch.float16 and load_dtype != torch.float16
    args = SFTConfig(
        output_dir=str(ckpt_dir),
        # the examples arrive tokenized, masked, truncated and (if asked) packed: TRL prepares nothing
        dataset_kwargs={"skip_prepare_dataset": True}, max_length=None, packing=False, padding_free=False,
        num_train_epochs=float(s["epochs"]),
        max_steps=int(s["max_steps"]) if s["max_steps"] else -1,
        learning_rate=float(s["learning_rate"]),
        lr_scheduler_type=s["lr_scheduler"],
        warmup_steps=int(s["warmup_steps"]),
        weight_decay=float(s["weight_decay"]),
        per_device_train_batch_size=int(s["per_device_batch_size"]),
        gradient_accumulation_steps=int(s["gradient_accumulation_steps"]),
        gradient_checkpointing=bool(s["gradient_checkpointing"]),
        gradient_checkpointing_kwargs={"use_reentrant": False} if s["gradient_checkpointing"] else None,
        bf16=mixed_bf16, fp16=mixed_fp16, tf32=True if use_cuda else None,
        optim="adamw_torch",
        seed=int(s["seed"]), data_seed=int(s["seed"]),
        save_strategy="steps", save_steps=int(s["save_steps"]), save_total_limit=s["save_total_limit"],
        logging_strategy="steps", logging_steps=int(s["logging_steps"]), logging_first_step=True,
        report_to="none", remove_unused_columns=False, dataloader_drop_last=False,
        disable_tqdm=not progress, use_cpu=not use_cuda,
        include_num_input_tokens_seen="no",  # counted by _SFTTrainer (also for packed batches)
    )

    last = get_last_checkpoint(str(ckpt_dir)) if (resume and ckpt_dir.is_dir()) else None
    resume_step = 0
    if last:
        resume_step = json.loads((Path(last) / "trainer_state.json").read_text())["global_step"]
    elif ckpt_dir.is_dir() and not resume and _is_main_process():
        shutil.rmtree(ckpt_dir)  # a fresh start must not mix with old checkpoints
    live_dir = ckpt_dir / "dvclive"
    trainer = _make_trainer_class()(
        loss_averaging=s["loss_averaging"], lm_head=s["lm_head"], model=model, args=args, train_dataset=Dataset.from_list(items),
        data_collator=SFTCollator(tokenizer.pad_token_id, packing=bool(s["packing"])),
        processing_class=tokenizer,
        callbacks=[tracking.logger(live_dir, resume_step=resume_step, main_process=_is_main_process()), *callbacks],
    )
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=last)
    runtime = time.time() - t0
    session_tokens = trainer.state.num_input_tokens_seen - getattr(trainer, "_initial_num_input_tokens_seen", 0)

    # ---- final save: temp dir, then rename ----
    save_dtype = torch_dtype(s["save_dtype"] or s["dtype"])
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if _is_main_process() and tmp.exists():
        shutil.rmtree(tmp)
    if lora:
        trainer.save_model(str(tmp / "adapter"))
    else:
        trainer.save_model(str(tmp))
    trainer.accelerator.wait_for_everyone()

    log = tracking.read(live_dir) if live_dir.is_dir() else []
    metrics = {
        "train_loss_first": log[0]["loss"] if log else None,
        "train_loss_last": log[-1]["loss"] if log else None,
        # over the whole schedule, also when this run resumed (a run resumed at its last step trains nothing)
        "train_loss_mean": (sum(r["loss"] for r in log) / len(log)) if log else float(result.training_loss),
        "steps": int(trainer.state.global_step),
        "max_steps": int(trainer.state.max_steps),
        "resumed_from_step": resume_step,
        "epochs": float(trainer.state.epoch or 0),
        "train_tokens": int(trainer.state.num_input_tokens_seen),
        "train_tokens_this_run": int(session_tokens),
        "tokens_per_second": session_tokens / runtime if runtime > 0 and session_tokens else None,  # None: nothing trained
        "runtime_s": runtime,
        "rows": report["rows"], "rows_kept": report["kept"],
        "rows_truncated": report["truncated"], "rows_dropped": report["dropped"],
        "sequences": report["sequences"], "target_tokens_per_epoch": report["target_tokens"],
        "packing": bool(s["packing"]), "lora": bool(lora), "dtype": s["dtype"],
        "loss_averaging": s["loss_averaging"], "lm_head": s["lm_head"],
        "world_size": _world_size(),
        "global_batch": int(s["per_device_batch_size"]) * int(s["gradient_accumulation_steps"]) * _world_size(),
    }
    if _is_main_process():
        del model, trainer
        _finalize(tmp, model_dir, tokenizer, save_dtype, lora=bool(lora))
        if live_dir.is_dir():
            shutil.copytree(live_dir, tmp / "dvclive")
        tracking.write_csv(log, tmp / "train_log.csv")
        (tmp / "data_report.json").write_text(json.dumps(report, indent=2))
        (tmp / "sft_metrics.json").write_text(json.dumps({**metrics, "settings": _jsonable(s)}, indent=2))
        atomic.replace_dir(tmp, out_dir)
    return metrics


def _finalize(tmp: Path, model_dir, tokenizer, save_dtype, *, lora: bool):
    """Make ``tmp`` a plain HF model directory in ``save_dtype`` (merging LoRA into the base)."""
    import torch
    from transformers import AutoModelForCausalLM

    if lora:
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
        merged = PeftModel.from_pretrained(base, str(tmp / "adapter")).merge_and_unload()
        merged.to(save_dtype).save_pretrained(str(tmp))
    else:
        cfg = json.loads((tmp / "config.json").read_text())
        saved = cfg.get("dtype") or cfg.get("torch_dtype")
        if saved != str(save_dtype).removeprefix("torch."):
            model = AutoModelForCausalLM.from_pretrained(str(tmp), dtype=save_dtype)
            for f in tmp.glob("*.safetensors*"):
                f.unlink()
            model.save_pretrained(str(tmp))
    cfg_path = tmp / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["use_cache"] = True  # the trained model is for generation
    cfg_path.write_text(json.dumps(cfg, indent=2))
    tokenizer.save_pretrained(str(tmp))
    for junk in ("training_args.bin",):
        (tmp / junk).unlink(missing_ok=True)


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


# --------------------------------------------------------------------------------------------
# Per-example loss (used by tests and notebooks to compare models on the training targets)
# --------------------------------------------------------------------------------------------


def target_loss(model, examples: Sequence[dict]) -> list[float]:
    """Mean cross-entropy over each example's target tokens, one example at a time."""
    import torch

    losses = []
    model.eval()
    with torch.no_grad():
        for ex in examples:
            ids = torch.tensor([ex["input_ids"]])
            out = model(input_ids=ids, labels=torch.tensor([ex["labels"]]), use_cache=False)
            losses.append(float(out.loss))
    return losses
