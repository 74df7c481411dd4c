"""z1.data: the authors' token-matched selection (exact), the repetition filter, the keep rule."""

import pandas as pd
import pytest

from z1 import data


def table(counts):
    return pd.DataFrame({"id": [f"r{i}" for i in range(len(counts))], "token_num_qwen": counts})


@pytest.mark.parametrize(
    ("counts", "budget", "mode", "expected"),
    [
        # longest-first until the running sum reaches the budget (checked before adding: overshoot < 1 row)
        ([5, 1, 9, 3], 10, "length", ["r2", "r0"]),
        ([5, 1, 9, 3], 9, "length", ["r2"]),
        ([5, 1, 9, 3], 4, "sample", ["r1", "r3"]),
        ([5, 1, 9, 3], 5, "sample", ["r1", "r3", "r0"]),
        # ties keep increasing row order in BOTH modes (stable sort, reverse=True is still stable)
        ([4, 7, 4, 7, 4], 8, "length", ["r1", "r3"]),
        ([4, 7, 4, 7, 4], 10, "length", ["r1", "r3"]),
        ([4, 7, 4, 7, 4], 15, "length", ["r1", "r3", "r0"]),
        ([4, 7, 4, 7, 4], 5, "sample", ["r0", "r2"]),
        # a budget of zero (or less) selects nothing; a huge budget selects everything
        ([4, 7, 4], 0, "length", []),
        ([4, 7, 4], -3, "sample", []),
        ([4, 7, 4], 10**9, "sample", ["r0", "r2", "r1"]),
    ],
)
def test_select_by_token_budget_matches_data_select(counts, budget, mode, expected):
    assert data.select_by_token_budget(table(counts), budget, mode)["id"].tolist() == expected


def test_select_ties_differ_from_ascending_then_reversed():
    # sorting ascending and reversing would put r3 before r1 at the cut; the authors' code does not
    picked = data.select_by_token_budget(table([4, 7, 4, 7]), 1, "length")["id"].tolist()
    assert picked == ["r1"]


def test_select_rejects_unknown_mode_and_missing_column():
    with pytest.raises(data.DataError, match="select mode"):
        data.select_by_token_budget(table([1]), 1, "longest")
    with pytest.raises(data.DataError, match="column"):
        data.select_by_token_budget(pd.DataFrame({"x": [1]}), 1, "length")


def test_repetition_score():
    assert data.repetition_score("a b c d e f g h") == 0.0
    assert data.repetition_score("") == 0.0
    loop = " ".join(["let me check again"] * 50)
    assert data.repetition_score(loop) > 0.9
    half = "one two three four five six seven eight " + "x y z w " * 3
    assert 0.0 < data.repetition_score(half) < 0.5


def test_keep_level_tracks_difficulty():
    levels = ["direct", "detailed"]
    pool = [1, 2, 3, 4, 5, 6, 7, 8]
    assert [data.keep_level(d, pool, levels) for d in pool] == ["direct"] * 4 + ["detailed"] * 4
    three = ["direct", "brief", "detailed"]
    assert data.keep_level(1, pool, three) == "direct"
    assert data.keep_level(8, pool, three) == "detailed"
    assert data.keep_level(None, pool, three) == "brief"
    with pytest.raises(data.DataError):
        data.keep_level(1, pool, [])


def test_keep_level_ties_share_a_level_by_mid_rank():
    levels = ["direct", "detailed"]
    # a pool concentrated at the top rating (as CodeI/O's is): the many 8s are the hard half
    pool = [7, 7, 8, 8, 8, 8, 8, 8, float("nan"), None]
    assert data.keep_level(7, pool, levels) == "direct"
    assert data.keep_level(8, pool, levels) == "detailed"
    assert data.keep_level(float("nan"), pool, levels) == "direct"  # unknown -> the middle (direct of two)
    assert data.keep_level(5, [5, 5, 5], ["a", "b", "c"]) == "b"


class WordTokenizer:
    """Stands in for the Qwen tokenizer where only counting matters: one token per word."""

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [t.split() for t in texts]}


def traj(sid, level, response, difficulty, finish="stop"):
    return data.Trajectory(sid, f"question {sid}", level, response, finish, difficulty)


def test_build_rows_and_filters_report_what_they_remove():
    levels = ["direct", "detailed"]
    trajectories = [
        traj("p0", "direct", "short answer", 1), traj("p0", "detailed", "long " * 20, 1),
        traj("p1", "direct", "short", 9), traj("p1", "detailed", "think " * 3 + "done", 9, "length"),
        traj("p2", "direct", "x", 2), traj("p2", "detailed", " ".join(["again and again"] * 30), 2),
        traj("p3", "direct", "y", 8), traj("p3", "detailed", " ".join(["again and again"] * 30), 8),
    ]
    df = data.build_rows(trajectories, levels=levels, teacher="t", tokenizer=WordTokenizer())
    assert list(df.columns[:4]) == list(data.RELEASED_COLUMNS)
    assert df.loc[df.id == "p0:detailed", "token_num_qwen"].item() == 20
    kept = df[df.kept].set_index("source_id")["reasoning_level"].to_dict()
    assert kept == {"p0": "direct", "p1": "detailed", "p2": "direct", "p3": "detailed"}
    out, report = data.apply_filters(df, repetition_threshold=0.5)
    assert report["kept_by_rule"] == 4 and report["removed_repetitive"] == 1
    assert sorted(out["source_id"]) == ["p0", "p1", "p2"]
    assert report["truncated"] == 1 and out.loc[out.source_id == "p1", "truncated"].item()
    assert "kept" not in out.columns
    unfiltered, r2 = data.apply_filters(df, repetition_threshold=0.5, filter_repetitive=False)
    assert len(unfiltered) == 4 and r2["repetitive"] == 1 and r2["removed_repetitive"] == 0


def test_build_rows_rejects_empty_and_bad_rule():
    with pytest.raises(data.DataError):
        data.build_rows([], levels=["a"], teacher="t", tokenizer=WordTokenizer())
    with pytest.raises(data.DataError, match="keep_rule"):
        data.build_rows([traj("p", "a", "r", 1)], levels=["a"], teacher="t", tokenizer=WordTokenizer(), keep_rule="?")


def test_qwen_token_count_is_the_real_tokenizer(qwen_tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(qwen_tokenizer_dir)
    assert data.count_tokens(tok, ["def f(x):\n    return x", ""]) == [len(tok("def f(x):\n    return x")["input_ids"]), 0]
    assert data.count_tokens(tok, ["Hello world"]) == [2]


def test_token_matched_subsets_reports_both_modes_at_one_budget():
    t = table([5, 1, 9, 3])
    assert data.token_matched_subsets(t, 10).to_dict("records") == [
        {"mode": "length", "token_budget": 10, "rows": 2, "tokens": 14, "mean_tokens": 7.0},
        {"mode": "sample", "token_budget": 10, "rows": 4, "tokens": 18, "mean_tokens": 4.5},
    ]
    assert data.token_matched_subsets(t, 0)["rows"].tolist() == [0, 0]


# --------------------------------------------------------------------------- problem rows
@pytest.mark.parametrize(("messages", "expected"), [
    ([{"role": "user", "content": "Sort a list."}], ("Sort a list.", None)),
    ([{"role": "system", "content": "s"}, {"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
     ("a\n\nb", None)),
    ([{"role": "user", "content": "caf\u00e9".encode()}], ("caf\u00e9", None)),
    ([{"role": "user", "content": b"caf\xe9"}], (None, "invalid_utf8")),            # latin-1 bytes
    ([{"role": "user", "content": "abc\udc80"}], (None, "invalid_utf8")),           # a surrogateescape leftover
    ([{"role": "user", "content": "\ud83d"}], (None, "invalid_utf8")),              # half an emoji
    ([{"role": "user", "content": " \n "}], (None, "empty_question")),
    ([{"role": "user", "content": None}], (None, "empty_question")),
    ([{"role": "system", "content": "only a system turn"}], (None, "empty_question")),
    ([{"role": "user", "content": ["a", "list"]}], (None, "not_text")),
])
def test_question_skip_reason(messages, expected):
    assert data.question_skip_reason(messages) == expected


def test_rank_correlation_is_spearman_on_average_ranks():
    df = pd.DataFrame({"difficulty": [1, 2, 3, 4, None], "token_num_qwen": [10, 30, 20, 40, 99]})
    assert data.rank_correlation(df) == {"x": "difficulty", "y": "token_num_qwen", "n": 4, "spearman_rho": pytest.approx(0.8)}
    monotone = pd.DataFrame({"difficulty": [1, 1, 2, 3], "token_num_qwen": [5, 5, 50, 500]})
    assert data.rank_correlation(monotone)["spearman_rho"] == pytest.approx(1.0)
    assert data.rank_correlation(pd.DataFrame({"difficulty": [1, 1, 1], "token_num_qwen": [1, 2, 3]}))["spearman_rho"] is None
    assert data.rank_correlation(pd.DataFrame({"difficulty": [None, None], "token_num_qwen": [1, 2]}))["n"] == 0


# --------------------------------------------------------------------------- data figures
def kept_rows():
    return pd.DataFrame({
        "id": ["a:direct", "b:detailed", "c:detailed", "d:direct"], "question": ["qa", "qb", "qc", "qd"],
        "response": ["r" * 10, "r" * 3000, "r" * 500, "r" * 2], "token_num_qwen": [3, 900, 120, 1],
        "source_id": ["a", "b", "c", "d"], "reasoning_level": ["direct", "detailed", "detailed", "direct"],
        "difficulty": [2.0, 9.0, 7.0, 1.0],
    })


def test_simple_vs_complex_shows_the_shortest_and_longest_clean_rows():
    from z1 import data_figures

    shown = data_figures.simple_vs_complex(kept_rows(), exclude={"d"}, max_chars=100)
    assert [(e["example"], e["id"], e["token_num_qwen"]) for e in shown] == [
        ("simple (shortest)", "a:direct", 3), ("complex (longest)", "b:detailed", 900)]
    assert shown[1]["response"] == "r" * 100 + " [... 2900 more characters]" and shown[0]["response"] == "r" * 10
    assert data_figures.simple_vs_complex(kept_rows(), exclude={"a", "b", "c", "d"}) == []


def test_data_tables_come_from_the_report():
    from z1 import data_figures

    report = {"repetitive_rate": 0.05, "truncated_rate": 0.25, "paper_repetitive_rate": 0.03, "paper_truncated_rate_max": 0.01,
              "decontamination": {"benchmarks": {"humaneval": {"problems_indexed": 164, "too_short": 0, "contaminated": 2,
                                                               "ids": ["codeio/1", "codeio/9"]}}}}
    assert data_figures.rates_table(report)[["ours", "paper"]].values.tolist() == [[0.05, 0.03], [0.25, 0.01]]
    assert data_figures.contamination_table(report).to_dict("records") == [
        {"benchmark": "humaneval", "problems_indexed": 164, "too_short": 0, "contaminated": 2, "ids": "codeio/1, codeio/9"}]
    assert data_figures.rates_table({})["ours"].isna().all()  # the released dataset is not filtered again


def test_data_figures_name_profile_and_teacher():
    from z1 import data_figures

    report = {"repetitive_rate": 0.0, "truncated_rate": 0.5, "paper_repetitive_rate": 0.03, "paper_truncated_rate_max": 0.01}
    figs = [data_figures.length_distribution(kept_rows(), profile="ci", teacher="smollm2"),
            data_figures.length_vs_difficulty(kept_rows(), profile="ci", teacher="smollm2"),
            data_figures.rates_vs_paper(report, profile="ci", teacher="smollm2")]
    for fig in figs:
        assert "profile: ci | teacher: smollm2" in [t.get_text() for t in fig.texts]
    assert "Spearman rho +1.00, n = 4" in figs[1].axes[0].get_title()


def test_length_vs_difficulty_draws_the_same_figure_every_run():
    """seaborn jitters the strip plot with numpy's global generator: the figure seeds it (and gives the
    caller's state back), so a re-run of the data stage does not rewrite a committed figure."""
    import io

    import numpy as np

    from z1 import data_figures

    images = []
    for seed in (1, 2):
        np.random.seed(seed)
        buf = io.BytesIO()
        data_figures.length_vs_difficulty(kept_rows(), profile="ci", teacher="t").savefig(buf, format="png")
        images.append(buf.getvalue())
        assert np.random.get_state()[1][0] == np.random.RandomState(seed).get_state()[1][0]  # state restored
    assert images[0] == images[1]
