"""Profiles and parameters: read `params.yaml`, resolve the active profile, switch profiles.

Every knob of the pipeline lives in params.yaml under one section per profile (`ci`, `mini`,
`cpu-full`, `paper`); the top-level `profile` key picks the active one. Stages read only their own section.

    python -m z1.config show            # the active profile and its sections
    python -m z1.config set-profile ci  # switch (rewrites only the `profile:` line)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import yaml

PROFILES = ("ci", "mini", "cpu-full", "paper")
STAGES = ("assets", "compute", "data", "sft", "inference", "evaluation", "figures")
DEFAULT_PARAMS = Path("params.yaml")

# Offline by default: nothing here may reach the hub unless a user of the `paper` profile unsets these.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "DVC_NO_ANALYTICS": "1",
}


class ConfigError(ValueError):
    """params.yaml is missing, malformed, or names an unknown profile."""


def read_params(params_path: str | os.PathLike = DEFAULT_PARAMS) -> dict:
    path = Path(params_path)
    if not path.exists():
        raise ConfigError(f"{path} not found: run from the repository root (or pass params_path)")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(params, dict) or "profile" not in params:
        raise ConfigError(f"{path} must be a mapping with a top-level `profile:` key")
    return params


def active_profile(params_path: str | os.PathLike = DEFAULT_PARAMS) -> str:
    return str(read_params(params_path)["profile"])


def load_profile(profile: str | None = None, params_path: str | os.PathLike = DEFAULT_PARAMS) -> dict:
    """The section of `profile` (default: the active one) as a plain dict, with `name` added."""
    params = read_params(params_path)
    name = profile or params["profile"]
    if name not in params:
        known = [k for k in params if k != "profile"]
        raise ConfigError(f"profile {name!r} is not defined in {params_path}; known: {known}")
    section = params[name]
    missing = [s for s in STAGES if s not in section]
    if missing:
        raise ConfigError(f"profile {name!r} in {params_path} lacks sections {missing}")
    check_settings(name, section, params_path)
    return {"name": name, **section}


def check_settings(name: str, section: dict, params_path: str | os.PathLike = DEFAULT_PARAMS):
    """The typed settings of a profile section (z1.settings); ConfigError naming the key if they do not fit."""
    from z1.settings import SettingsError, from_section

    try:
        return from_section(name, section, where=str(params_path))
    except SettingsError as e:
        raise ConfigError(str(e)) from None


def load_settings(profile: str | None = None, params_path: str | os.PathLike = DEFAULT_PARAMS):
    """The typed view of a profile (z1.settings.ProfileSettings), checked like load_profile."""
    section = load_profile(profile, params_path)
    return check_settings(section.pop("name"), section, params_path)


def set_profile(profile: str, params_path: str | os.PathLike = DEFAULT_PARAMS) -> None:
    """Rewrite only the `profile:` line, keeping every comment of params.yaml."""
    params = read_params(params_path)
    if profile not in params or profile == "profile":
        raise ConfigError(f"profile {profile!r} is not defined in {params_path}")
    path = Path(params_path)
    text, count = re.subn(r"(?m)^profile:.*$", f"profile: {profile}", path.read_text(), count=1)
    if count != 1:
        raise ConfigError(f"no top-level `profile:` line in {path}")
    path.write_text(text)


def use_offline_defaults() -> None:
    """Set the offline environment variables unless the user set them (the paper profile unsets them)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m z1.config", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(DEFAULT_PARAMS))
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("show", help="print the active profile's sections as JSON")
    setp = sub.add_parser("set-profile", help="switch the active profile")
    setp.add_argument("profile")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "show":
            print(json.dumps(load_profile(None, args.params), indent=2))
        else:
            set_profile(args.profile, args.params)
            print(f"active profile: {args.profile}")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
