"""Atomic output directories with ``z1_asset.json`` manifests, and the GGUF -> Hugging Face
conversion (safetensors + tokenizer + chat template + generation config)."""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from z1 import atomic
from z1.assets.registry import MANIFEST, MANIFEST_VERSION, AssetError, sha256_file
from z1.dtypes import torch_dtype

log = logging.getLogger("z1.assets")

# --------------------------------------------------------------------------------------------------
# Atomic output directories and manifests
# --------------------------------------------------------------------------------------------------


def read_manifest(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(out_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _manifest_matches(out_dir: Path, expect: dict[str, Any]) -> dict[str, Any] | None:
    found = read_manifest(out_dir)
    if found and all(found.get(k) == v for k, v in expect.items()):
        return found
    return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic.write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


@contextmanager
def _atomic_dir(out_dir: Path) -> Iterator[Path]:
    """Yield a sibling temp dir; on success it replaces ``out_dir``, on failure it is removed."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        yield tmp
        _make_readable(tmp)
        atomic.replace_dir(tmp, out_dir)  # a stale or mismatching output is moved aside, then removed
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def _wrap_errors(what: str) -> Iterator[None]:
    """Turn unexpected failures (disk full, loader bugs) into one AssetError naming the step."""
    try:
        yield
    except AssetError:
        raise
    except Exception as e:
        raise AssetError(f"{what} failed ({type(e).__name__}: {e}); nothing was left half-written") from e


def _make_readable(root: Path) -> None:
    """mkdtemp makes a 0700 dir (and some writers 0600 files): give the outputs normal permissions."""
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _versions() -> dict[str, str]:
    import torch
    import transformers

    return {"transformers": transformers.__version__, "torch": torch.__version__}


def _dtype(name: str):
    try:
        return torch_dtype(name)
    except ValueError:
        raise AssetError(f"unknown storage_dtype {name!r}; use bfloat16, float16 or float32") from None


# --------------------------------------------------------------------------------------------------
# GGUF -> Hugging Face conversion
# --------------------------------------------------------------------------------------------------


def _load_gguf(gguf_path: Path, tokenizer_only: bool = False):
    """Load tokenizer (and model) from a GGUF file; loader failures become AssetError."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        if tokenizer_only:
            return None, tokenizer
        import torch

        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
        )
    except Exception as e:
        raise AssetError(
            f"transformers could not load the GGUF {gguf_path} ({type(e).__name__}: {e}); "
            "it needs the `gguf` and `accelerate` packages (`make setup`)"
        ) from e
    return model, tokenizer


def _save_tokenizer(tokenizer, out: Path) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise AssetError(f"the tokenizer for {out.name} has no chat template; the GGUF metadata lacks one")
    tokenizer.save_pretrained(str(out))
    # Loading from a local GGUF leaves loader flags in the saved config; they are not tokenizer settings.
    cfg_path = out / "tokenizer_config.json"
    if cfg_path.is_file():
        cfg = json.loads(cfg_path.read_text())
        flags = [cfg.pop(k) for k in ("is_local", "local_files_only") if k in cfg]
        if flags:
            cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")


def _stop_ids(tokenizer, eos) -> list[int] | int | None:
    """EOS ids for generation: the model's own plus the tokenizer's end-of-turn/-text tokens."""
    ids = [eos] if isinstance(eos, int) else list(eos or [])
    vocab = tokenizer.get_vocab()
    for tok in (tokenizer.eos_token, "<|im_end|>", "<|endoftext|>"):
        tid = vocab.get(tok) if tok else None
        if tid is not None and tid != tokenizer.unk_token_id and tid not in ids:
            ids.append(tid)
    return ids[0] if len(ids) == 1 else (ids or None)


def convert_gguf_to_hf(
    gguf_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    storage_dtype: str = "bfloat16",
    *,
    name: str | None = None,
    source: str | None = None,
    gguf_sha256: str | None = None,
) -> dict[str, Any]:
    """Convert a GGUF checkpoint into a plain Hugging Face directory; returns its manifest.

    The result holds safetensors weights in ``storage_dtype``, the tokenizer with its chat
    template, the generation config and ``z1_asset.json``. Skips work when ``out_dir`` already holds
    a conversion of the same GGUF (by sha256) in the same dtype.
    """
    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    if not gguf_path.is_file():
        raise AssetError(f"GGUF file not found: {gguf_path}")
    _dtype(storage_dtype)  # validate early
    digest = gguf_sha256 or sha256_file(gguf_path)
    expect = {"kind": "model", "gguf_sha256": digest, "storage_dtype": storage_dtype}
    if found := _manifest_matches(out_dir, expect):
        log.info("%s: up to date (%s), skipping conversion", out_dir, found.get("name"))
        return found

    import torch
    from transformers import AutoModelForCausalLM

    t0 = time.perf_counter()
    log.info("converting %s -> %s (%s)", gguf_path.name, out_dir, storage_dtype)
    loaded, tokenizer = _load_gguf(gguf_path)
    t_load = time.perf_counter() - t0
    with _wrap_errors(f"converting {gguf_path.name} into {out_dir}"), _atomic_dir(out_dir) as tmp:
        config = copy.deepcopy(loaded.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        try:
            fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        except Exception as e:
            raise AssetError(f"cannot build a {config.model_type} model from the GGUF config: {e}") from e
        state = loaded.state_dict()
        result = fresh.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise AssetError(
                f"GGUF weights of {gguf_path.name} do not match the {config.model_type} architecture: "
                f"missing {list(result.missing_keys)[:5]}, unexpected {list(result.unexpected_keys)[:5]}"
            )
        del state, loaded
        fresh = fresh.to(_dtype(storage_dtype))
        fresh.config.dtype = storage_dtype
        fresh.generation_config.eos_token_id = _stop_ids(tokenizer, fresh.generation_config.eos_token_id)
        fresh.save_pretrained(str(tmp), safe_serialization=True)  # also writes generation_config.json
        _save_tokenizer(tokenizer, tmp)
        n_params = sum(p.numel() for p in fresh.parameters())
        del fresh
        manifest = {
            "format": MANIFEST_VERSION,
            **expect,
            "name": name or gguf_path.stem,
            "source": source or str(gguf_path),
            "gguf_file": gguf_path.name,
            "gguf_size": gguf_path.stat().st_size,
            "model_type": config.model_type,
            "parameters": n_params,
            **_versions(),
            "load_seconds": round(t_load, 1),
            "conversion_seconds": round(time.perf_counter() - t0, 1),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        _write_json(tmp / MANIFEST, manifest)
    log.info(
        "%s: converted in %.1f s (%.1f s loading the GGUF)", out_dir, manifest["conversion_seconds"], t_load
    )
    return manifest
