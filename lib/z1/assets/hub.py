"""Hub downloads for the ``paper`` profile (``source: hub``): offline, a clear error that says which
variables to unset and how to pre-download."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from z1.assets.convert import _manifest_matches, _write_json
from z1.assets.registry import MANIFEST, MANIFEST_VERSION, OFFLINE_VARS, AssetError

log = logging.getLogger("z1.assets")

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
