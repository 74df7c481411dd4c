"""``python -m z1.assets``: the assets stage's command, and ``--check`` for the setup self-check."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from z1.assets import prepare_profile_assets
from z1.assets.registry import DATA_FILES, REGISTRY, AssetError, _locate, check_registry_model

log = logging.getLogger("z1.assets")

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
