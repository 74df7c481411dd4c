"""The one reader of dtype names in params.yaml and on command lines: "float32" / "fp32",
"bfloat16" / "bf16", "float16" / "fp16" (or a torch.dtype, or "torch.float32")."""

from __future__ import annotations

NAMES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
         "float16": "float16", "fp16": "float16"}


def torch_dtype(name):
    import torch

    if isinstance(name, torch.dtype):
        return name
    key = str(name).removeprefix("torch.")
    if key not in NAMES:
        raise ValueError(f"dtype must be one of {', '.join(NAMES)}, got {name!r}")
    return getattr(torch, NAMES[key])


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether this CPU multiplies bfloat16 in hardware (an ``avx512_bf16`` or ``amx_bf16`` flag):
    there bf16 matmuls run ~2.2x faster than float32; on AVX2-only CPUs they run ~100x slower
    (README, Throughput).  None where ``cpuinfo`` cannot be read (not Linux)."""
    try:
        with open(cpuinfo) as f:
            flags = {w for line in f if line.startswith("flags") for w in line.split(":", 1)[1].split()}
    except OSError:
        return None
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def cpu_dtype_warning(device: str, dtype, cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """A one-line warning when a profile computes in bfloat16 on a CPU without native bf16, else None."""
    if device != "cpu" or NAMES.get(str(dtype).removeprefix("torch."), dtype) != "bfloat16":
        return None
    if cpu_has_native_bf16(cpuinfo) is not False:
        return None
    return ("WARNING: compute.dtype is bfloat16 but this CPU has no avx512_bf16 / amx_bf16: bf16 matmuls "
            "run far slower than float32 here. Set compute.dtype: float32 in params.yaml for this profile.")
