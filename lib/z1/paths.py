"""Where each stage reads and writes, per profile (one place, so notebooks and dvc.yaml agree)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    profile: str
    root: Path = Path(".")

    @property
    def pretrained(self) -> Path:
        return self.root / "models" / self.profile / "pretrained"

    @property
    def tokenizer(self) -> Path:
        """The Qwen2.5 tokenizer that counts `token_num_qwen`."""
        return self.pretrained / "tokenizer"

    @property
    def sft(self) -> Path:
        return self.root / "models" / self.profile / "sft"

    @property
    def sft_checkpoints(self) -> Path:
        """Resumable trainer state; outside DVC's outs so an interrupted run can continue."""
        return self.root / "checkpoints" / self.profile / "sft"

    def sft_run_checkpoints(self, settings: Mapping, data_file: Path, base_model: Path) -> Path:
        """Checkpoints of one training run, keyed by its settings, its data and the base model's files
        (z1.generations.model_fingerprint), so a resume never continues a run that trained on other
        data, from other weights or with other hyperparameters."""
        from z1.generations import model_fingerprint

        digest = hashlib.sha256(json.dumps(dict(settings), sort_keys=True, default=str).encode())
        digest.update(Path(data_file).read_bytes())
        digest.update(model_fingerprint(base_model).encode())
        return self.sft_checkpoints / digest.hexdigest()[:12]

    def model(self, key: str) -> Path:
        """`sft` is stage 02's output; every other key is an asset of stage `assets`."""
        return self.sft if key == "sft" else self.pretrained / key

    @property
    def data(self) -> Path:
        return self.root / "data" / self.profile

    @property
    def trajectories(self) -> Path:
        return self.data / "trajectories.parquet"

    @property
    def all_trajectories(self) -> Path:
        return self.data / "all_trajectories.parquet"

    @property
    def generations(self) -> Path:
        return self.root / "generations" / self.profile

    @property
    def results(self) -> Path:
        return self.root / "results" / self.profile

    @property
    def metrics(self) -> Path:
        return self.results / "metrics"

    def headline(self, stage: str) -> Path:
        """The stage's few headline numbers, the DVC metrics (z1.headline)."""
        from z1 import headline

        return headline.path(self.metrics, stage)

    @property
    def figures(self) -> Path:
        return self.results / "figures"


def project_root(start: str | Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: the working directory) holding both
    ``params.yaml`` and ``dvc.yaml``: where a notebook opened from a subfolder finds the project."""
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "params.yaml").is_file() and (d / "dvc.yaml").is_file():
            return d
    raise FileNotFoundError(f"no params.yaml + dvc.yaml at or above {here}: open the notebook inside the project")
