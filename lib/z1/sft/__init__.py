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
  is hard-coded here. Training uses TRL's ``SFTTrainer`` on the examples tokenized and masked
  here (TRL prepares nothing: ``skip_prepare_dataset``, see ``z1.sft.trainer``), and every logged
  step goes to dvclive (``z1.sft.tracking``).
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
the base; the adapter kept in ``out_dir/adapter``) with the tokenizer, ``dvclive/`` (the step
log), ``train_log.csv`` (the same steps joined: step, epoch, loss, learning_rate, tokens_seen,
grad_norm, entropy, mean_token_accuracy), ``data_report.json`` and ``sft_metrics.json``.
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
    "lm_head": "fused",  # TRL's tiled LM head; "logits": one LM-head matmul (z1.sft.trainer)
}
LOSS_AVERAGING = ("token", "micro_batch")
LM_HEADS = ("fused", "logits")


class SFTDataError(ValueError):
    """The training rows cannot be used (empty, missing columns, empty fields, all dropped)."""


from z1.sft.examples import (  # noqa: E402 - after the constants the submodules import
    SFTCollator,
    build_dataset,
    build_example,
    end_of_turn,
    load_rows,
    pack_examples,
    prompt_text,
    validate_rows,
)
from z1.sft.trainer import (  # noqa: E402
    default_checkpoint_dir,
    read_train_log,
    resolve_settings,
    steps_for,
    target_loss,
    train,
)

__all__ = [
    "DEFAULT_SETTINGS", "IGNORE_INDEX", "LM_HEADS", "LOSS_AVERAGING", "REQUIRED_COLUMNS", "SFTCollator", "SFTDataError",
    "build_dataset", "build_example", "default_checkpoint_dir", "end_of_turn", "load_rows", "pack_examples",
    "prompt_text", "read_train_log", "resolve_settings", "steps_for", "target_loss", "train", "validate_rows",
    "main", "trainer",
]

from z1.sft import trainer  # noqa: E402 - the module, for its loaders (tests patch them there)
from z1.sft.cli import main  # noqa: E402
