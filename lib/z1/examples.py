"""Simple vs complex generations: like the paper's examples of a short and a long trajectory from the
fine-tuned model, one generation with few and one with many thinking tokens, picked from a run's
per-sample table (`samples.csv`: thinking tokens, window hit, verdict) and shown with the question and
the trajectory from its generation row (`z1.inference.read_generations`).

    chosen = examples.pick(samples, inference.read_generations(paths.generations), model="sft",
                           method="stw", window=256)
    Path("results/mini/tables/examples.md").write_text(
        examples.to_markdown(chosen, profile="mini", model="sft", window=256, method="stw"))

Long text is cut with a "… (N more lines)" marker, never silently. GPQA samples are never picked:
its authors ask that the questions not be republished, and a trajectory quotes its question.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

KEY = ("model", "benchmark", "method", "window", "problem_id", "sample_index")
COLUMNS = ("kind", "benchmark", "problem_id", "sample_index", "thinking_tokens", "window_hit", "correct",
           "question", "trajectory", "model", "method", "window")


def excerpt(text: str, *, width: int = 100, max_lines: int = 40) -> str:
    """`text` with lines longer than `width` wrapped (shorter ones, code indentation included, kept as
    they are) and cut after `max_lines` lines with a "… (N more lines)" marker (N counts wrapped lines)."""
    lines = []
    for line in str(text).splitlines():
        lines.extend(textwrap.wrap(line, width, break_on_hyphens=False) if len(line) > width else [line])
    if len(lines) <= max_lines:
        return "\n".join(lines)
    return "\n".join(lines[:max_lines]) + f"\n… ({len(lines) - max_lines} more lines)"


def _first(rows: pd.DataFrame, *, most: bool) -> pd.Series:
    """The sample with the fewest (most) thinking tokens, a correct one where there is one; ties go to
    the first benchmark / problem / sample, so the pick does not depend on the table's order."""
    correct = rows[rows["correct"].astype(bool)]
    rows = correct if len(correct) else rows
    ordered = rows.sort_values(["thinking_tokens", "benchmark", "problem_id", "sample_index"],
                               ascending=[not most, True, True, True], kind="stable")
    return ordered.iloc[0]


def _question(problem: Mapping) -> str:
    users = [m["content"] for m in problem.get("messages", []) if m.get("role") == "user"]
    return users[-1] if users else ""


NOT_REPUBLISHED = ("gpqa_diamond",)  # benchmarks whose questions must not appear in committed results


def pick(samples: pd.DataFrame, generations: Iterable[Mapping], *, model: str, method: str,
         window: int, exclude_benchmarks: Iterable[str] = NOT_REPUBLISHED) -> pd.DataFrame:
    """Two rows, kind "simple" and "complex", from the samples of `model` / `method` at `window`
    (benchmarks in `exclude_benchmarks` left out: GPQA by default). simple: the fewest thinking
    tokens among the samples that finished inside the window (no window hit); complex: the most
    thinking tokens among the others. Both prefer correct samples."""
    samples = samples[~samples["benchmark"].isin(list(exclude_benchmarks))]
    rows = samples[(samples["model"] == model) & (samples["method"] == method) & (samples["window"] == int(window))]
    if rows.empty:
        present = sorted(set(zip(samples["model"], samples["method"], samples["window"].astype(int), strict=True)))
        raise ValueError(f"no samples of model {model!r}, method {method!r} at window {window}; "
                         f"(model, method, window) present: {present}")
    rows = rows.reset_index(drop=True)  # so dropping the simple one drops nothing else
    finished = rows[~rows["window_hit"].astype(bool)]
    if finished.empty:
        raise ValueError(f"no sample of {model} / {method} finished inside the window W = {window} "
                         f"(all {len(rows)} hit it), so there is no simple example")
    simple = _first(finished, most=False)
    rest = rows.drop(index=simple.name)
    if rest.empty:
        raise ValueError(f"only one sample of {model} / {method} at W = {window}, so there is no complex example")
    chosen = {"simple": simple, "complex": _first(rest, most=True)}

    by_key = {tuple(g[k] for k in KEY): g for g in generations}
    out = []
    for kind, s in chosen.items():
        key = (model, s["benchmark"], method, int(window), s["problem_id"], int(s["sample_index"]))
        if key not in by_key:
            raise ValueError(f"no generation row for {dict(zip(KEY, key, strict=True))}; "
                             "samples and generations must come from the same run")
        g = by_key[key]
        out.append({"kind": kind, "benchmark": s["benchmark"], "problem_id": s["problem_id"],
                    "sample_index": int(s["sample_index"]), "thinking_tokens": int(s["thinking_tokens"]),
                    "window_hit": bool(s["window_hit"]), "correct": bool(s["correct"]),
                    "question": _question(g["problem"]), "trajectory": g["record"]["trajectory"],
                    "model": model, "method": method, "window": int(window)})
    return pd.DataFrame(out, columns=list(COLUMNS))


def _fenced(text: str) -> str:
    """A fenced block longer than any backtick run inside (code answers carry their own ``` fences)."""
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, run + 1)
    return f"{fence}text\n{text}\n{fence}"


def to_markdown(examples: pd.DataFrame, *, profile: str, model: str, window: int, method: str,
                width: int = 100, question_lines: int = 30, trajectory_lines: int = 80) -> str:
    """Both examples for reading: a heading per example (benchmark, thinking tokens, verdict, window
    hit), then the question and the trajectory in fenced blocks, cut with a "… (N more lines)" marker."""
    parts = [f"# Simple vs complex generations (profile: {profile}; model: {model}; method: {method}; "
             f"thinking window W = {window})",
             "As in the paper's examples of a short and a long trajectory from the fine-tuned model. "
             "simple: the fewest thinking tokens among the samples that finished inside the window; "
             "complex: the most thinking tokens. Both prefer correct samples. The trajectory is the "
             "thinking, the hint where the window was hit, and the answer; long text is cut with a "
             "\"… (N more lines)\" marker."]
    for _, ex in examples.iterrows():
        verdict = "correct" if ex["correct"] else "incorrect"
        hit = f"hit the window (W = {window})" if ex["window_hit"] else f"finished inside the window (W = {window})"
        parts += [f"## {ex['kind'].capitalize()}: {ex['benchmark']}, {ex['problem_id']} (sample {ex['sample_index']})",
                  f"{int(ex['thinking_tokens'])} thinking tokens · {verdict} · {hit}",
                  "**Question**", _fenced(excerpt(ex["question"], width=width, max_lines=question_lines)),
                  "**Trajectory**", _fenced(excerpt(ex["trajectory"], width=width, max_lines=trajectory_lines))]
    return "\n\n".join(parts) + "\n"


def save_markdown(examples: pd.DataFrame, path: str | Path, **kw) -> Path:
    """Write :func:`to_markdown` of ``examples`` to ``path`` (keywords as there); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_markdown(examples, **kw))
    return path
