"""Data construction: Z1-style trajectory datasets in the released dataset's schema.

The released `efficientscaling/Z1-Code-Reasoning-107K` has columns `id`, `question`, `response`,
`token_num_qwen` (Qwen2.5 token count of the response). We build the same schema, plus columns that
make the construction inspectable: `source_id`, `teacher`, `reasoning_level`, `difficulty`,
`finish_reason`, `truncated`, `repetition_score`, `verified_correct`.

Two sources, one schema (params `<profile>.data.source`):
- `released`: load the hub dataset (needs network) and recompute `token_num_qwen`.
- `regenerate`: a teacher model answers each problem of a pool at several reasoning levels
  (system prompts from params, ordered from "answer directly" to "reason step by step"); a
  documented keep rule picks one trajectory per problem so that length tracks difficulty.

Also here: the repetition filter, the token-matched ablation of the authors' data_select.py
(`select_by_token_budget`, `token_matched_subsets`), the screening of problem rows
(`question_skip_reason`: empty, non-text or non-UTF-8 questions) and the length-vs-difficulty rank
correlation (`rank_correlation`). Resumable generation lives in z1.construct, decontamination in
z1.decontam.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

RELEASED_COLUMNS = ("id", "question", "response", "token_num_qwen")
EXTRA_COLUMNS = (
    "source_id", "teacher", "reasoning_level", "difficulty", "finish_reason", "truncated",
    "repetition_score", "verified_correct",
)
SELECT_MODES = ("length", "sample")


class DataError(ValueError):
    """A dataset or a data setting is unusable; the message says which and why."""


# --------------------------------------------------------------------------- token-matched ablation
def select_by_token_budget(df: pd.DataFrame, token_budget: int, mode: str, column: str = "token_num_qwen") -> pd.DataFrame:
    """The authors' data_select.py, exactly: rows sorted by token count, longest-first ("length") or
    shortest-first ("sample"), added while the running sum is still below the budget.

    The check happens before adding a row, so the selection overshoots the budget by less than one
    row; a budget <= 0 selects nothing. Python's sort is stable in both directions
    (`sort(reverse=True)` keeps equal keys in their original order), so ties keep increasing row
    order in both modes - sorting ascending and reversing would pick different rows at the cut.
    """
    if mode not in SELECT_MODES:
        raise DataError(f"select mode must be one of {SELECT_MODES}, got {mode!r}")
    if column not in df.columns:
        raise DataError(f"column {column!r} missing; have {list(df.columns)}")
    counts = [int(c) for c in df[column]]
    order = sorted(range(len(counts)), key=lambda i: counts[i], reverse=(mode == "length"))
    chosen, total = [], 0
    for i in order:
        if total >= token_budget:
            break
        chosen.append(i)
        total += counts[i]
    return df.iloc[chosen].reset_index(drop=True)


def token_matched_subsets(df: pd.DataFrame, token_budget: int, column: str = "token_num_qwen") -> pd.DataFrame:
    """Rows and tokens of the `length` and `sample` selections at one budget (one row per mode)."""
    out = []
    for mode in SELECT_MODES:
        picked = select_by_token_budget(df, token_budget, mode, column)
        out.append({"mode": mode, "token_budget": int(token_budget), "rows": int(len(picked)),
                    "tokens": int(picked[column].sum()),
                    "mean_tokens": float(picked[column].mean()) if len(picked) else 0.0})
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- filters
def repetition_score(text: str, n: int = 4) -> float:
    """Share of word n-grams that repeat an earlier n-gram: 0 for no repetition, -> 1 for loops."""
    words = text.split()
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def count_tokens(tokenizer, texts: Sequence[str]) -> list[int]:
    """Qwen2.5 token counts (no special tokens added) - the released `token_num_qwen`."""
    return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]


# --------------------------------------------------------------------------- problem rows
SKIP_REASONS = ("not_text", "invalid_utf8", "empty_question", "duplicate_id", "prompt_too_long")  # the last two: z1.construct


def user_question(messages: Sequence[Mapping]) -> str:
    """The question as the dataset stores it: the user turns' text, joined by a blank line.

    Bytes are decoded as strict UTF-8. Raises UnicodeError for bytes that are not UTF-8 or text
    with lone surrogates (what a lenient decoder leaves of bad bytes), TypeError for non-text.
    """
    parts = []
    for m in messages:
        if m.get("role") != "user" or m.get("content") is None:
            continue
        content = m["content"]
        if isinstance(content, bytes):
            content = content.decode("utf-8")
        if not isinstance(content, str):
            raise TypeError(f"message content is {type(content).__name__}, not text")
        content.encode("utf-8")  # lone surrogates raise UnicodeEncodeError
        parts.append(content)
    return "\n\n".join(parts)


def question_skip_reason(messages: Sequence[Mapping]) -> tuple[str | None, str | None]:
    """(question, None) for a usable problem, (None, reason) otherwise; reasons are SKIP_REASONS."""
    try:
        question = user_question(messages)
    except UnicodeError:
        return None, "invalid_utf8"
    except TypeError:
        return None, "not_text"
    if not question.strip():
        return None, "empty_question"
    return question, None


# --------------------------------------------------------------------------- dynamic reasoning
def rank_correlation(df: pd.DataFrame, x: str = "difficulty", y: str = "token_num_qwen") -> dict:
    """Spearman's rho between two columns (Pearson on average ranks), rows with a missing value dropped.

    rho is None when fewer than 3 rows remain or either column is constant.
    """
    both = df[[x, y]].dropna()
    rho = None
    if len(both) >= 3 and both[x].nunique() > 1 and both[y].nunique() > 1:
        rho = float(both[x].rank().corr(both[y].rank()))
    return {"x": x, "y": y, "n": int(len(both)), "spearman_rho": rho}


# --------------------------------------------------------------------------- keep rule
def keep_level(difficulty: float | None, difficulties: Sequence[float], levels: Sequence[str]) -> str:
    """Keep rule `difficulty`: the problem's difficulty quantile within the pool picks the level.

    Levels are ordered from the most direct to the most detailed. The quantile is the mid-rank of
    the problem's difficulty among the pool's ((below + equal / 2) / n), so tied difficulties share
    a level and a pool where most problems sit at the top rating sends those to the detailed end;
    quantile q keeps level floor(q * len(levels)). Problems without a difficulty keep the middle
    level (the more direct one of the two middles).
    """
    if not levels:
        raise DataError("at least one reasoning level is needed")
    known = [d for d in difficulties if d is not None and d == d]  # d == d drops NaN
    if difficulty is None or difficulty != difficulty or not known:
        return levels[(len(levels) - 1) // 2]
    below = sum(1 for d in known if d < difficulty)
    equal = sum(1 for d in known if d == difficulty)
    quantile = (below + equal / 2) / len(known)
    return levels[min(int(quantile * len(levels)), len(levels) - 1)]


@dataclass(frozen=True)
class Trajectory:
    """One teacher answer to one problem at one reasoning level."""

    source_id: str
    question: str
    reasoning_level: str
    response: str
    finish_reason: str
    difficulty: float | None


def build_rows(trajectories: Sequence[Trajectory], *, levels: Sequence[str], teacher: str, tokenizer,
               keep_rule: str = "difficulty", repetition_ngram: int = 4) -> pd.DataFrame:
    """All trajectories as rows of the released schema + extras, with a `kept` column from the keep rule."""
    if keep_rule not in ("difficulty", "all"):
        raise DataError(f"unknown keep_rule {keep_rule!r} (difficulty | all)")
    if not trajectories:
        raise DataError("no trajectories to build rows from")
    pool = {t.source_id: t.difficulty for t in trajectories}  # one difficulty per problem
    difficulties = list(pool.values())
    rows = []
    for t in trajectories:
        kept = keep_rule == "all" or t.reasoning_level == keep_level(t.difficulty, difficulties, levels)
        rows.append({
            "id": f"{t.source_id}:{t.reasoning_level}",
            "question": t.question,
            "response": t.response,
            "source_id": t.source_id,
            "teacher": teacher,
            "reasoning_level": t.reasoning_level,
            "difficulty": t.difficulty,
            "finish_reason": t.finish_reason,
            "truncated": t.finish_reason == "length",
            "repetition_score": repetition_score(t.response, repetition_ngram),
            "verified_correct": None,
            "kept": kept,
        })
    df = pd.DataFrame(rows)
    df.insert(3, "token_num_qwen", count_tokens(tokenizer, df["response"].tolist()))
    return df


def apply_filters(df: pd.DataFrame, *, repetition_threshold: float, filter_repetitive: bool = True,
                  filter_incorrect: bool = False) -> tuple[pd.DataFrame, dict]:
    """Filter the kept rows as the paper did (repetitive reasoning out; correctness optional, off by
    default as in the paper). Returns the dataset and a report of what was removed and why."""
    kept = df[df["kept"]]
    repetitive = kept["repetition_score"] > repetition_threshold
    incorrect = kept["verified_correct"].eq(False) if filter_incorrect else pd.Series(False, index=kept.index)
    drop = (repetitive & filter_repetitive) | incorrect
    out = kept[~drop].drop(columns=["kept"]).reset_index(drop=True)
    n = max(len(kept), 1)
    report = {
        "trajectories": int(len(df)),
        "problems": int(df["source_id"].nunique()),
        "kept_by_rule": int(len(kept)),
        "repetitive": int(repetitive.sum()),
        "repetitive_rate": float(repetitive.sum() / n),
        "removed_repetitive": int((repetitive & filter_repetitive).sum()),
        "removed_incorrect": int(incorrect.sum()),
        "truncated": int(out["truncated"].sum()),
        "truncated_rate": float(out["truncated"].sum() / max(len(out), 1)),
        "rows": int(len(out)),
        "tokens": int(out["token_num_qwen"].sum()),
        "paper_repetitive_rate": 0.03,
        "paper_truncated_rate_max": 0.01,
    }
    return out, report


def validate_schema(df: pd.DataFrame) -> None:
    missing = [c for c in RELEASED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"dataset lacks the released schema's columns {missing}")
    if df.empty:
        raise DataError("dataset has no rows")


def level_messages(question_messages: Sequence[Mapping], level_prompt: str) -> list[dict]:
    """The teacher's chat for one reasoning level: the level's instruction as the system message; an
    empty instruction adds none (the chat template's default system prompt, if any, applies)."""
    msgs = [dict(m) for m in question_messages if m.get("role") != "system"]
    return [{"role": "system", "content": level_prompt}, *msgs] if level_prompt else msgs


def read_released(released_id: str) -> pd.DataFrame:
    """Z1-Code-Reasoning-107K's rows: from a local copy (a .parquet / .jsonl file or a directory of
    them, read offline) or, for a hub id, through `datasets` (needs the hub)."""
    local = Path(released_id).expanduser()
    if local.exists():
        files = sorted(p for p in ([local] if local.is_file() else local.rglob("*"))
                       if p.suffix in (".parquet", ".jsonl", ".json"))
        if not files:
            raise DataError(f"data.released_id {released_id} is a local path without .parquet/.jsonl files")
        return pd.concat([pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_json(p, lines=True)
                          for p in files], ignore_index=True)
    if os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1":
        raise DataError(
            f"data.source=released loads {released_id} from the Hugging Face hub, but offline mode is on: unset "
            "HF_HUB_OFFLINE and HF_DATASETS_OFFLINE (with network access), point released_id at a local copy, "
            "or use source: regenerate")
    import datasets

    return datasets.load_dataset(released_id, split="train").to_pandas()
