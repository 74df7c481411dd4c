"""Two runs of one profile, arm by arm: what a changed setting (say compute.dtype float32 -> bfloat16)
did to the results, paired on the same problems.

    python benchmarks/compare_runs.py 0123abc:results/cpu-full/samples.csv results/cpu-full/samples.csv \\
        --labels float32 bfloat16 --out results/benchmarks/cpu-full_float32_vs_bfloat16.json

A and B are per-sample result tables (an evaluation stage's samples.csv), each a path or
``REVISION:path`` (read with ``git show``). For each (benchmark, model, method, window) both runs
graded: pass@1 and mean thinking tokens of A and B, and B minus A with a paired bootstrap interval
(``z1.paired.between_runs``); plus how many per-sample verdicts and thinking-token counts differ.
Prints a markdown table; writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
KEYS = ["benchmark", "model", "method", "window", "problem_id", "sample_index"]


def read_samples(spec: str) -> pd.DataFrame:
    """A samples.csv from a path, or from ``REVISION:path`` in this repository's history."""
    if ":" in spec and not Path(spec).exists():
        text = subprocess.run(["git", "show", spec], cwd=REPO, check=True, capture_output=True, text=True).stdout
        return pd.read_csv(io.StringIO(text))
    return pd.read_csv(spec)


def sample_changes(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    """How many samples both runs have, and how many changed verdict or thinking-token count."""
    both = a.merge(b, on=KEYS, suffixes=("_a", "_b"))
    return {"samples": int(len(both)),
            "verdict_changed": int((both["correct_a"] != both["correct_b"]).sum()),
            "thinking_tokens_changed": int((both["thinking_tokens_a"] != both["thinking_tokens_b"]).sum())}


def main() -> None:
    from z1 import paired, tables

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="run A's samples.csv (path or REVISION:path)")
    ap.add_argument("b", help="run B's samples.csv (path or REVISION:path)")
    ap.add_argument("--labels", nargs=2, default=("a", "b"))
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    a, b = read_samples(args.a), read_samples(args.b)
    table = paired.between_runs(a, b, bootstrap=args.bootstrap)
    la, lb = args.labels
    print(tables.runs_comparison_markdown(table, (la, lb)), end="")
    changes = {m: sample_changes(a[a.model == m], b[b.model == m]) for m in table["model"].unique()}
    excluding_zero = int(paired.significant(table).sum())
    print(f"{excluding_zero} of {len(table)} arms' pass@1 intervals exclude 0; per model: {changes}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "benchmark": "compare_runs", "a": args.a, "b": args.b, "labels": [la, lb],
            "bootstrap": args.bootstrap, "arms": table.to_dict("records"),
            "pass_intervals_excluding_zero": excluding_zero, "sample_changes": changes,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
