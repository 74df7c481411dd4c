"""Base model and LoRA adapter on one engine: ``AdapterView(engine, adapter_dir)``.

SFT with LoRA leaves ``<sft model>/adapter/`` beside the merged weights.  On vLLM (built with
``enable_lora=True``) one engine can serve the base model and the adapter, so the inference stage
pays one engine start instead of two: the view forwards every request to the shared engine with
``lora_path`` set, and otherwise looks like an engine (tokenizer, ``encode_chat``, ``info``).
Closing a view does not close the shared engine; its owner does.

``adapter_for(model_dir, base_dir)`` says whether a model directory is "base + LoRA adapter" for a
given base (the adapter's ``base_model_name_or_path`` resolves to ``base_dir``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from .base import Completion, Request


def adapter_for(model_dir, base_dir) -> Path | None:
    """``model_dir/adapter`` when it is a LoRA adapter trained on ``base_dir``, else None."""
    cfg_path = Path(model_dir) / "adapter" / "adapter_config.json"
    if not cfg_path.is_file():
        return None
    cfg = json.loads(cfg_path.read_text())
    if cfg.get("peft_type") != "LORA":
        return None
    base = cfg.get("base_model_name_or_path") or ""
    try:
        same = Path(base).resolve() == Path(base_dir).resolve()
    except OSError:
        same = False
    return cfg_path.parent if same else None


class AdapterView:
    """``engine`` with the LoRA adapter ``adapter_dir`` applied to every request."""

    def __init__(self, engine, adapter_dir):
        if not (getattr(engine, "_options", {}) or {}).get("enable_lora"):
            raise ValueError("AdapterView needs an engine built with enable_lora=True (the vllm backend)")
        self.engine = engine
        self.adapter_dir = str(Path(adapter_dir).resolve())
        self.name = engine.name

    @property
    def tokenizer(self):
        return self.engine.tokenizer

    @property
    def eos_ids(self):
        return self.engine.eos_ids

    def encode_chat(self, messages: list[dict], *, assistant_prefill: str = "") -> list[int]:
        return self.engine.encode_chat(messages, assistant_prefill=assistant_prefill)

    def info(self) -> dict:
        return {**self.engine.info(), "lora_adapter": self.adapter_dir}

    def generate(self, requests: Sequence[Request], **kw) -> list[list[Completion]]:
        return self.engine.generate([dataclasses.replace(r, lora_path=self.adapter_dir) for r in requests], **kw)

    def close(self) -> None:
        """No-op: the shared engine belongs to whoever built it."""
