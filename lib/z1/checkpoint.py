"""Checks of a model directory before anything loads it: present, complete, not truncated.

A missing or damaged checkpoint otherwise surfaces as a hub error ("Repo id must be in the form ...")
or a parser error that names no file. :func:`check_model_dir` reads only small files and the
safetensors headers (no weights), names the file at fault and the command that restores it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path


class CheckpointError(ValueError):
    """A model directory is missing, incomplete or damaged."""


def remedy(model_dir: Path) -> str:
    """The command that restores ``model_dir`` (models/<profile>/pretrained/<key> or .../sft)."""
    parts = model_dir.parts
    stage = "sft" if "sft" in parts else "assets"
    return (f"restore it with `dvc checkout {model_dir}` (from the DVC cache) or rebuild it with "
            f"`dvc repro -f {stage}`")


def _check_json(path: Path, model_dir: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not readable JSON ({e}); {remedy(model_dir)}") from None


def _check_safetensors(path: Path, model_dir: Path) -> None:
    """The header parses and the file is as long as its tensors' offsets say (a truncated copy is not)."""
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > min(size, 100 << 20):
                raise ValueError(f"header length {n} beyond the file")
            header = json.loads(f.read(n))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (OSError, struct.error, ValueError, KeyError, TypeError, IndexError) as e:
        raise CheckpointError(f"{path}: not a safetensors file ({e}); {remedy(model_dir)}") from None
    if size != 8 + n + end:
        raise CheckpointError(f"{path}: truncated or padded ({size} bytes, its header says {8 + n + end}); "
                              f"{remedy(model_dir)}")


def check_tokenizer_dir(model_dir: str | Path) -> None:
    """Raise :class:`CheckpointError` unless ``model_dir`` exists and holds readable tokenizer files."""
    d = Path(model_dir)
    if not d.is_dir():
        raise CheckpointError(f"{d}: no model directory; {remedy(d)}")
    tokenizer = [d / n for n in ("tokenizer.json", "tokenizer_config.json") if (d / n).is_file()]
    if not tokenizer:
        raise CheckpointError(f"{d}: no tokenizer (tokenizer.json / tokenizer_config.json); {remedy(d)}")
    for path in tokenizer:
        _check_json(path, d)


def check_model_dir(model_dir: str | Path) -> None:
    """Raise :class:`CheckpointError` unless ``model_dir`` holds a loadable model: ``config.json``, a
    tokenizer, and weights (complete safetensors, or ``.bin``) or a LoRA ``adapter/``."""
    d = Path(model_dir)
    check_tokenizer_dir(d)
    if not (d / "config.json").is_file():
        raise CheckpointError(f"{d / 'config.json'}: missing; {remedy(d)}")
    _check_json(d / "config.json", d)
    weights = sorted(d.glob("*.safetensors")) + sorted(d.glob("*.bin"))
    adapter = d / "adapter"
    if not weights and not (adapter / "adapter_config.json").is_file():
        raise CheckpointError(f"{d}: no weights (*.safetensors, *.bin or adapter/); {remedy(d)}")
    for path in sorted(d.glob("*.safetensors")) + sorted(adapter.glob("*.safetensors")):
        _check_safetensors(path, d)
