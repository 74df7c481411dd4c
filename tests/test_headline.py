"""The headline metrics (z1.headline): the few flat numbers DVC compares runs by."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from z1 import headline


def _summary() -> pd.DataFrame:
    rows = []
    for model, method, windows in (("base", "stw", (16, 32)), ("sft", "stw", (16, 32)), ("sft", "r1", (8, 24))):
        for bench, bonus in (("humaneval", 10.0), ("math500", 30.0)):
            for w in windows:
                rows.append({"model": model, "method": method, "benchmark": bench, "window": w,
                             "pass_at_1": bonus + w, "avg_thinking_tokens": w - 1.0})
    return pd.DataFrame(rows)


def test_evaluation_headline_is_the_benchmark_mean_at_each_arms_largest_window():
    h = headline.evaluation(_summary())
    assert h == {"base": {"stw": {"pass_at_1": 52.0, "thinking_tokens": 31.0, "window": 32}},
                 "sft": {"stw": {"pass_at_1": 52.0, "thinking_tokens": 31.0, "window": 32},
                         "r1": {"pass_at_1": 44.0, "thinking_tokens": 23.0, "window": 24}}}


def test_data_and_sft_headlines_keep_only_their_numbers(tmp_path):
    report = {"problems": 12, "rows": 10, "tokens": 3499, "truncated_rate": 2 / 3, "repetitive_rate": 0.0,
              "removed_repetitive": 0, "removed_incorrect": 0, "teacher": "x", "levels": ["a"],
              "decontamination": {"removed_contaminated": 2, "matches": [{"id": 1}]}}
    assert headline.data(report) == {"problems": 12, "rows": 10, "tokens": 3499, "truncated_rate": 0.6667,
                                     "repetitive_rate": 0.0, "removed_repetitive": 0, "removed_incorrect": 0,
                                     "removed_contaminated": 2}
    sft = headline.sft({"steps": 6, "train_loss_first": 0.25, "train_loss_last": 0.125, "train_tokens": 100,
                        "rows_kept": 12, "tokens_per_second": None, "dtype": "float32"})
    assert sft == {"steps": 6, "train_loss_first": 0.25, "train_loss_last": 0.125, "train_tokens": 100, "rows_kept": 12}
    path = headline.write(tmp_path / "m" / "headline" / "sft.json", sft)
    assert json.loads(path.read_text()) == sft


def test_every_stage_declares_its_headline_as_its_only_metrics():
    from z1 import stage_deps

    for name in ("data", "sft", "evaluation"):
        metrics = stage_deps.stages()[name]["metrics"]
        assert [next(iter(m)) if isinstance(m, dict) else m for m in metrics] == \
            [f"results/${{profile}}/metrics/headline/{name}.json"], name
    assert not any("metrics" in s for n, s in stage_deps.stages().items() if n not in ("data", "sft", "evaluation"))


@pytest.mark.parametrize("frame", [pd.DataFrame(columns=["model", "method", "window", "pass_at_1",
                                                          "avg_thinking_tokens"])])
def test_an_empty_summary_has_no_headline(frame):
    assert headline.evaluation(frame) == {}
