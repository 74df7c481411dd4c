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
