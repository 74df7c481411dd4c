"""z1.construct + z1.decontam: resumable sharded generation (a real interruption), bad problem rows,
decontamination against the evaluation benchmarks, clear errors on bad settings. Fake teacher only."""

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from fake_engine import FakeEngine

from z1 import benchmarks, construct, data, decontam
from z1.benchmarks.base import Problem

LEVELS = {"direct": "Answer directly.", "detailed": "Think step by step."}


def question_of(prompt: str) -> str:
    return prompt.split("<|user|>", 1)[1].rsplit("\n<|assistant|>", 1)[0]


def teacher(prompt: str, sample: int) -> str:
    """A deterministic teacher: a short answer when asked to answer directly, steps otherwise.
    It writes a digest of the question, never the question itself."""
    q = question_of(prompt)
    tag = hashlib.sha256(q.encode()).hexdigest()[:6]
    if "directly" in prompt:
        return f"return {tag}<EOS>"
    return " ".join(f"step {k} for {tag}." for k in range(2 + len(q) % 5)) + "<EOS>"


class KillableEngine(FakeEngine):
    """The fake teacher, killed on its `kill_on`-th generate call (1-based) as a killed run would be;
    `kill_on=None` never dies. One class for every run, since the engine's code is part of the key."""

    def __init__(self, script, kill_on: int | None = None):
        super().__init__(script)
        self.kill_on, self.attempts = kill_on, 0

    def generate(self, requests, **kw):
        self.attempts += 1
        if self.attempts == self.kill_on:
            raise KeyboardInterrupt("killed")
        return super().generate(requests, **kw)


class LocalTeacher(FakeEngine):
    """FakeEngine's behaviour, but its code lives in this file (another engine module)."""


class OtherTeacher(LocalTeacher):
    def info(self) -> dict:
        return {**super().info(), "model_dir": "/models/another-teacher"}


class WordTokenizer:
    """Stands in for the Qwen tokenizer where only counting matters: one token per word."""

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [t.split() for t in texts]}


def problem(pid, content, difficulty=1.0):
    return Problem(benchmark="toy", problem_id=pid, messages=[{"role": "user", "content": content}],
                   reference={}, difficulty=difficulty)


def toy_problems(n):
    return [problem(f"toy/{i}", f"Task {i}: add {i} to x and return it.", float(i % 4)) for i in range(n)]


def settings(**over):
    cfg = {
        "pool": "toy", "n_problems": None, "seed": 0, "max_tokens": 64, "reasoning_levels": dict(LEVELS),
        "keep_rule": "difficulty", "repetition": {"ngram": 4, "threshold": 0.5}, "filter_repetitive": True,
        "filter_incorrect": False, "select": {"mode": None, "token_budget": 0}, "shard_size": 2,
        "max_prompt_tokens": 200, "decontaminate": True, "decontamination": {"ngram": 13, "benchmarks": []},
    }
    cfg.update(over)
    return cfg


def run(engine, work_dir, problems, **over):
    return construct.regenerate(settings(**over), engine=engine, tokenizer=WordTokenizer(), teacher="fake",
                                work_dir=work_dir, problems=problems, progress=False, verify=False)


def prompts_of(calls):
    return [r.prompt_ids for call in calls for r in call]


def without_run_counts(report):
    return {k: v for k, v in report.items() if k != "shards"}


# --------------------------------------------------------------------------- resumable shards
def test_killed_run_resumes_without_regenerating_finished_shards(tmp_path):
    problems = toy_problems(7)  # shard_size 2 -> shards of 2, 2, 2, 1 problems
    reference = KillableEngine(teacher)
    ref_df, ref_report, ref_all = run(reference, tmp_path / "uninterrupted", problems)
    assert len(reference.calls) == 4 and [len(c) for c in reference.calls] == [4, 4, 4, 2]

    killed = KillableEngine(teacher, kill_on=3)
    with pytest.raises(KeyboardInterrupt):
        run(killed, tmp_path / "work", problems)
    assert len(killed.calls) == 2  # two shards finished before the kill

    resumed = KillableEngine(teacher)
    df, report, all_trajectories = run(resumed, tmp_path / "work", problems)
    # only the unfinished shards were generated, with exactly their prompts
    assert len(resumed.calls) == 2
    assert prompts_of(resumed.calls) == prompts_of(reference.calls[2:])
    assert {k: report["shards"][k] for k in ("shards", "reused", "generated", "damaged")} == \
        {"shards": 4, "reused": 2, "generated": 2, "damaged": 0}
    pd.testing.assert_frame_equal(df, ref_df)
    pd.testing.assert_frame_equal(all_trajectories, ref_all)
    assert without_run_counts(report) == without_run_counts(ref_report)
    assert len(all_trajectories) == 14 and set(all_trajectories["finish_reason"]) == {"stop", "length"}

    again = KillableEngine(teacher)
    run(again, tmp_path / "work", problems)
    assert again.calls == []  # a finished run regenerates nothing


@pytest.mark.parametrize("damage", ["torn_last_line", "truncated_to_one_row", "missing"])
def test_damaged_shard_is_generated_again(tmp_path, damage):
    problems = toy_problems(5)
    first = FakeEngine(teacher)
    ref_df, _, ref_all = run(first, tmp_path, problems)
    (shard_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    path = shard_dir / "shard-00001.jsonl"
    raw = path.read_bytes()
    if damage == "torn_last_line":
        path.write_bytes(raw[:-7])  # a kill in the middle of the last line
    elif damage == "truncated_to_one_row":
        path.write_bytes(raw[: raw.index(b"\n") + 1])  # whole lines, but too few of them
    else:
        path.unlink()
    (shard_dir / ".shard-00001.jsonl.tmp-999").write_text('{"source_id": "half')  # a stray temp file

    second = FakeEngine(teacher)
    df, report, all_trajectories = run(second, tmp_path, problems)
    assert prompts_of(second.calls) == prompts_of(first.calls[1:2])
    assert report["shards"]["damaged"] == (damage != "missing") and report["shards"]["generated"] == 1
    pd.testing.assert_frame_equal(df, ref_df)
    pd.testing.assert_frame_equal(all_trajectories, ref_all)


@pytest.mark.parametrize("change", [
    {"max_tokens": 32},
    {"reasoning_levels": {"direct": "Answer directly.", "detailed": "Reason in detail."}},
    {"seed": 1},
    {"shard_size": 3},
])
def test_changed_generation_settings_never_reuse_shards(tmp_path, change):
    problems = toy_problems(4)
    run(FakeEngine(teacher), tmp_path, problems)
    changed = FakeEngine(teacher)
    _, report, _ = run(changed, tmp_path, problems, **change)
    assert report["shards"]["reused"] == 0 and len(changed.calls) == report["shards"]["shards"] > 0
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_other_teacher_engine_code_or_problems_never_reuse_shards(tmp_path):
    problems = toy_problems(4)
    _, first, _ = run(LocalTeacher(teacher), tmp_path, problems)
    dirs = {first["shards"]["dir"]}
    for engine, pool in [(OtherTeacher(teacher), problems),   # another model
                         (FakeEngine(teacher), problems),     # the same model, another engine module
                         (LocalTeacher(teacher), [problem("toy/0", "Task 0: subtract 0 from x."), *problems[1:]])]:
        _, report, _ = run(engine, tmp_path, pool)
        assert report["shards"]["reused"] == 0 and report["shards"]["dir"] not in dirs
        dirs.add(report["shards"]["dir"])


def test_settings_that_do_not_change_generations_reuse_shards(tmp_path):
    problems = toy_problems(4)
    _, first, _ = run(FakeEngine(teacher), tmp_path, problems)
    engine = FakeEngine(teacher)
    _, report, _ = run(engine, tmp_path, problems, filter_repetitive=False, select={"mode": "sample", "token_budget": 5})
    assert engine.calls == [] and report["shards"]["dir"] == first["shards"]["dir"]
    stored = json.loads((Path(report["shards"]["dir"]) / "settings.json").read_text())
    assert stored["max_tokens"] == 64 and stored["reasoning_levels"] == LEVELS and stored["problems"] == 4


# --------------------------------------------------------------------------- bad problem rows
def test_bad_problem_rows_are_skipped_and_listed_with_reasons(tmp_path):
    engine = FakeEngine(teacher)
    # the detailed prompt is the longer one; find the question length that fills max_prompt_tokens exactly
    overhead = len(engine.encode_chat(data.level_messages([{"role": "user", "content": ""}], LEVELS["detailed"])))
    fits, too_long = "a" * (200 - overhead), "a" * (201 - overhead)
    problems = [
        *toy_problems(2),
        problem("bad/blank", " \n\t "),
        Problem(benchmark="toy", problem_id="bad/no-user-turn", messages=[{"role": "system", "content": "x"}], reference={}),
        problem("bad/surrogate", "reverse the string abc\ud800def"),
        problem("bad/latin1-bytes", b"caf\xe9 au lait"),
        problem("ok/utf8-bytes", "caf\u00e9 au lait".encode()),
        problem("bad/not-text", 42),
        problem("toy/0", "Task 0 again: a duplicate id."),
        problem("ok/fits", fits),
        problem("bad/too-long", too_long),
    ]
    df, report, all_trajectories = run(engine, tmp_path, problems)
    assert report["skipped"]["problems"] == [
        {"id": "bad/blank", "reason": "empty_question"},
        {"id": "bad/no-user-turn", "reason": "empty_question"},
        {"id": "bad/surrogate", "reason": "invalid_utf8"},
        {"id": "bad/latin1-bytes", "reason": "invalid_utf8"},
        {"id": "bad/not-text", "reason": "not_text"},
        {"id": "toy/0", "reason": "duplicate_id"},
        {"id": "bad/too-long", "reason": "prompt_too_long", "detail": "201 prompt tokens > max_prompt_tokens 200"},
    ]
    assert report["skipped"]["count"] == 7
    assert report["skipped"]["by_reason"] == {"empty_question": 2, "invalid_utf8": 2, "not_text": 1,
                                              "duplicate_id": 1, "prompt_too_long": 1}
    assert sorted(all_trajectories["source_id"].unique()) == ["ok/fits", "ok/utf8-bytes", "toy/0", "toy/1"]
    assert all_trajectories.loc[all_trajectories.source_id == "ok/utf8-bytes", "question"].iloc[0] == "caf\u00e9 au lait"
    assert all_trajectories.loc[all_trajectories.source_id == "toy/0", "question"].iloc[0].startswith("Task 0: add")
    assert report["pool_problems"] == 11 and report["problems"] == 4
    assert max(len(ids) for ids in prompts_of(engine.calls)) == 200


def test_a_pool_of_only_bad_rows_is_a_clear_error(tmp_path):
    with pytest.raises(data.DataError, match=r"no usable problem left of 2: skipped \{'empty_question': 2\}"):
        run(FakeEngine(teacher), tmp_path, [problem("a", ""), problem("b", "   ")])


# --------------------------------------------------------------------------- decontamination
def test_words_and_ngrams():
    assert decontam.words("Return the SUM, of x_1 + 2.5!") == ["return", "the", "sum", "of", "x_1", "2", "5"]
    assert decontam.ngrams(["a", "b", "c"], 2) == {("a", "b"), ("b", "c")}
    assert decontam.ngrams(["a", "b"], 3) == set()


def bench(benchmark, pid, text):
    return Problem(benchmark=benchmark, problem_id=pid, messages=[{"role": "user", "content": text}], reference={})


def test_overlap_needs_n_consecutive_words_and_ignores_case_and_punctuation():
    text = " ".join(f"w{i}" for i in range(20))
    index = decontam.build_index({"math500": [bench("math500", "math500/7", text), bench("math500", "math500/8", "too short")]}, ngram=13)
    assert index.problems == {"math500": 2} and index.too_short == {"math500": 1}
    thirteen = " ".join(f"W{i}," for i in range(3, 16))  # 13 consecutive words, other case and punctuation
    twelve = " ".join(f"w{i}" for i in range(3, 15))
    found = decontam.find_contaminated({"q13": f"Prefix {thirteen} suffix", "q12": f"Prefix {twelve} suffix",
                                        "gap": twelve + " x w15"}, index)
    assert found == {"q13": [("math500", "math500/7")]}
    section = decontam.summary(found, index)
    assert section["benchmarks"]["math500"] == {"problems_indexed": 2, "too_short": 1, "contaminated": 1, "ids": ["q13"]}
    assert section["matches"] == {"q13": ["math500:math500/7"]} and section["ngram"] == 13


def test_humaneval_is_compared_on_its_prompt_not_our_template():
    (he,) = benchmarks.load("humaneval", n=1)
    template_only = [m["content"] for m in he.messages if m["role"] == "user"][0].replace(he.reference["prompt"].strip("\n"), "")
    index = decontam.build_index({"humaneval": [he]})
    assert decontam.matches(template_only, index) == set()
    assert decontam.matches(he.reference["prompt"], index) == {("humaneval", he.problem_id)}


def planted(bench_problem, pid):
    """A pool question that copies 13 consecutive words of a benchmark problem (in memory only)."""
    words = decontam.words(decontam.benchmark_text(bench_problem))
    return problem(pid, "Write a program for this. " + " ".join(words[2:15]) + " Use Python."), " ".join(words[2:15])


@pytest.mark.parametrize("drop", [True, False])
def test_planted_benchmark_overlap_is_reported_by_id_and_dropped(tmp_path, drop):
    he = benchmarks.load("humaneval")[3]
    math = next(p for p in benchmarks.load("math500") if len(decontam.words(decontam.benchmark_text(p))) >= 20)
    gpqa = benchmarks.load("gpqa_diamond")[5]
    plants = [planted(he, "plant/he"), planted(math, "plant/math")] + ([planted(gpqa, "plant/gpqa")] if drop else [])
    engine = FakeEngine(teacher)
    cfg = {"decontaminate": drop, "decontamination": {"ngram": 13, "benchmarks": ["humaneval", "math500", "gpqa_diamond"]}}
    df, report, all_trajectories = run(engine, tmp_path, toy_problems(3) + [p for p, _ in plants], **cfg)
    section = report["decontamination"]
    assert {name: b["ids"] for name, b in section["benchmarks"].items()} == {
        "humaneval": ["plant/he"], "math500": ["plant/math"], "gpqa_diamond": ["plant/gpqa"] if drop else []}
    assert section["benchmarks"]["humaneval"]["problems_indexed"] == 164
    assert section["matches"]["plant/he"] == [f"humaneval:{he.problem_id}"]
    assert section["contaminated"] == len(plants) and section["removed_contaminated"] == (len(plants) if drop else 0)
    # dropped before generation: the teacher never saw them; kept (and reported) otherwise
    seen = {question_of(engine.tokenizer.decode(ids)) for ids in prompts_of(engine.calls)}
    assert [p.problem_id for p, _ in plants if p.messages[0]["content"] in seen] == ([] if drop else ["plant/he", "plant/math"])
    assert ({"plant/he", "plant/math"} <= set(all_trajectories["source_id"])) is not drop
    # ids only: no benchmark text in the report or in anything written under the work directory
    dumped = json.dumps(report) + "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert [p.problem_id for p, text in plants if text in dumped] == []


# --------------------------------------------------------------------------- settings
@pytest.mark.parametrize(("change", "match"), [
    ({"shard_size": 0}, "data.shard_size must be an integer >= 1"),
    ({"shard_size": "8"}, "data.shard_size"),
    ({"max_prompt_tokens": None}, "data.max_prompt_tokens"),
    ({"max_tokens": True}, "data.max_tokens"),
    ({"reasoning_levels": {}}, "data.reasoning_levels"),
    ({"decontaminate": "yes"}, "data.decontaminate must be true or false"),
    ({"decontamination": {"ngram": 0}}, "data.decontamination.ngram"),
    ({"decontamination": {"benchmarks": ["livecodebench_v5"]}}, r"\['livecodebench_v5'\] cannot be checked offline"),
    ({"decontamination": {"benchmarks": ["codeio"]}}, "cannot be checked offline"),
])
def test_bad_settings_are_explained(tmp_path, change, match):
    with pytest.raises(data.DataError, match=match):
        run(FakeEngine(teacher), tmp_path, toy_problems(2), **change)


def test_report_is_json_and_names_the_teacher(tmp_path):
    _, report, _ = run(FakeEngine(teacher), tmp_path, toy_problems(3))
    assert json.loads(json.dumps(report)) == report
    assert report["teacher"] == "fake" and report["levels"] == ["direct", "detailed"]
    assert re.fullmatch(r"[0-9a-f]{16}", Path(report["shards"]["dir"]).name)


def test_hub_pool_evol_codealpaca_rows_and_offline_error(monkeypatch):
    """The paper's pool: Code Evol-Instruct rows become `evol/<i>` problems (one user turn, the
    dataset answer kept as reference); offline it is a clear DataError naming the hub."""
    from z1 import construct
    from z1.benchmarks import base

    rows = [{"instruction": f"Write code {i}", "output": f"def f(): return {i}"} for i in range(5)]
    monkeypatch.setattr(base, "hub_load", lambda name, **kw: rows if name == construct.EVOL_DATASET else None)
    got = construct._pool({"pool": "evol_codealpaca", "n_problems": 3, "seed": 0})
    assert len(got) == 3 and all(p.problem_id.startswith("evol/") for p in got)
    p = next(q for q in got if q.problem_id == got[0].problem_id)
    i = int(p.problem_id.split("/")[1])
    assert p.messages == [{"role": "user", "content": f"Write code {i}"}] and p.reference["output"].endswith(str(i))
    monkeypatch.undo()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(data.DataError, match="needs the hub"):
        construct._pool({"pool": "evol_codealpaca", "n_problems": 3})
    with pytest.raises(data.DataError, match="unknown pool"):
        construct._pool({"pool": "stack_overflow"})


def test_an_empty_level_instruction_adds_no_system_message():
    user = [{"role": "user", "content": "q"}]
    assert data.level_messages(user, "") == user
    assert data.level_messages(user, "Be brief.") == [{"role": "system", "content": "Be brief."}, *user]


def test_released_dataset_from_a_local_copy_offline(tmp_path, monkeypatch):
    """data.source=released reads a local copy of the released schema offline (a downloaded snapshot:
    parquet or jsonl files), recounts token_num_qwen and reports the difference; a hub id offline is
    a clear error naming the fix."""
    from z1 import construct

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rows = pd.DataFrame({"id": ["a", "b", "c"], "question": ["Add two numbers.", "Sort a list.", "Reverse it."],
                         "response": ["return a + b", "Let me think step by step . return sorted(x)", "x[::-1]"],
                         "token_num_qwen": [4, 9, 2]})
    snapshot = tmp_path / "snapshot" / "data"
    snapshot.mkdir(parents=True)
    rows.iloc[:2].to_parquet(snapshot / "train-00000.parquet")
    rows.iloc[2:].to_json(snapshot / "train-00001.jsonl", orient="records", lines=True)
    cfg = {"released_id": str(tmp_path / "snapshot"), "decontaminate": False,
           "decontamination": {"ngram": 13, "benchmarks": []}, "select": {"mode": "sample", "token_budget": 4}}
    df, report, trajectories = construct.load_released(cfg, tokenizer=WordTokenizer())
    assert trajectories is None and report["rows_released"] == 3
    assert sorted(df["id"]) == ["a", "c"]  # shortest first until the running sum reaches the budget
    assert report["token_count_exact_share"] == pytest.approx(2 / 3) and report["token_count_max_abs_diff"] == 1
    with pytest.raises(data.DataError, match="point released_id at a local copy"):
        construct.load_released({**cfg, "released_id": "efficientscaling/Z1-Code-Reasoning-107K"},
                                tokenizer=WordTokenizer())
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataError, match="without .parquet"):
        construct.load_released({**cfg, "released_id": str(tmp_path / "empty")}, tokenizer=WordTokenizer())


def test_only_problems_with_a_checker_get_a_verdict(tmp_path):
    """`verified_correct` comes from the CodeI/O checker; a Code Evol-Instruct row (the paper's pool)
    has none, so it stays None rather than False."""
    evol = [Problem(benchmark="evol_codealpaca", problem_id=f"evol/{i}", messages=[{"role": "user", "content": f"Task {i}"}],
                    reference={}, difficulty=None) for i in range(2)]
    df, _, _ = construct.regenerate(settings(), engine=FakeEngine(teacher), tokenizer=WordTokenizer(), teacher="fake",
                                    work_dir=tmp_path, problems=evol, progress=False, verify=True)
    assert len(df) and df["verified_correct"].isna().all()
