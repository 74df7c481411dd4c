"""``python -m z1.sft``: train from the command line or under ``accelerate launch`` (see z1.sft)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import z1.sft as _sft
from z1.sft import SFTDataError
from z1.sft.trainer import _is_main_process, train

# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m z1.sft", description=_sft.__doc__.split("\n\n")[0])
    ap.add_argument("--profile", help="read settings from params.yaml's profile (z1.config.load_profile)['sft']")
    ap.add_argument("--model-dir", help="base model directory (or settings['model_dir'])")
    ap.add_argument("--data", help="training rows: .parquet/.jsonl/.json or hub id (or settings['data'])")
    ap.add_argument("--out", help="output model directory (or settings['out_dir'])")
    ap.add_argument("--settings-json", help="JSON object of settings, overriding the profile's")
    ap.add_argument("--no-resume", action="store_true", help="start over, deleting old checkpoints")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)

    settings: dict[str, Any] = {}
    model_dir, data, out = a.model_dir, a.data, a.out
    if a.profile:
        from z1 import config
        from z1.paths import Paths

        profile = config.load_profile(a.profile)
        settings.update(profile["sft"])
        settings.setdefault("dtype", (profile.get("compute") or {}).get("dtype", "auto"))
        paths = Paths(profile["name"])
        model_dir = model_dir or str(paths.model("base"))
        data = data or str(paths.trajectories)
        out = out or str(paths.sft)
    if a.settings_json:
        settings.update(json.loads(a.settings_json))
    if a.profile:  # the notebook's checkpoint directory for the same settings and data: resumes either way
        run_dir = (paths.sft_run_checkpoints(settings, Path(data), Path(model_dir)) if Path(data).is_file()
                   else paths.sft_checkpoints)
        settings.setdefault("checkpoint_dir", str(run_dir))
    if not (model_dir and data and out):
        ap.error("need --model-dir, --data and --out (or --profile for the pipeline's paths)")
    try:
        metrics = train(model_dir, data, out, settings, resume=not a.no_resume, progress=not a.no_progress)
    except SFTDataError as e:
        print(f"SFT data error: {e}", file=sys.stderr)
        return 2
    if _is_main_process():
        print(json.dumps(metrics, indent=2))
    return 0
