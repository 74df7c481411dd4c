"""Supervised fine-tuning (SFT) on reasoning trajectories, following the Z1 authors' recipe.

What the authors did (paper-notes §3) and how it maps onto this module:

* **Formatting.** One user turn = the question, rendered by the tokenizer's chat template with
  no system message (so Qwen's default "You are Qwen, created by Alibaba Cloud..." system prompt
  appears), then the generation prompt ``<|im_start|>assistant\\n``. The target is
  ``response + <|im_end|>`` (the template's end-of-turn marker for non-Qwen templates). Loss only
  on the target: prompt labels are -100. Prompt and target are tokenized separately and
  concatenated, i.e. exactly the ids the model sees at inference (prompt alone, then generation).
  See :func:`build_example`.
* **No packing** (the paper). ``packing=True`` is an explicit option: several examples share a
  sequence; position ids restart at every example and, with no 2D attention mask, transformers
  (5.19, sdpa/eager) builds a block-diagonal causal mask from the restarting position ids, so
  neither attention nor loss crosses example boundaries (checked in tests/test_sft.py).
* **Optimisation.** 2 epochs, AdamW, lr 1e-5, cosine, 100 warmup steps, weight decay 0, seed 42,
  gradient checkpointing, bf16 (+tf32) on CUDA — all come from params (the ``sft`` section), none
  is hard-coded here. Training uses the transformers ``Trainer`` (TRL's SFTTrainer is not needed:
  we tokenize and mask ourselves and only need the optimisation loop, checkpoints and resume).
  ``loss_averaging``: ``"token"`` (default, transformers 5.19: token losses summed over the whole
  accumulated global batch / its target tokens) or ``"micro_batch"`` (the authors' transformers
  4.37.1: mean of per-micro-batch token means, which weights short trajectories more).
* **Batch: 256 (script) vs 128 (paper text).** The authors' script runs 8 GPUs x 2 per device x 16
  accumulation = 256 sequences per update; the article says 128. The reported 836 steps only
  follow from 256 (:func:`steps_for`), so the ``paper`` profile uses 256 and records the choice.
* **Max length.** The script never sets ``model_max_length``, so its training code falls back to
  512 tokens and truncates nearly every trajectory — an accident, not a choice. The authors'
  earlier Z1-Coder script used 16384. We use a real length (16384 for ``paper``: responses are
  capped at 8,192 tokens, so nothing should be cut) and count every row over ``max_length``:
  ``overflow="truncate"`` keeps the prefix, ``overflow="drop"`` removes the row; both are
  reported, never silent.
* **Precision.** On CPU compute in float32 (bf16 matmuls are ~100x slower on AVX2 CPUs). On CUDA
  the compute dtype is bfloat16 via autocast while a full fine-tune keeps float32 master weights
  (``master_dtype``, default float32): the authors' s1-derived script loaded fp32 weights and let
  FSDP/autocast compute in bf16; pure-bf16 weights would round most lr=1e-5 AdamW updates away.
  LoRA loads the frozen base directly in the compute dtype. The final model is saved in
  ``save_dtype`` (default: the compute dtype).

Outputs of :func:`train`: ``out_dir`` is a plain Hugging Face model directory (LoRA merged into
the base; the adapter kept in ``out_dir/adapter``) with the tokenizer, ``train_log.csv``
(step, epoch, loss, learning_rate, tokens_seen), ``data_report.json`` and ``sft_metrics.json``.
Checkpoints go to ``out_dir/../<name>-checkpoints`` (or ``settings["checkpoint_dir"]``);
``resume=True`` continues from the last one (global step, optimizer, LR schedule, data order).
The final directory appears atomically (written to a temp dir, then renamed).

Run it::

    python -m z1.sft --model-dir models/base --data data/trajectories.parquet --out models/sft \\
        --settings-json '{"epochs": 1, "max_steps": 20, ...}'
    python -m z1.sft --profile mini   # settings: params.yaml `mini.sft` (+ compute.dtype);
                                      # paths: z1.paths (models/mini/pretrained/base -> models/mini/sft)

The one documented multi-GPU command (8 GPUs, FSDP full shard, bf16)::

    accelerate launch --config_file configs/accelerate_fsdp.yaml -m z1.sft --profile paper

which is also what the pipeline's `sft` stage runs on `paper` (``sft.launcher``, see ``z1.sft_launch``).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

IGNORE_INDEX = -100
REQUIRED_COLUMNS = ("question", "response")

# Defaults for optional settings; everything the paper fixes comes from params.
DEFAULT_SETTINGS: dict[str, Any] = {
    "epochs": 1,
    "max_steps": None,
    "learning_rate": 1e-5,
    "lr_scheduler": "cosine",
    "warmup_steps": 0,
    "weight_decay": 0.0,
    "per_device_batch_size": 1,
    "gradient_accumulation_steps": 1,
    "max_length": 4096,
    "overflow": "truncate",
    "packing": False,
    "gradient_checkpointing": False,
    "dtype": "auto",  # float32 on CPU, bfloat16 on CUDA
    "master_dtype": "float32",  # weights the optimizer updates in a full fine-tune
    "save_dtype": None,  # None = the compute dtype
    "seed": 42,
    "lora": None,
    "save_steps": 500,
    "save_total_limit": 2,
    "logging_steps": 1,
    "checkpoint_dir": None,
    "attn_implementation": "sdpa",
    "loss_averaging": "token",  # transformers 5.19's default; "micro_batch" = the authors' 4.37.1
}
LOSS_AVERAGING = ("token", "micro_batch")


class SFTDataError(ValueError):
    """The training rows cannot be used (empty, missing columns, empty fields, all dropped)."""


# --------------------------------------------------------------------------------------------
# Data: validation, formatting, label masking
# --------------------------------------------------------------------------------------------


def load_rows(source: Any) -> list[dict]:
    """Rows as a list of dicts from a list, a pandas DataFrame, a datasets.Dataset, a
    .jsonl/.json/.parquet/.csv path, or a hub dataset id (``train`` split; needs network)."""
    if source is None:
        raise SFTDataError("no training data given")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.exists():
            suffix = path.suffix.lower()
            if suffix == ".jsonl":
                rows = []
                for i, raw in enumerate(path.read_bytes().splitlines(), 1):
                    if not raw.strip():
                        continue
                    try:
                        rows.append(json.loads(raw.decode("utf-8")))
                    except (UnicodeDecodeError, json.JSONDecodeError) as e:
                        raise SFTDataError(f"{path}:{i}: not a UTF-8 JSON row ({e})") from None
                return rows
            if suffix == ".json":
                data = json.loads(path.read_text())
                return list(data["rows"] if isinstance(data, dict) and "rows" in data else data)
            if suffix in (".parquet", ".csv"):
                import pandas as pd

                frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
                return frame.to_dict("records")
            raise SFTDataError(f"unsupported data file type: {path}")
        if "/" in str(source) and not str(source).startswith((".", "/")):
            import datasets

            return list(datasets.load_dataset(str(source), split="train"))
        raise SFTDataError(f"data file not found: {source}")
    if hasattr(source, "to_dict") and hasattr(source, "columns"):  # pandas DataFrame
        return source.to_dict("records")
    if isinstance(source, Mapping):
        raise SFTDataError("expected a sequence of rows, got a single mapping")
    return list(source)


def validate_rows(rows: Any) -> list[dict]:
    """Return the rows as a list of dicts, or raise SFTDataError saying what is wrong."""
    rows = load_rows(rows)
    if len(rows) == 0:
        raise SFTDataError("the training data has zero rows")
    problems: list[str] = []
    first_row_of: dict = {}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            problems.append(f"row {i}: not a mapping ({type(row).__name__})")
            continue
        missing = [c for c in REQUIRED_COLUMNS if c not in row]
        if missing:
            problems.append(f"row {i}: missing column(s) {missing} (has {sorted(row)[:8]})")
            continue
        for col in REQUIRED_COLUMNS:
            value = row[col]
            if not isinstance(value, str):
                problems.append(f"row {i}: {col!r} is {type(value).__name__}, not str")
            elif not value.strip():
                problems.append(f"row {i}: empty {col!r}")
            else:
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as e:
                    problems.append(f"row {i}: {col!r} is not valid UTF-8 text (character {e.start})")
        ident = row.get("id")
        if ident is not None:
            if ident in first_row_of:
                problems.append(f"row {i}: id {ident!r} duplicates row {first_row_of[ident]} (each problem once)")
            else:
                first_row_of[ident] = i
        if len(problems) >= 20:
            break
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and more ({len(problems)}+ problems)" if len(problems) > 10 else ""
        raise SFTDataError(f"malformed training data ({len(rows)} rows):\n  {shown}{more}")
    return rows


def prompt_text(tokenizer, question: str) -> str:
    """The chat-formatted prompt: one user turn (the question ``.strip()``-ed, as the authors'
    preprocessing did), no system message, generation prompt."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": question.strip()}], tokenize=False, add_generation_prompt=True
    )


def end_of_turn(tokenizer) -> str:
    """The text the chat template puts after an assistant message (``<|im_end|>`` for Qwen),
    trailing whitespace removed — the authors' target ends with ``<|im_end|>``, no newline."""
    cached = getattr(tokenizer, "_z1_end_of_turn", None)
    if cached is not None:
        return cached
    sentinel = "Z1SENTINEL"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": sentinel}], tokenize=False
    )
    tail = text[text.rindex(sentinel) + len(sentinel) :].rstrip()
    if not tail:
        tail = tokenizer.eos_token or ""
    if not tail:
        raise ValueError("cannot determine the chat template's end-of-turn marker")
    try:
        tokenizer._z1_end_of_turn = tail
    except AttributeError:
        pass
    return tail


def _assemble(prompt_ids: list[int], target_ids: list[int], max_length: int, overflow: str):
    """Join prompt and target ids; returns (example or None, status) with status in
    {"ok", "truncated", "dropped"}."""
    total = len(prompt_ids) + len(target_ids)
    if total <= max_length:
        ids = list(prompt_ids) + list(target_ids)
        labels = [IGNORE_INDEX] * len(prompt_ids) + list(target_ids)
        status = "ok"
    elif overflow == "drop":
        return None, "dropped"
    elif overflow == "truncate":
        if len(prompt_ids) >= max_length:  # nothing of the target would remain: nothing to learn
            return None, "dropped"
        keep = max_length - len(prompt_ids)
        ids = list(prompt_ids) + list(target_ids[:keep])
        labels = [IGNORE_INDEX] * len(prompt_ids) + list(target_ids[:keep])
        status = "truncated"
    else:
        raise ValueError(f"overflow must be 'truncate' or 'drop', not {overflow!r}")
    return {"input_ids": ids, "labels": labels, "length": len(ids), "overflow_tokens": total - len(ids)}, status


def build_example(tokenizer, question: str, response: str, *, max_length: int, overflow: str = "truncate"):
    """Tokenize one (question, response) pair as the authors did.

    Returns ``{"input_ids", "labels", "length", "overflow_tokens"}`` — labels are -100 over the
    prompt and equal to the ids over ``response + end-of-turn`` — or None when the example is
    over ``max_length`` and ``overflow="drop"`` (or the prompt alone fills ``max_length``).
    """
    p = tokenizer(prompt_text(tokenizer, question), add_special_tokens=False)["input_ids"]
    t = tokenizer(response + end_of_turn(tokenizer), add_special_tokens=False)["input_ids"]
    return _assemble(p, t, max_length, overflow)[0]


def build_dataset(tokenizer, rows: Any, *, max_length: int, overflow: str = "truncate", batch_size: int = 512):
    """Tokenize every row; returns (examples, report).

    The report counts rows over ``max_length`` (``truncated`` / ``dropped``, by ``overflow``)
    and warns when any row was cut. Raises SFTDataError on bad rows or when nothing is left.
    """
    if overflow not in ("truncate", "drop"):
        raise ValueError(f"overflow must be 'truncate' or 'drop', not {overflow!r}")
    rows = validate_rows(rows)
    eot = end_of_turn(tokenizer)
    examples: list[dict] = []
    report = {"rows": len(rows), "kept": 0, "truncated": 0, "dropped": 0, "max_length": max_length,
              "overflow": overflow, "prompt_tokens": 0, "target_tokens": 0, "longest_row_tokens": 0,
              "overflow_tokens": 0}
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        prompts = tokenizer([prompt_text(tokenizer, r["question"]) for r in chunk], add_special_tokens=False)
        targets = tokenizer([r["response"] + eot for r in chunk], add_special_tokens=False)
        for p, t in zip(prompts["input_ids"], targets["input_ids"], strict=True):
            report["longest_row_tokens"] = max(report["longest_row_tokens"], len(p) + len(t))
            example, status = _assemble(p, t, max_length, overflow)
            if status != "ok":
                report[status] += 1
                report["overflow_tokens"] += len(p) + len(t) - (example["length"] if example else 0)
            if example is None:
                continue
            report["prompt_tokens"] += len(p)
            report["target_tokens"] += sum(1 for x in example["labels"] if x != IGNORE_INDEX)
            examples.append(example)
    report["kept"] = len(examples)
    if report["truncated"] or report["dropped"]:
        warnings.warn(
            f"SFT data: {report['truncated']} row(s) truncated and {report['dropped']} dropped "
            f"at max_length={max_length} (overflow={overflow!r}); longest row {report['longest_row_tokens']} tokens",
            stacklevel=2,
        )
    if not examples:
        raise SFTDataError(f"no trainable rows left: all {len(rows)} rows exceed max_length={max_length}")
    return examples, report


# --------------------------------------------------------------------------------------------
# Packing and collation
# --------------------------------------------------------------------------------------------


def pack_examples(examples: Sequence[dict], *, max_length: int) -> list[dict]:
    """Best-fit-decreasing packing of examples into sequences of at most ``max_length`` tokens.

    Each pack has ``input_ids``, ``labels`` (each example's own labels; its first label is the
    prompt's -100, so no loss crosses a boundary) and ``position_ids`` restarting at 0 for every
    example, which is what makes transformers mask attention block-diagonally.
    """
    order = sorted(range(len(examples)), key=lambda i: (-examples[i]["length"], i))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # sorted (remaining capacity, bin index)
    for i in order:
        n = examples[i]["length"]
        k = bisect.bisect_left(free, (n, -1))
        if k < len(free):
            remaining, b = free.pop(k)
            bins[b].append(i)
            bisect.insort(free, (remaining - n, b))
        else:
            bins.append([i])
            bisect.insort(free, (max_length - n, len(bins) - 1))
    packs = []
    for members in bins:
        ids, labels, pos = [], [], []
        for i in members:
            ex = examples[i]
            ids += ex["input_ids"]
            lab = list(ex["labels"])
            lab[0] = IGNORE_INDEX
            labels += lab
            pos += list(range(ex["length"]))
        packs.append({"input_ids": ids, "labels": labels, "position_ids": pos, "length": len(ids),
                      "n_examples": len(members)})
    return packs


class SFTCollator:
    """Right-pads a micro-batch. Unpacked: input_ids/labels/attention_mask. Packed: input_ids,
    labels, position_ids and no attention mask (padding forms its own position block, labels
    -100). Both add ``num_real_tokens`` (non-padding tokens) for the tokens-seen count."""

    def __init__(self, pad_token_id: int, packing: bool = False):
        self.pad_token_id = pad_token_id
        self.packing = packing

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids, labels, extra = [], [], []
        for f in features:
            pad = width - len(f["input_ids"])
            ids.append(list(f["input_ids"]) + [self.pad_token_id] * pad)
            labels.append(list(f["labels"]) + [IGNORE_INDEX] * pad)
            if self.packing:
                extra.append(list(f["position_ids"]) + list(range(pad)))
            else:
                extra.append([1] * len(f["input_ids"]) + [0] * pad)
        batch = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels)}
        batch["position_ids" if self.packing else "attention_mask"] = torch.tensor(extra)
        if self.packing:
            # With a KV cache object present, transformers skips packed-sequence detection and
            # attention leaks across examples (measured): force it off for packed batches.
            batch["use_cache"] = False
        batch["num_real_tokens"] = torch.tensor(sum(len(f["input_ids"]) for f in features))
        return batch


class _ListDataset:
    def __init__(self, items: list[dict]):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


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
    return s


def _torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
            "float16": torch.float16, "fp16": torch.float16}[str(name)]


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


LOG_FIELDS = ("step", "epoch", "loss", "learning_rate", "tokens_seen")


def _make_trainer_class():
    from transformers import Trainer

    class _SFTTrainer(Trainer):
        """Trainer that counts non-padding tokens itself (the packed batches have no attention
        mask for Trainer's own non-padding count); the count lives in TrainerState, so it is
        checkpointed and restored on resume.

        ``loss_averaging="micro_batch"`` reproduces the authors' transformers 4.37.1: each
        micro-batch's loss is the mean over its own target tokens, divided by the accumulation
        steps (the step sees the mean of micro-batch means; DDP/FSDP then average the ranks).
        With ``model_accepts_loss_kwargs`` off, 5.19 does exactly that: it counts no
        ``num_items_in_batch``, the model returns its per-micro-batch mean, ``training_step``
        divides by the accumulation steps and ``compute_loss`` skips the x world-size rescale.
        ``"token"`` leaves 5.19's default (sum over the global batch / its target tokens)."""

        def __init__(self, *args, loss_averaging: str = "token", **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_averaging = loss_averaging
            if loss_averaging == "micro_batch":
                self.model_accepts_loss_kwargs = False

        def training_step(self, model, inputs, num_items_in_batch=None):
            n = inputs.pop("num_real_tokens", None)
            if n is not None:
                n = n.to(self.args.device) if hasattr(n, "to") else n
                self.state.num_input_tokens_seen += int(self.accelerator.gather(n.reshape(1)).sum().item())
            return super().training_step(model, inputs, num_items_in_batch)

    return _SFTTrainer


def _csv_logger(path: Path, resume_step: int):
    from transformers import TrainerCallback

    # On resume keep the rows up to the checkpoint's step; the later ones are re-done.
    kept: list[dict] = []
    if path.exists() and resume_step > 0:
        with path.open() as f:
            kept = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
    if _is_main_process():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            w.writeheader()
            w.writerows(kept)

    class CSVLogger(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs or not state.is_world_process_zero:
                return
            with path.open("a", newline="") as f:
                csv.DictWriter(f, fieldnames=LOG_FIELDS).writerow({
                    "step": state.global_step, "epoch": round(float(state.epoch or 0), 6),
                    "loss": float(logs["loss"]), "learning_rate": float(logs.get("learning_rate", float("nan"))),
                    "tokens_seen": int(state.num_input_tokens_seen),
                })

    return CSVLogger()


def read_train_log(path) -> list[dict]:
    with Path(path).open() as f:
        return [{"step": int(r["step"]), "epoch": float(r["epoch"]), "loss": float(r["loss"]),
                 "learning_rate": float(r["learning_rate"]), "tokens_seen": int(r["tokens_seen"])}
                for r in csv.DictReader(f)]


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
    from transformers import TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    set_seed(int(s["seed"]))
    compute_dtype = _torch_dtype(s["dtype"])
    lora = s["lora"]
    load_dtype = compute_dtype if lora else _torch_dtype(s["master_dtype"] or s["dtype"])
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
    args = TrainingArguments(
        output_dir=str(ckpt_dir),
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
    log_path = ckpt_dir / "train_log.csv"
    trainer = _make_trainer_class()(
        loss_averaging=s["loss_averaging"], model=model, args=args, train_dataset=_ListDataset(items),
        data_collator=SFTCollator(tokenizer.pad_token_id, packing=bool(s["packing"])),
        processing_class=tokenizer,
        callbacks=[_csv_logger(log_path, resume_step), *callbacks],
    )
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=last)
    runtime = time.time() - t0
    session_tokens = trainer.state.num_input_tokens_seen - getattr(trainer, "_initial_num_input_tokens_seen", 0)

    # ---- final save: temp dir, then rename ----
    save_dtype = _torch_dtype(s["save_dtype"] or s["dtype"])
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if _is_main_process() and tmp.exists():
        shutil.rmtree(tmp)
    if lora:
        trainer.save_model(str(tmp / "adapter"))
    else:
        trainer.save_model(str(tmp))
    trainer.accelerator.wait_for_everyone()

    log = read_train_log(log_path) if log_path.exists() else []
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
        "loss_averaging": s["loss_averaging"],
        "world_size": _world_size(),
        "global_batch": int(s["per_device_batch_size"]) * int(s["gradient_accumulation_steps"]) * _world_size(),
    }
    if _is_main_process():
        del model, trainer
        _finalize(tmp, model_dir, tokenizer, save_dtype, lora=bool(lora))
        shutil.copy(log_path, tmp / "train_log.csv") if log_path.exists() else None
        (tmp / "data_report.json").write_text(json.dumps(report, indent=2))
        (tmp / "sft_metrics.json").write_text(json.dumps({**metrics, "settings": _jsonable(s)}, indent=2))
        _atomic_replace(tmp, out_dir)
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


def _atomic_replace(tmp: Path, out_dir: Path):
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    if out_dir.exists():
        out_dir.rename(old)
    tmp.rename(out_dir)
    if old.exists():
        shutil.rmtree(old)


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


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m z1.sft", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", help="read settings from params.yaml's profile (z1.config.load_profile)['sft']")
    ap.add_argument("--model-dir", help="base model directory (or settings['model_dir'])")
    ap.add_argument("--data", help="training rows: .parquet/.jsonl/.json or hub id (or settings['data'])")
    ap.add_argument("--out", help="output model directory (or settings['out_dir'])")
    ap.add_argument("--settings-json", help="JSON object of settings, overriding the profile's")
    ap.add_argument("--no-resume", action="store_true", help="start over, deleting old checkpoints")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)

    settings: dict[str, Any] = {}
    model_dir, data, out = a.model_dir, a.data, a.out
    if a.profile:
        from z1 import config
        from z1.paths import Paths

        profile = config.load_profile(a.profile)
        settings.update(profile["sft"])
        settings.setdefault("dtype", (profile.get("compute") or {}).get("dtype", "auto"))
        paths = Paths(profile["name"])
        model_dir = model_dir or str(paths.model("base"))
        data = data or str(paths.trajectories)
        out = out or str(paths.sft)
    if a.settings_json:
        settings.update(json.loads(a.settings_json))
    if a.profile:  # the notebook's checkpoint directory for the same settings and data: resumes either way
        run_dir = (paths.sft_run_checkpoints(settings, Path(data), Path(model_dir)) if Path(data).is_file()
                   else paths.sft_checkpoints)
        settings.setdefault("checkpoint_dir", str(run_dir))
    if not (model_dir and data and out):
        ap.error("need --model-dir, --data and --out (or --profile for the pipeline's paths)")
    try:
        metrics = train(model_dir, data, out, settings, resume=not a.no_resume, progress=not a.no_progress)
    except SFTDataError as e:
        print(f"SFT data error: {e}", file=sys.stderr)
        return 2
    if _is_main_process():
        print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
