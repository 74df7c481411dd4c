"""The SFT step log, kept by dvclive: one ``Live`` directory next to the checkpoints, a row per logged
optimizer step, and the joined table (``train_log.csv``) that the stage commits as its DVC plot.

dvclive writes ``<dir>/plots/metrics/train/<name>.tsv`` (step, value) and ``<dir>/metrics.json``
(the latest values). Its step is set to the trainer's ``global_step``, not dvclive's own counter,
so a run resumed from a checkpoint first drops the rows logged after that checkpoint (those steps
are trained again) and then appends: the log of a killed-and-resumed run equals an uninterrupted
one's.
"""

from __future__ import annotations

import csv
from pathlib import Path

# always present in a row; the trainer's extras (grad_norm, TRL's entropy and mean_token_accuracy) follow
LOG_FIELDS = ("step", "epoch", "loss", "learning_rate", "tokens_seen")
EXTRA_FIELDS = ("grad_norm", "entropy", "mean_token_accuracy")
PREFIX = "train"


def _metric_files(live_dir: Path) -> list[Path]:
    return sorted((Path(live_dir) / "plots" / "metrics" / PREFIX).glob("*.tsv"))


def _read_tsv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f, delimiter="\t"))


def truncate(live_dir: str | Path, step: int) -> None:
    """Keep only the rows at or before ``step`` in every metric file (a resume re-trains the rest)."""
    for path in _metric_files(Path(live_dir)):
        rows = _read_tsv(path)
        kept = [r for r in rows if int(r["step"]) <= step]
        if len(kept) != len(rows):
            with path.open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t")
                w.writeheader()
                w.writerows(kept)


def _files_only_live():
    """dvclive's ``Live`` writing its files and nothing else. Its DVC integration (experiment names,
    the baseline commit, a dvc.yaml of its own) is skipped: the stage's outputs are declared in the
    project's dvc.yaml, and ``Live`` would raise in a git repository without commits (dvclive 3.49
    catches only DVC's exceptions there, not scmrepo's "Empty git repo")."""
    from dvclive import Live

    class FilesOnlyLive(Live):
        def _init_dvc(self):
            pass

    return FilesOnlyLive


def logger(live_dir: str | Path, *, resume_step: int, main_process: bool = True):
    """A TrainerCallback logging every step's loss, learning rate, epoch, tokens seen and the extras
    to dvclive at ``live_dir``; ``resume_step`` 0 starts a fresh log, else continues the one there."""
    from transformers import TrainerCallback

    live = None
    if main_process:
        if resume_step > 0:
            if not _metric_files(Path(live_dir)):
                import warnings

                warnings.warn(f"resuming at step {resume_step} without a step log in {live_dir} (checkpoints "
                              f"from an older version?): train_log.csv will miss steps 1-{resume_step}; delete "
                              "the checkpoint directory to train again with a complete log", stacklevel=2)
            truncate(live_dir, resume_step)
        live = _files_only_live()(str(live_dir), resume=resume_step > 0, save_dvc_exp=False, dvcyaml=False)

    class DVCLiveStepLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if live is None or not logs or "loss" not in logs or not state.is_world_process_zero:
                return
            live.step = int(state.global_step)
            values = {"epoch": round(float(state.epoch or 0), 6), "loss": float(logs["loss"]),
                      "learning_rate": float(logs.get("learning_rate", float("nan"))),
                      "tokens_seen": int(state.num_input_tokens_seen)}
            values.update({k: float(logs[k]) for k in EXTRA_FIELDS if k in logs})
            for name, value in values.items():
                live.log_metric(f"{PREFIX}/{name}", value)
            live.make_summary()

        def on_train_end(self, args, state, control, **kwargs):
            if live is not None:
                live.end()

    return DVCLiveStepLog()


def read(live_dir: str | Path) -> list[dict]:
    """The log as rows by step: ``LOG_FIELDS`` always, the extras where logged."""
    by_step: dict[int, dict] = {}
    for path in _metric_files(Path(live_dir)):
        name = path.stem
        for r in _read_tsv(path):
            by_step.setdefault(int(r["step"]), {"step": int(r["step"])})[name] = r[name]
    return [_typed(by_step[step]) for step in sorted(by_step) if "loss" in by_step[step]]


def _typed(row: dict) -> dict:
    """One row of text values as the log's types; an extra that is absent or empty is left out."""
    casts = {"step": int, "epoch": float, "loss": float, "learning_rate": float, "tokens_seen": lambda v: int(float(v))}
    return {**{k: casts[k](row[k]) for k in LOG_FIELDS}, **{k: float(row[k]) for k in EXTRA_FIELDS if row.get(k)}}


def read_csv(path: str | Path) -> list[dict]:
    """``train_log.csv`` back as rows (what :func:`write_csv` wrote, or an older log without the extras)."""
    with Path(path).open() as f:
        return [_typed(r) for r in csv.DictReader(f)]


def write_csv(rows: list[dict], path: str | Path) -> Path:
    """``train_log.csv``: the joined rows, one per logged step (the stage's DVC plot)."""
    path = Path(path)
    extras = [k for k in EXTRA_FIELDS if any(k in r for r in rows)]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*LOG_FIELDS, *extras], restval="")
        w.writeheader()
        w.writerows(rows)
    return path
