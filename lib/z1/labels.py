"""How benchmarks are named in tables and figures (no graders, no data: figures import only this).

The authors score LiveCodeBench v5 on ``contest_date >= 2024-09-01`` only (their test.sh): the
paper's 35.3 % is that set, ``LCB_PAPER_WINDOW``. ``livecodebench_v5`` itself (all of release_v5) is
our extra row. An offline stand-in says what it stands in for.
"""

from __future__ import annotations

PAPER_START_DATE = "2024-09-01"
LCB_PAPER_WINDOW = f"livecodebench_v5 (contest_date >= {PAPER_START_DATE})"


def benchmark_label(benchmark: str, stand_in_for: str) -> str:
    """How a benchmark is named in tables and figures: stand-ins say what they stand in for, and the
    full LiveCodeBench release says that it is not the set the paper's numbers come from."""
    if benchmark == "livecodebench_v5" and not stand_in_for:
        return f"livecodebench_v5 (all of release_v5: ours; the paper scores contest_date >= {PAPER_START_DATE})"
    return f"{benchmark} (offline stand-in for {stand_in_for.replace(',', ', ')})" if stand_in_for else benchmark
