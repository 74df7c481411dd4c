"""The generations browser's logic: a profile's per-sample results, filtered, summarised, and opened.

    table = SampleTable.load("mini")                    # results/mini/samples.csv (+ generations, if on disk)
    rows = table.filter(model="sft", benchmark="math500", correct=False)
    summary(rows)                                        # samples, pass@1, thinking tokens, window-hit rate
    detail = table.detail(rows.iloc[0])                  # question, trajectory parts, grader's reasons

``samples.csv`` (stage 04) is committed and has ids, verdicts and token counts but no text. The text
of a sample (question, thinking, hint, answer) lives in its generation row under
``generations/<profile>/``, which DVC produces (``dvc repro``) and a fresh clone does not have: then
``detail`` says so and how to get it. The grader's reasons are the stored verdict plus, when the
generation row is on disk, a re-grade of the stored answer (code runs in the sandbox).

GPQA's question and trajectory are withheld unless ``show_restricted=True``: its authors ask that the
questions not be republished, and browser output ends up in screenshots.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from z1.examples import NOT_REPUBLISHED

KEY = ("model", "benchmark", "method", "window", "problem_id", "sample_index")
FILTERS = ("model", "benchmark", "method", "window", "correct", "window_hit")


class BrowserError(ValueError):
    """The results to browse are missing or unusable; the message names the file and the remedy."""


@dataclass(frozen=True)
class Detail:
    key: dict
    correct: bool
    verdict: str | None  # the sandbox status stored by stage 04 (code benchmarks)
    thinking_tokens: int
    window_hit: bool
    question: str | None  # None: not on disk or withheld (see `missing`)
    thinking: str | None
    appended: str | None
    answer: str | None
    reason: str | None  # the grader's reasons, from a re-grade of the stored answer
    missing: str | None  # why the text is not shown, with the remedy


def _remedy(profile: str) -> str:
    return (f"the generations are not on disk (generations/{profile}/): run `dvc repro` on profile {profile} "
            "(make profile P=... first), or `dvc pull` where a DVC remote is configured")


@dataclass
class SampleTable:
    profile: str
    samples: pd.DataFrame
    generations_dir: Path
    _rows: dict | None = None  # KEY tuple -> generation row, read on first use

    @classmethod
    def load(cls, profile: str, root: Path = Path(".")) -> SampleTable:
        path = Path(root) / "results" / profile / "samples.csv"
        if not path.exists():
            raise BrowserError(f"{path} does not exist: run the pipeline on profile {profile} "
                               f"(make profile P={profile} && dvc repro)")
        samples = pd.read_csv(path)
        missing = [c for c in (*KEY, "correct", "window_hit", "thinking_tokens") if c not in samples.columns]
        if missing:
            raise BrowserError(f"{path} lacks columns {missing}: re-run stage 04 (dvc repro evaluation)")
        return cls(profile, samples, Path(root) / "generations" / profile)

    def options(self, column: str, within: pd.DataFrame | None = None) -> list:
        """The values a filter on ``column`` can take (sorted)."""
        frame = self.samples if within is None else within
        return sorted(frame[column].dropna().unique().tolist())

    def filter(self, **criteria) -> pd.DataFrame:
        """Rows matching every criterion (a column of FILTERS); None means any value."""
        bad = sorted(set(criteria) - set(FILTERS))
        if bad:
            raise BrowserError(f"unknown filter(s) {bad}; known: {list(FILTERS)}")
        mask = pd.Series(True, index=self.samples.index)
        for column, value in criteria.items():
            if value is not None:
                mask &= self.samples[column] == value
        return self.samples[mask].sort_values(list(KEY), kind="stable")

    @property
    def has_generations(self) -> bool:
        return self.generations_dir.is_dir() and any(self.generations_dir.rglob("*.jsonl"))

    def generation(self, key: Mapping) -> dict | None:
        """The generation row of one sample, or None when the generations are not on disk."""
        if self._rows is None:
            if not self.has_generations:
                return None
            from z1.generations import read_generations

            self._rows = {tuple(r[k] for k in KEY): r for r in read_generations(self.generations_dir)}
        return self._rows.get(tuple(key[k] for k in KEY))

    def detail(self, row: Mapping, *, show_restricted: bool = False, regrade: bool = True) -> Detail:
        """One sample: its stored verdict and counts, and where the generation is on disk, its
        question, thinking, appended text, answer and the grader's reasons."""
        key = {k: (int(row[k]) if k in ("window", "sample_index") else row[k]) for k in KEY}
        verdict = row.get("verdict")
        base = dict(key=key, correct=bool(row["correct"]), verdict=None if pd.isna(verdict) else str(verdict),
                    thinking_tokens=int(row["thinking_tokens"]), window_hit=bool(row["window_hit"]))
        empty = dict(question=None, thinking=None, appended=None, answer=None, reason=None)
        if key["benchmark"] in NOT_REPUBLISHED and not show_restricted:
            return Detail(**base, **empty, missing=f"{key['benchmark']}: question and trajectory withheld (its "
                                                   "authors ask that the questions not be republished); "
                                                   "show_restricted=True shows them on your screen")
        gen = self.generation(key)
        if gen is None:
            why = _remedy(self.profile) if not self.has_generations else \
                f"no generation row for this sample under {self.generations_dir}: re-run `dvc repro`"
            return Detail(**base, **empty, missing=why)
        from z1.benchmarks import Problem
        from z1.explore.playground import grade, question_of

        rec = gen["record"]
        problem = Problem.from_dict(gen["problem"])
        cut = rec.get("pass2_token_ids") is not None
        return Detail(**base, question=question_of(problem), thinking=rec["pass1_text"] if cut else "",
                      appended=(rec.get("hint") or "") if cut else "", answer=rec["answer"],
                      reason=grade(problem, rec["answer"])["reason"] if regrade else None, missing=None)


def summary(rows: pd.DataFrame) -> dict:
    """Samples, problems, pass@1 (mean correctness), mean thinking tokens and window-hit rate of a filter."""
    if rows.empty:
        return {"samples": 0, "problems": 0, "pass@1": None, "thinking_tokens": None, "window_hit_rate": None}
    return {"samples": int(len(rows)), "problems": int(rows[["benchmark", "problem_id"]].drop_duplicates().shape[0]),
            "pass@1": float(rows["correct"].astype(bool).mean()),
            "thinking_tokens": float(rows["thinking_tokens"].mean()),
            "window_hit_rate": float(rows["window_hit"].astype(bool).mean())}
