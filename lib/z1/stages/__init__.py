"""Stage logic the notebooks call, one module per stage (``stages.data``, ``sft``, ``inference``,
``evaluation``, ``figures``: each ``run(cfg, paths)``), and the first cell of every stage notebook,
once: ``cfg, paths = stages.setup(profile)``.

Offline defaults (nothing reaches the hub unless the `paper` user unsets them), the profile's checked
settings (``config.load_profile``: a bad key fails here, in one line), its paths, torch's thread count
from ``compute.threads``, and one printed line saying what runs where.
"""

from __future__ import annotations

from collections.abc import Mapping

from z1 import config, dtypes
from z1.paths import Paths


def setup(profile: str) -> tuple[dict, Paths]:
    import torch

    config.use_offline_defaults()
    cfg = config.load_profile(profile)
    paths = Paths(profile)
    torch.set_num_threads(int(cfg["compute"]["threads"]))
    print(f"profile {profile}: device {cfg['compute']['device']}, dtype {cfg['compute']['dtype']}, "
          f"{cfg['compute']['threads']} threads")
    warning = dtypes.cpu_dtype_warning(cfg["compute"]["device"], cfg["compute"]["dtype"])
    if warning:
        print(warning)
    return cfg, paths


def finetuned_model(cfg: Mapping) -> str:
    """The fine-tuned model the figures single out: the released Z1-7B where the profile evaluates it
    (`paper`), else our own fine-tune (stage 02's `sft`)."""
    return "z1" if "z1" in cfg["inference"]["models"] else "sft"


def models_caption(cfg: Mapping) -> str:
    """"base = <id>; sft = base fine-tuned on data/<profile>": which weights each evaluated model key is."""
    models = cfg["inference"]["models"]
    parts = [f"{k} = {v['id']}" for k, v in cfg["assets"]["models"].items() if k in models]
    if "sft" in models:
        parts.append(f"sft = base fine-tuned on data/{cfg['name']}")
    return "; ".join(parts)
