"""Generation backends behind one small interface (see ``base``).

``make_engine("transformers" | "vllm", model_dir, device=..., dtype=..., **options)``; vLLM is
imported only when its backend is asked for.
"""

from __future__ import annotations

from .base import Completion, Engine, Request, Sampling, encode_chat_with_tokenizer, find_stop

__all__ = ["Completion", "Engine", "Request", "Sampling", "make_engine", "encode_chat_with_tokenizer", "find_stop"]

BACKENDS = ("transformers", "vllm")


def make_engine(backend: str, model_dir, *, device: str = "cpu", dtype: str = "float32", **options) -> Engine:
    """Build an engine. ``backend``: "transformers" (alias "hf") or "vllm".

    Options are backend specific: transformers: batch_size, kv_reuse, kv_store_calls, max_model_len,
    attn_implementation, num_threads; vllm: enforce_eager, max_model_len, gpu_memory_utilization,
    tensor_parallel_size, data_parallel_size, enable_prefix_caching, enable_lora, max_lora_rank,
    seed, omp_num_threads, and any other ``vllm.LLM`` keyword via ``llm_kwargs``.
    """
    b = backend.lower()
    if b in ("transformers", "hf", "vllm"):
        from z1.checkpoint import check_model_dir

        check_model_dir(model_dir)  # a missing or truncated checkpoint: named, with the command that restores it
    if b in ("transformers", "hf"):
        from .hf import HFEngine

        return HFEngine(model_dir, device=device, dtype=dtype, **options)
    if b == "vllm":
        from .vllm import VLLMEngine

        return VLLMEngine(model_dir, device=device, dtype=dtype, **options)
    raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
