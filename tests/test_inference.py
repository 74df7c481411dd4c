"""z1.inference + z1.evaluation: the stage loop on a fake engine - rows, provenance, resume after a
real interruption (same rows as an uninterrupted run), and grading from disk."""

import json

import pytest
from fake_engine import EOS_MARK, FakeEngine

from z1 import evaluation, generations, inference, metrics
from z1.benchmarks.base import Problem

VOLATILE = {"created_utc", "batch_seconds", "code_revision"}


def problems(k=5):
    # answer is 2*i; the fake model "thinks" for a number of characters that grows with i
    return [Problem("math500", f"math500/{i}", [{"role": "user", "content": f"q{i}"}], {"answer": str(2 * i)},
                    difficulty=float(i)) for i in range(k)]


def script(prompt: str, j: int) -> str:
    if "overthought" in prompt:  # pass 2 after the hint: answer at once
        i = int(prompt.split("q", 1)[1].split("\n")[0])
        return f"\\boxed{{{2 * i}}}{EOS_MARK}"
    i = int(prompt.split("q", 1)[1].split("\n")[0])
    return "t" * (6 * i) + f" so \\boxed{{{2 * i + (i % 2)}}}{EOS_MARK}"


CFG = {
    "name": "test",
    "compute": {"device": "cpu", "dtype": "float32", "threads": 1},
    "inference": {
        "engine": "fake", "engine_options": {}, "models": ["m"],
        "benchmarks": {"math500": {"n": 5}},
        "methods": {"stw": {"function": "shifted_thinking_window", "mode": "corrected"}},
        "windows": [8, 32], "max_tokens": 64, "sampling": {"temperature": 0.0, "n": 1, "seed": 0},
        "batch_size": 2,
    },
}


class Interrupt(Exception):
    pass


@pytest.fixture
def fake_stage(monkeypatch):
    state = {"engines": [], "fail_on_call": None}

    def make_engine(backend, model_dir, **kw):
        eng = FakeEngine(script)
        real = eng.generate

        def generate(requests, **kw2):
            if state["fail_on_call"] is not None and len(eng.calls) == state["fail_on_call"]:
                raise Interrupt("killed mid-run")
            return real(requests, **kw2)

        eng.generate = generate
        state["engines"].append(eng)
        return eng

    monkeypatch.setattr(inference, "make_engine", make_engine)
    monkeypatch.setattr(inference.benchmarks, "load", lambda name, **kw: problems(kw.get("n", 5)))
    return state


def read(path):
    rows = [{k: v for k, v in json.loads(line).items() if k not in VOLATILE} for line in path.read_text().splitlines()]
    for r in rows:  # wall-clock seconds and prefix-cache hits depend on the run; everything else must not
        for k in ("timings", "pass1_cached_prompt_tokens", "pass2_cached_prompt_tokens"):
            r["record"].pop(k)
    return rows


def test_rows_carry_problem_record_and_provenance(tmp_path, fake_stage):
    summary = inference.run(CFG, model_dirs={"m": tmp_path}, out_dir=tmp_path / "gen", progress=False)
    path = tmp_path / "gen" / "m" / "math500" / "stw.jsonl"
    rows = read(path)
    assert summary["rows_written"] == len(rows) == 10  # 5 problems x 2 windows
    assert {(r["window"], r["problem_id"]) for r in rows} == {(w, f"math500/{i}") for w in (8, 32) for i in range(5)}
    r = rows[0]
    for key in ("profile", "model", "engine", "dtype", "method", "method_options", "window", "max_tokens",
                "sampling", "torch", "transformers", "benchmark_options", "problem", "record"):
        assert key in r, key
    assert r["profile"] == "test" and r["engine"]["engine"] == "fake" and r["method_options"] == {"mode": "corrected"}
    assert fake_stage["engines"][0].closed
    # a capped sample got the hint; a short one finished in pass 1
    by = {(r["window"], r["problem_id"]): r["record"] for r in rows}
    assert by[(8, "math500/4")]["window_hit"] and "I overthought it" in by[(8, "math500/4")]["trajectory"]
    assert not by[(32, "math500/0")]["window_hit"]


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, fake_stage):
    full = tmp_path / "full"
    inference.run(CFG, model_dirs={"m": tmp_path}, out_dir=full, progress=False)

    part = tmp_path / "part"
    fake_stage["fail_on_call"] = 2  # dies during the second batch
    with pytest.raises(Interrupt):
        inference.run(CFG, model_dirs={"m": tmp_path}, out_dir=part, progress=False)
    path = part / "m" / "math500" / "stw.jsonl"
    done_before = len(path.read_text().splitlines())
    assert 0 < done_before < 10  # the first batch survived, the one in flight was lost
    with path.open("a") as f:
        f.write('{"torn": ')  # a kill mid-write leaves a partial line
    fake_stage["fail_on_call"] = None
    summary = inference.run(CFG, model_dirs={"m": tmp_path}, out_dir=part, progress=False)
    assert summary["rows_written"] == 10 - done_before  # finished rows were not regenerated
    key = lambda r: (r["window"], r["problem_id"])  # noqa: E731
    assert sorted(read(path), key=key) == sorted(read(full / "m" / "math500" / "stw.jsonl"), key=key)
    # and a third run has nothing left to do
    assert inference.run(CFG, model_dirs={"m": tmp_path}, out_dir=part, progress=False)["rows_written"] == 0


def test_unknown_model_and_method_are_clear_errors(tmp_path, fake_stage):
    with pytest.raises(inference.InferenceError, match="no directory"):
        inference.run(CFG, model_dirs={}, out_dir=tmp_path, progress=False)
    with pytest.raises(inference.InferenceError, match="unknown test-time method"):
        inference.method_function("think_harder")


def test_evaluation_grades_saved_rows_and_writes_metrics(tmp_path, fake_stage):
    inference.run(CFG, model_dirs={"m": tmp_path}, out_dir=tmp_path / "gen", progress=False)
    rows = inference.read_generations(tmp_path / "gen")
    samples = evaluation.grade_rows(rows, workers=1)
    # window 32 lets problems 0-3 finish in pass 1 with the script's answer (wrong for odd i);
    # window 8 caps problems 2-4, whose pass 2 answers correctly
    got = samples.set_index(["window", "problem_id"])["correct"].to_dict()
    assert got[(32, "math500/0")] and not got[(32, "math500/1")] and got[(32, "math500/2")]
    assert got[(8, "math500/3")] and got[(8, "math500/4")]
    assert "question" not in samples.columns and "answer" not in samples.columns  # no text leaves the stage
    finish = {(r["window"], r["problem_id"]): r["record"]["finish_reason"] == "stop" for r in rows}
    assert samples.set_index(["window", "problem_id"])["finished"].to_dict() == finish
    summary = metrics.summarize(samples, bootstrap=50)
    generation = evaluation.generation_provenance(rows)
    assert generation["methods"] == {"stw": {"function": "shifted_thinking_window", "mode": "corrected"}}
    assert list(generation["models"]) == ["m"] and generation["max_tokens"] == [64]
    paths = evaluation.write_results(samples, summary, tmp_path / "results", profile="test",
                                     generation_provenance=generation, grading={"bootstrap": 50})
    doc = json.loads(paths["metrics"].read_text())
    assert doc["provenance"]["profile"] == "test" and doc["provenance"]["benchmarks"]["math500"]["problems"] == 5
    w32 = doc["results"]["m"]["math500"]["stw"]["w32"]
    assert w32["pass_at_1"] == pytest.approx(100 * samples[samples.window == 32].correct.mean(), abs=0.01)
    assert w32["finish_rate"] == pytest.approx(samples[samples.window == 32].finished.mean(), abs=0.001)
    assert paths["curves"].exists() and paths["samples"].exists()


def test_grade_rows_rejects_empty():
    with pytest.raises(ValueError, match="no generation rows"):
        evaluation.grade_rows([])


def _adapter(model_dir, base_dir, r=16):
    (model_dir / "adapter").mkdir(parents=True)
    (model_dir / "adapter" / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": r, "base_model_name_or_path": str(base_dir)}))


def test_lora_model_shares_the_base_engine_on_vllm(tmp_path, monkeypatch):
    """vLLM: `sft` (base + LoRA adapter) runs on `base`'s engine with lora_path on every request;
    one engine is built (enable_lora, the adapter's rank) and closed once; rows say which adapter."""
    base, sft, other = tmp_path / "base", tmp_path / "sft", tmp_path / "other"
    for d in (base, sft, other):
        d.mkdir()
    _adapter(sft, base)
    _adapter(other, tmp_path / "elsewhere")  # an adapter of some other base: not shared
    built, seen, closed = [], [], []

    def make_engine(backend, model_dir, **kw):
        eng = FakeEngine(script)
        eng._options = {"enable_lora": kw.get("enable_lora", False)}
        real = eng.generate

        def generate(requests, **kw2):
            seen.extend((str(model_dir), r.lora_path) for r in requests)
            return real(requests, **kw2)

        eng.generate, eng.close = generate, lambda: closed.append(str(model_dir))
        built.append((str(model_dir), kw))
        return eng

    monkeypatch.setattr(inference, "make_engine", make_engine)
    monkeypatch.setattr(inference.checkpoint, "check_model_dir", lambda d: None)  # fake models have no files
    monkeypatch.setattr(inference.benchmarks, "load", lambda name, **kw: problems(kw.get("n", 5)))
    cfg = {**CFG, "inference": {**CFG["inference"], "engine": "vllm", "models": ["base", "sft", "other"]}}
    dirs = {"base": base, "sft": sft, "other": other}
    assert inference.engine_plan(cfg["inference"], dirs) == {"base": None, "sft": "base", "other": None}
    summary = inference.run(cfg, model_dirs=dirs, out_dir=tmp_path / "gen", progress=False)
    assert [b[0] for b in built] == [str(base), str(other)]
    assert built[0][1]["enable_lora"] is True and built[0][1]["max_lora_rank"] == 16
    assert "enable_lora" not in built[1][1]
    assert sorted(closed) == sorted([str(base), str(other)])
    assert summary["shared_engines"] == {"sft": "base"}
    adapter = str((sft / "adapter").resolve())
    assert {lp for d, lp in seen if d == str(base)} == {None, adapter}
    rows = inference.read_generations(tmp_path / "gen")
    assert {r["engine"].get("lora_adapter") for r in rows if r["model"] == "sft"} == {adapter}
    assert all("lora_adapter" not in r["engine"] for r in rows if r["model"] != "sft")
    # same outputs with or without sharing (the fake model ignores adapters): only the engine differs
    flat = {**cfg, "inference": {**cfg["inference"], "share_lora_engine": False}}
    assert inference.engine_plan(flat["inference"], dirs) == {"base": None, "sft": None, "other": None}
    transformers_cfg = {**cfg, "inference": {**cfg["inference"], "engine": "transformers"}}
    assert inference.engine_plan(transformers_cfg["inference"], dirs)["sft"] is None


_KILLED_CHILD = r"""
import sys, time
sys.path[:0] = [{tests!r}]
import test_inference as T
from fake_engine import FakeEngine
from z1 import inference

def make_engine(backend, model_dir, **kw):
    eng = FakeEngine(T.script)
    real = eng.generate
    def generate(requests, **kw2):
        if len(eng.calls) >= 2:  # the second batch hangs until the parent kills the process
            time.sleep(600)
        return real(requests, **kw2)
    eng.generate = generate
    return eng

inference.make_engine = make_engine
inference.benchmarks.load = lambda name, **kw: T.problems(kw.get("n", 5))
from pathlib import Path
cfg = {{**T.CFG, "inference": {{**T.CFG["inference"], "merge_jobs": {merge}}}}}
inference.run(cfg, model_dirs={{"m": Path({model!r})}}, out_dir=Path({out!r}), progress=False)
"""


@pytest.mark.parametrize("merge", [False, True], ids=["file_by_file", "merged_jobs"])
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path, fake_stage, merge):
    """A real kill: the stage runs in a child process that is SIGKILLed while a batch is in flight;
    the restart keeps the finished rows and ends with the same file as an uninterrupted run (file by
    file, and with merge_jobs, where the file is a job of the Gather)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    part = tmp_path / "part"
    path = part / "m" / "math500" / "stw.jsonl"
    code = _KILLED_CHILD.format(tests=str(Path(__file__).parent), model=str(tmp_path), out=str(part), merge=merge)
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (path.exists() and path.read_text().count("\n") >= 1):
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline, "the first batch never landed"
        time.sleep(0.05)
    time.sleep(0.2)  # the child is now inside the second batch's generate call
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    done_before = len(path.read_text().splitlines())
    assert 0 < done_before < 10
    cfg = {**CFG, "inference": {**CFG["inference"], "merge_jobs": merge}}
    summary = inference.run(cfg, model_dirs={"m": tmp_path}, out_dir=part, progress=False)
    assert summary["rows_written"] == 10 - done_before and summary["merge_jobs"] is merge
    full = tmp_path / "full"
    inference.run(CFG, model_dirs={"m": tmp_path}, out_dir=full, progress=False)
    key = lambda r: (r["window"], r["problem_id"])  # noqa: E731
    assert sorted(read(path), key=key) == sorted(read(full / "m" / "math500" / "stw.jsonl"), key=key)


def test_methods_run_on_their_models_and_share_identical_greedy_requests(tmp_path, fake_stage):
    """A method's `models` list restricts it; STW and s1 budget forcing open with the same greedy
    request, which the stage decodes once per model and benchmark (MemoView), with the same rows
    as running the method alone."""
    methods = {"stw": {"function": "shifted_thinking_window", "mode": "corrected"},
               "s1": {"function": "budget_forcing", "models": ["b"]}}
    cfg = {**CFG, "inference": {**CFG["inference"], "models": ["a", "b"], "methods": methods}}
    summary = inference.run(cfg, model_dirs={"a": tmp_path, "b": tmp_path}, out_dir=tmp_path / "gen", progress=False)
    files = sorted(p.relative_to(tmp_path / "gen").as_posix() for p in (tmp_path / "gen").rglob("*.jsonl"))
    assert files == ["a/math500/stw.jsonl", "b/math500/s1.jsonl", "b/math500/stw.jsonl"]
    engine_b = fake_stage["engines"][1]
    prompts = {tuple(engine_b.encode_chat(pr.messages)) for pr in problems(5)}
    first_passes = [r for call in engine_b.calls for r in call if r.prompt_ids in prompts]
    assert summary["greedy_requests_reused"] == 5  # s1's first round (5 problems at W = 32) came from memory
    assert len(first_passes) == len(set(first_passes))  # no greedy first pass decoded twice
    assert sum(r.max_tokens == 32 for r in first_passes) == 5
    alone = {**cfg, "inference": {**cfg["inference"], "models": ["b"],
                                  "methods": {"s1": {"function": "budget_forcing"}}}}
    inference.run(alone, model_dirs={"b": tmp_path}, out_dir=tmp_path / "alone", progress=False)
    key = lambda r: (r["window"], r["problem_id"])  # noqa: E731
    shared = sorted(read(tmp_path / "gen" / "b" / "math500" / "s1.jsonl"), key=key)
    own = sorted(read(tmp_path / "alone" / "b" / "math500" / "s1.jsonl"), key=key)
    assert [r["record"] for r in shared] == [r["record"] for r in own]
    assert shared[0]["engine"]["greedy_request_memo"] is True


def test_method_plan_rejects_unknown_functions_and_models_before_any_engine(tmp_path, fake_stage):
    bad_model = {**CFG, "inference": {**CFG["inference"], "methods": {"s1": {"function": "budget_forcing",
                                                                              "models": ["nope"]}}}}
    with pytest.raises(inference.InferenceError, match="not in inference.models"):
        inference.run(bad_model, model_dirs={"m": tmp_path}, out_dir=tmp_path, progress=False)
    bad_fn = {**CFG, "inference": {**CFG["inference"], "methods": {"x": {"function": "think_harder"}}}}
    with pytest.raises(inference.InferenceError, match="unknown test-time method"):
        inference.run(bad_fn, model_dirs={"m": tmp_path}, out_dir=tmp_path, progress=False)
    assert fake_stage["engines"] == []  # failed before any engine was built


def test_memo_view_decodes_a_greedy_request_once_and_sampled_ones_always():
    from z1.engines.base import Request, Sampling
    from z1.engines.memo import MemoView

    eng = FakeEngine(script)
    memo = MemoView(eng)
    ids = eng.encode_chat([{"role": "user", "content": "q3"}])
    greedy = Request(ids, 8)
    sampled = Request(ids, 8, sampling=Sampling(temperature=1.0, seed=1))
    a = memo.generate([greedy, greedy, sampled, sampled])
    assert [len(c) for c in eng.calls] == [3]  # one greedy request + the two sampled ones
    b = memo.generate([greedy, sampled])
    assert [len(c) for c in eng.calls] == [3, 1] and (memo.hits, memo.misses) == (2, 4)
    assert a[0] == a[1] == b[0]
    assert memo.tokenizer is eng.tokenizer and memo.info()["greedy_request_memo"] is True


def test_benchmark_stop_strings_reach_the_engine_as_each_mode_uses_them(tmp_path, fake_stage):
    """BigCodeBench's stop list (the authors' decoder: its EOS strings plus "\\n```\\n") is handed to
    the method: STW paper mode ends the thinking window at a stop string too (its tokens counted as
    thinking, as len(token_ids) in the authors' code); corrected mode keeps it out of pass 1 and ends
    only the answer with it. GPQA/MATH get none."""
    from z1 import benchmarks

    assert benchmarks.stop_strings("bigcodebench_hard")[-1] == "\n```\n"
    assert "\nprint(" in benchmarks.stop_strings("bigcodebench_hard")
    assert benchmarks.stop_strings("livecodebench_v5") == ("<|im_end|>",)
    assert benchmarks.stop_strings("gpqa_diamond") == benchmarks.stop_strings("math500") == ()
    methods = {"stw_paper": {"function": "shifted_thinking_window", "mode": "paper"},
               "stw": {"function": "shifted_thinking_window", "mode": "corrected"}}
    cfg = {**CFG, "inference": {**CFG["inference"], "methods": methods, "windows": [32],
                                "benchmarks": {"bigcodebench_hard": {"n": 5}, "math500": {"n": 5}}}}
    inference.run(cfg, model_dirs={"m": tmp_path}, out_dir=tmp_path / "gen", progress=False)
    eng = fake_stage["engines"][0]
    stop = benchmarks.stop_strings("bigcodebench_hard")
    requests = [r for call in eng.calls for r in call]
    assert any(r.stop == stop and r.max_tokens == 32 for r in requests)   # paper: pass 1 stops at them
    assert any(r.stop == () and r.max_tokens == 32 for r in requests)     # corrected: pass 1 does not
    gen = tmp_path / "gen" / "m"
    for method, ends_window in (("stw_paper", True), ("stw", False)):
        rows = read(gen / "bigcodebench_hard" / f"{method}.jsonl")
        assert all(r["stop"] == list(stop) and r["record"]["options"]["stop"] == list(stop) for r in rows)
        assert all(r["record"]["options"]["stop_ends_window"] is ends_window for r in rows)
        assert all(r["stop"] == [] for r in read(gen / "math500" / f"{method}.jsonl"))


def test_stop_string_ends_the_paper_window_and_counts_as_thinking(tmp_path, monkeypatch):
    """A model that writes "\\nprint(" while thinking: the authors' code stops pass 1 there (finish
    "stop", no pass 2, the stop string's tokens in the thinking count); the corrected mode thinks on."""
    thinking = "abc\nprint(x)" + "t" * 40 + EOS_MARK
    monkeypatch.setattr(inference, "make_engine", lambda *a, **k: FakeEngine(lambda prompt, j: thinking))
    monkeypatch.setattr(inference.benchmarks, "load", lambda name, **kw: problems(1))
    methods = {"stw_paper": {"function": "shifted_thinking_window", "mode": "paper"},
               "stw": {"function": "shifted_thinking_window", "mode": "corrected"}}
    cfg = {**CFG, "inference": {**CFG["inference"], "methods": methods, "windows": [32],
                                "benchmarks": {"bigcodebench_hard": {"n": 1}}}}
    inference.run(cfg, model_dirs={"m": tmp_path}, out_dir=tmp_path / "gen", progress=False)
    paper = read(tmp_path / "gen" / "m" / "bigcodebench_hard" / "stw_paper.jsonl")[0]["record"]
    assert (paper["pass1_finish_reason"], paper["window_hit"], paper["answer"]) == ("stop", False, "abc")
    assert paper["thinking_tokens"] == len("abc\nprint(")  # one toy token per character, stop string included
    corrected = read(tmp_path / "gen" / "m" / "bigcodebench_hard" / "stw.jsonl")[0]["record"]
    assert corrected["window_hit"] is True and corrected["thinking_tokens"] == 32


def test_one_pass_stw_rows_equal_the_two_pass_rows(tmp_path, fake_stage):
    """`one_pass: true` on a method runs the corrected window in one engine call per round; the rows
    say the same about every sample as the two-pass method's (the option is part of the row key, so
    switching it regenerates rather than mixing)."""
    methods = {"two": {"function": "shifted_thinking_window", "mode": "corrected"},
               "one": {"function": "shifted_thinking_window", "mode": "corrected", "one_pass": True}}
    cfg = {**CFG, "inference": {**CFG["inference"], "methods": methods}}
    inference.run(cfg, model_dirs={"m": tmp_path}, out_dir=tmp_path / "gen", progress=False)
    two, one = (read(tmp_path / "gen" / "m" / "math500" / f"{m}.jsonl") for m in ("two", "one"))
    strip = lambda r: {k: v for k, v in r["record"].items()  # noqa: E731
                       if k not in ("timings", "options", "pass1_cached_prompt_tokens", "pass2_cached_prompt_tokens",
                                    "notes")}
    assert [strip(r) for r in one] == [strip(r) for r in two] and any(r["record"]["window_hit"] for r in one)
    assert all(r["record"]["options"]["one_pass"] for r in one) and one[0]["row_key"] != two[0]["row_key"]


def test_a_method_can_bring_its_own_windows_and_max_tokens(tmp_path, fake_stage):
    """The paper's R1-Distill grid reaches 8192 while the rest stops at 4096: a method's `windows` and
    `max_tokens` replace the section's for that method only; bad values fail before any engine."""
    methods = {"stw": {"function": "shifted_thinking_window", "mode": "corrected"},
               "r1": {"function": "r1_truncation", "windows": [16, 48], "max_tokens": 96}}
    cfg = {**CFG, "inference": {**CFG["inference"], "methods": methods}}
    inference.run(cfg, model_dirs={"m": tmp_path}, out_dir=tmp_path / "gen", progress=False)
    rows = {m: read(tmp_path / "gen" / "m" / "math500" / f"{m}.jsonl") for m in methods}
    assert {r["window"] for r in rows["stw"]} == {8, 32} and {r["max_tokens"] for r in rows["stw"]} == {64}
    assert {r["window"] for r in rows["r1"]} == {16, 48} and {r["max_tokens"] for r in rows["r1"]} == {96}
    assert all("windows" not in r["method_options"] for r in rows["r1"])
    for bad in ({"windows": "16"}, {"windows": []}, {"max_tokens": 0}):
        broken = {**CFG, "inference": {**CFG["inference"], "methods": {"r1": {"function": "r1_truncation", **bad}}}}
        with pytest.raises(inference.InferenceError, match="method 'r1'"):
            inference.run(broken, model_dirs={"m": tmp_path}, out_dir=tmp_path / "x", progress=False)


@pytest.mark.parametrize("change,match", [
    ({"windows": "16"}, r"inference.windows must be a non-empty list of ints >= 1, got '16'"),
    ({"windows": []}, "inference.windows"),
    ({"batch_size": 0}, r"inference.batch_size must be an int >= 1, got 0"),
    ({"max_tokens": -5}, "inference.max_tokens"),
    ({"benchmarks": {}}, "must name at least one benchmark"),
    ({"benchmarks": {"math500": {"n": 2}, "humanevl": {"n": 2}}}, r"unknown benchmark 'humanevl'"),
    ({"benchmarks": {"math500": {"n": 0}}}, r"benchmarks.math500.n must be an int >= 1 or null"),
    ({"models": ["m", "z1"]}, r"\['z1'\] have no model directory .*dvc repro assets"),
    ({"merge_jobs": "yes"}, r"inference.merge_jobs must be true or false, got 'yes'"),
    ({"methods": {"p": {"function": "shifted_thinking_window", "mode": "paper", "one_pass": True}}},
     r"inference.methods.p.one_pass on math500: one_pass runs the corrected window"),
    ({"methods": {"s": {"function": "shifted_thinking_window", "one_pass": True}},
      "benchmarks": {"math500": {"n": 1}, "bigcodebench_hard": {"n": 1}}},
     r"inference.methods.s.one_pass on bigcodebench_hard: one_pass cannot take stop strings"),
])
def test_bad_settings_fail_before_any_engine_starts(tmp_path, fake_stage, change, match):
    """Every setting is checked before the first token: a bad one fails at once with one line naming
    it (a string window used to run windows 1 and 6; an unknown benchmark failed after the others)."""
    cfg = {**CFG, "inference": {**CFG["inference"], **change}}
    with pytest.raises(inference.InferenceError, match=match):
        inference.run(cfg, model_dirs={"m": tmp_path, "z1": tmp_path / "absent"}, out_dir=tmp_path / "gen",
                      progress=False)
    assert fake_stage["engines"] == [] and not (tmp_path / "gen").exists()


def test_damaged_or_duplicated_generation_rows_are_named_never_graded_twice(tmp_path, fake_stage):
    """A torn last line (a kill mid-write) is left out and redone; a bad line in the middle, a row
    without its record, or a sample written twice is an error naming file and line."""
    inference.run(CFG, model_dirs={"m": tmp_path}, out_dir=tmp_path / "gen", progress=False)
    path = tmp_path / "gen" / "m" / "math500" / "stw.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    assert len(inference.read_generations(tmp_path / "gen")) == len(lines) == 10
    path.write_text("".join(lines) + lines[0][:40])  # torn tail
    assert len(inference.read_generations(tmp_path / "gen")) == 10
    path.write_text("".join(lines[:3]) + lines[3][:40] + "\n" + "".join(lines[4:]))
    with pytest.raises(generations.RowError, match=r"stw.jsonl:4: not a JSON row"):
        inference.read_generations(tmp_path / "gen")
    with pytest.raises(generations.RowError, match=r"stw.jsonl:4: not a JSON row"):  # the resume reader too
        inference.run(CFG, model_dirs={"m": tmp_path}, out_dir=tmp_path / "gen", progress=False)
    path.write_text("".join(lines) + lines[2])
    with pytest.raises(generations.RowError, match=r"stw.jsonl:11: duplicate of .*stw.jsonl:3"):
        inference.read_generations(tmp_path / "gen")
    broken = json.loads(lines[1])
    del broken["record"]
    path.write_text(lines[0] + json.dumps(broken) + "\n")
    with pytest.raises(generations.RowError, match=r"stw.jsonl:2: the row lacks \['record.answer'\]"):
        inference.read_generations(tmp_path / "gen")


def test_content_keyed_rows_are_reused_until_a_setting_that_decides_them_changes(tmp_path, fake_stage):
    """Rows carry a key of everything that determines them. An unchanged re-run reuses every row and
    starts no engine; a changed window, method option or model file regenerates exactly the rows it
    decides; a method no longer configured loses its file; rows without a key are regenerated."""
    import copy

    gen = tmp_path / "gen"
    cfg = copy.deepcopy(CFG)
    cfg["inference"]["methods"]["s1"] = {"function": "budget_forcing"}
    first = inference.run(cfg, model_dirs={"m": tmp_path}, out_dir=gen, progress=False)
    stw, s1 = gen / "m" / "math500" / "stw.jsonl", gen / "m" / "math500" / "s1.jsonl"
    assert first["rows_written"] == 20 and first["engines_started"] == 1
    before = {p: p.read_bytes() for p in (stw, s1)}

    again = inference.run(cfg, model_dirs={"m": tmp_path}, out_dir=gen, progress=False)
    assert (again["rows_written"], again["engines_started"]) == (0, 0)
    assert {p: p.read_bytes() for p in (stw, s1)} == before

    cfg["inference"]["methods"]["stw"]["hint"] = "\nTime is up. Final answer:"  # decides stw's rows only
    changed = inference.run(cfg, model_dirs={"m": tmp_path}, out_dir=gen, progress=False)
    assert changed["rows_written"] == 10 and s1.read_bytes() == before[s1]
    assert {r["method_options"].get("hint") for r in read(stw)} == {"\nTime is up. Final answer:"}

    cfg["inference"]["windows"] = [8, 16]  # window 8 is kept, 32 goes, 16 is new
    kept_8 = [r for r in read(s1) if r["window"] == 8]
    windows = inference.run(cfg, model_dirs={"m": tmp_path}, out_dir=gen, progress=False)
    assert windows["rows_written"] == 10  # 5 problems x window 16, both methods
    assert sorted({r["window"] for r in read(s1)}) == [8, 16] and [r for r in read(s1) if r["window"] == 8] == kept_8

    (tmp_path / "model.safetensors").write_bytes(b"new weights")  # the model changed: everything is stale
    weights = inference.run(cfg, model_dirs={"m": tmp_path}, out_dir=gen, progress=False)
    assert weights["rows_written"] == 20

    del cfg["inference"]["methods"]["s1"]
    dropped = inference.run(cfg, model_dirs={"m": tmp_path}, out_dir=gen, progress=False)
    assert dropped["rows_written"] == 0 and dropped["stale_files_removed"] == [str(s1)] and not s1.exists()

    legacy = [json.loads(line) for line in stw.read_text().splitlines()]
    for r in legacy[:3]:
        del r["row_key"]  # rows written before content keys
    stw.write_text("".join(json.dumps(r) + "\n" for r in legacy))
    assert inference.run(cfg, model_dirs={"m": tmp_path}, out_dir=gen, progress=False)["rows_written"] == 3
    assert len(inference.read_generations(gen)) == 10


def test_model_fingerprint_follows_weights_not_run_records(tmp_path):
    """What decides outputs changes the fingerprint; what a training run leaves behind for the record
    (pickled training arguments, logs, metrics, peft's set-ordered target_modules) does not."""
    (tmp_path / "adapter").mkdir()
    (tmp_path / "model.safetensors").write_bytes(b"w1")
    (tmp_path / "config.json").write_text('{"a": 1, "b": 2}')
    cfg = tmp_path / "adapter" / "adapter_config.json"
    cfg.write_text('{"r": 16, "target_modules": ["q_proj", "v_proj"]}')
    first = generations.model_fingerprint(tmp_path)
    (tmp_path / "adapter" / "training_args.bin").write_bytes(b"pickled, with this run's paths")
    (tmp_path / "train_log.csv").write_text("step,loss\n1,0.5\n")
    (tmp_path / "sft_metrics.json").write_text('{"runtime_s": 3.2}')
    cfg.write_text('{"target_modules": ["v_proj", "q_proj"], "r": 16}')
    (tmp_path / "config.json").write_text('{"b": 2, "a": 1}')
    assert generations.model_fingerprint(tmp_path) == first
    cfg.write_text('{"r": 8, "target_modules": ["q_proj", "v_proj"]}')
    assert generations.model_fingerprint(tmp_path) != first
    cfg.write_text('{"r": 16, "target_modules": ["q_proj", "v_proj"]}')
    (tmp_path / "model.safetensors").write_bytes(b"w2")
    assert generations.model_fingerprint(tmp_path) != first


def test_merged_jobs_write_the_rows_of_the_file_by_file_run_in_fewer_engine_calls(tmp_path, fake_stage):
    """merge_jobs: every (benchmark, method) file of a model is a job of one Gather, so each engine
    call holds the current round of all of them. The rows are those of the file-by-file run (the
    fake engine, like greedy decoding, answers a request the same way in any batch); a greedy request
    two methods share is still decoded once; a run killed mid-way resumes to the same rows."""
    methods = {"stw": {"function": "shifted_thinking_window", "mode": "corrected"},
               "stw_paper": {"function": "shifted_thinking_window", "mode": "paper"},
               "r1": {"function": "r1_truncation"}, "s1": {"function": "budget_forcing"}}
    base = {**CFG["inference"], "methods": methods, "benchmarks": {"math500": {"n": 5}, "humaneval": {"n": 3}}}
    one_by_one, merged = {**CFG, "inference": base}, {**CFG, "inference": {**base, "merge_jobs": True}}
    seq = inference.run(one_by_one, model_dirs={"m": tmp_path}, out_dir=tmp_path / "seq", progress=False)
    calls_seq = len(fake_stage["engines"][0].calls)
    summary = inference.run(merged, model_dirs={"m": tmp_path}, out_dir=tmp_path / "merged", progress=False,
                            summary_path=tmp_path / "run.json")
    engine = fake_stage["engines"][1]
    assert json.loads((tmp_path / "run.json").read_text())["engine_calls"] == summary["engine_calls"]
    decoded = [c for call in engine.calls for c in call]
    assert summary["prompt_tokens"] == sum(len(r.prompt_ids) for r in decoded) > 0
    assert summary["generated_tokens"] == seq["generated_tokens"] > 0
    assert summary["merge_jobs"] and summary["rows_written"] == seq["rows_written"] == 4 * (5 + 3) * 2
    assert summary["engine_calls"] == len(engine.calls) < calls_seq / 3
    assert summary["largest_engine_call"] > 2 * CFG["inference"]["batch_size"]
    assert summary["greedy_requests_reused"] == seq["greedy_requests_reused"] > 0
    key = lambda r: (r["window"], r["problem_id"])  # noqa: E731
    files = sorted(p.relative_to(tmp_path / "seq") for p in (tmp_path / "seq").rglob("*.jsonl"))
    assert len(files) == 8
    for f in files:
        assert sorted(read(tmp_path / "merged" / f), key=key) == sorted(read(tmp_path / "seq" / f), key=key), f

    fake_stage["fail_on_call"] = 3  # the third merged call dies: batches already written survive
    with pytest.raises(Interrupt):
        inference.run(merged, model_dirs={"m": tmp_path}, out_dir=tmp_path / "part", progress=False)
    written = sum(len(p.read_text().splitlines()) for p in (tmp_path / "part").rglob("*.jsonl"))
    assert 0 < written < summary["rows_written"]
    fake_stage["fail_on_call"] = None
    again = inference.run(merged, model_dirs={"m": tmp_path}, out_dir=tmp_path / "part", progress=False)
    assert again["rows_written"] == summary["rows_written"] - written
    for f in files:
        assert sorted(read(tmp_path / "part" / f), key=key) == sorted(read(tmp_path / "seq" / f), key=key), f
