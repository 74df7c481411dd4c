"""Engine interface, the transformers backend on the real small model (SmolLM2-135M-Instruct), and
the greedy window sweep on it.  vLLM runs in a subprocess (tests/test_engines_vllm.py)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from fake_engine import FakeEngine

from z1 import thinking
from z1.engines import Completion, Engine, Request, Sampling, make_engine
from z1.engines.base import find_stop
from z1.prompts import HINT

QUESTIONS = ["What is 2+2?", "Say hi.", "Write a haiku about cats.", "List three colors."]


# ---------------------------------------------------------------------------------------------- interface
def test_dataclasses_validate_and_freeze():
    r = Request([1, 2, 3], 5, stop=["a"], stop_token_ids=[7])
    assert r.prompt_ids == (1, 2, 3) and r.stop == ("a",) and r.stop_token_ids == (7,)
    assert hash(r)  # frozen + hashable
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.max_tokens = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="empty"):
        Request((), 5)
    with pytest.raises(ValueError, match="top_p"):
        Sampling(top_p=0)
    with pytest.raises(ValueError, match="top_k"):
        Sampling(top_k=0)
    with pytest.raises(ValueError, match="n must"):
        Sampling(n=0)
    assert Sampling().greedy and not Sampling(temperature=0.1).greedy
    assert Completion([1], "a", "stop").to_dict()["finish_reason"] == "stop"
    f = Request([1], 20, force_after=3, force_ids=[8, 9])  # forced tokens: slots 3 and 4, then free again
    assert f.force_ids == (8, 9) and [f.forced_token(k) for k in range(6)] == [None, None, None, 8, 9, None]
    assert Request([1], 5).forced_token(0) is None
    for bad in ({"force_after": 3}, {"force_ids": [8]}, {"force_after": -1, "force_ids": [8]},
                {"force_after": True, "force_ids": [8]}):
        with pytest.raises(ValueError, match="force"):
            Request([1], 5, **bad)


def test_find_stop_earliest_end_like_vllm():
    assert find_stop("abcdef", ["cdef", "bc"]) == (1, 3)
    assert find_stop("abcdef", ["de", "cde"]) == (3, 5)  # same end: list order
    assert find_stop("abc", ["x"]) is None


def test_text_of_a_cut_piece_follows_the_engine():
    """A piece cut from a completion reads as the engine would have returned it: vLLM holds back a
    last token whose text ends in a partial character (the whole token), transformers keeps it."""
    from z1.engines.base import text_of

    class Tok:
        texts = {(1, 2, 3): "ab \ufffd", (1, 2): "ab", (1,): "a", (): ""}

        def decode(self, ids, skip_special_tokens=True):
            return self.texts[tuple(ids)]

    vllm_like = type("E", (), {"name": "vllm", "tokenizer": Tok()})()
    hf_like = type("E", (), {"name": "transformers", "tokenizer": Tok()})()
    assert text_of(vllm_like, [1, 2, 3]) == "ab" and text_of(hf_like, [1, 2, 3]) == "ab \ufffd"
    assert text_of(vllm_like, [1, 2]) == "ab"


def test_make_engine_rejects_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend"):
        make_engine("tgi", "/nonexistent")


def test_fake_engine_is_an_engine():
    assert isinstance(FakeEngine(lambda p, j: "a<EOS>"), Engine)


# ---------------------------------------------------------------------------------------------- real model
@pytest.fixture(scope="module")
def hf(ci_model_dir):
    threads = torch.get_num_threads()
    # one thread: on a shared 2-core machine OpenMP spin-waiting makes small-batch matmuls 50x slower
    eng = make_engine("transformers", ci_model_dir, num_threads=1, batch_size=8)
    yield eng
    eng.close()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def prompts(hf):
    return [hf.encode_chat([{"role": "user", "content": q}]) for q in QUESTIONS]


@pytest.fixture(scope="module")
def greedy32(hf, prompts):
    return hf.generate([Request(tuple(p), 32) for p in prompts])


def test_hf_info_and_encode_chat(hf, prompts):
    info = hf.info()
    assert info["engine"] == "transformers" and info["dtype"] == "float32" and info["device"] == "cpu"
    text = hf.tokenizer.apply_chat_template([{"role": "user", "content": QUESTIONS[0]}], tokenize=False,
                                            add_generation_prompt=True)
    assert hf.tokenizer.decode(prompts[0]) == text
    pre = hf.encode_chat([{"role": "user", "content": QUESTIONS[0]}], assistant_prefill="```python\n")
    assert hf.tokenizer.decode(pre) == text + "```python\n"


def test_hf_matches_transformers_generate_and_batching(hf, prompts, greedy32):
    for p, (c,) in zip(prompts[:2], greedy32[:2], strict=True):
        ref = hf.model.generate(torch.tensor([p]), max_new_tokens=32, do_sample=False)[0, len(p):].tolist()
        assert c.token_ids == ref[: len(c.token_ids)]
    alone = hf.generate([Request(tuple(prompts[2]), 32)])[0][0]
    assert alone.token_ids == greedy32[2][0].token_ids  # left padding does not change greedy results


def test_hf_conventions_eos_in_last_slot_is_stop(hf, prompts, greedy32):
    done = [(p, c) for p, (c,) in zip(prompts, greedy32, strict=True) if c.finish_reason == "stop"]
    assert done, "expected at least one prompt to finish within 32 tokens"
    p, c = done[0]
    assert c.token_ids[-1] in hf.eos_ids and hf.tokenizer.eos_token not in c.text
    assert c.text == hf.tokenizer.decode(c.token_ids[:-1], skip_special_tokens=True)
    n = len(c.token_ids)
    (at,) = hf.generate([Request(tuple(p), n)])[0]  # EOS exactly in slot max_tokens
    assert at.finish_reason == "stop" and at.token_ids == c.token_ids  # same as vLLM 0.32
    (short,) = hf.generate([Request(tuple(p), n - 1)])[0]
    assert short.finish_reason == "length" and short.token_ids == c.token_ids[:-1]


def test_hf_stop_strings_and_ids(hf, prompts, greedy32):
    c = greedy32[1][0]
    words = c.text.split()
    word = words[1]
    (s,) = hf.generate([Request(tuple(prompts[1]), 32, stop=(word, "zzzz-never"))])[0]
    assert s.finish_reason == "stop" and s.text == c.text[: c.text.index(word)]
    assert word in hf.tokenizer.decode(s.token_ids) and word not in hf.tokenizer.decode(s.token_ids[:-1])
    sid = c.token_ids[3]
    (t,) = hf.generate([Request(tuple(prompts[1]), 32, stop_token_ids=(sid,))])[0]
    assert t.finish_reason == "stop" and t.token_ids == c.token_ids[: c.token_ids.index(sid) + 1]
    assert t.text == hf.tokenizer.decode(t.token_ids[:-1], skip_special_tokens=True)


def test_hf_retain_mixed_budgets_and_errors(hf, prompts, greedy32):
    hf.clear_kv_store()
    got = hf.generate([Request(tuple(p), 32 if k % 2 == 0 else 5) for k, p in enumerate(prompts)], retain=True)
    for k, ((c,), (ref,)) in enumerate(zip(got, greedy32, strict=True)):
        assert c.token_ids == (ref.token_ids if k % 2 == 0 else ref.token_ids[:5])
    assert hf.kv_store_size == len(prompts)
    hf.clear_kv_store()
    got = hf.generate([Request(tuple(p), 32) for p in prompts], retain=20)  # only rows with >= 20 tokens
    assert [c.token_ids for (c,) in got] == [c.token_ids for (c,) in greedy32]
    assert hf.kv_store_size == sum(len(c.token_ids) >= 20 for (c,) in greedy32)
    hf.clear_kv_store()
    with pytest.raises(ValueError, match="lora_path"):
        hf.generate([Request(tuple(prompts[0]), 4, lora_path="/x")])
    with pytest.raises(ValueError, match="max_model_len"):
        hf.generate([Request(tuple(range(10, 10 + hf.max_model_len)), 4)])


def test_common_prefix_helper():
    from z1.engines.hf import _common_prefix

    a = tuple(range(100))
    assert _common_prefix(a, a, 50) == 50
    assert _common_prefix(a, a[:37] + (-1,) * 63, 99) == 37
    assert _common_prefix(a, (5,) + a[1:], 99) == 0


def test_hf_seeded_sampling_is_reproducible(hf, prompts):
    s = Sampling(temperature=1.0, top_p=0.9, top_k=50, seed=7, n=2)
    a = hf.generate([Request(tuple(prompts[2]), 12, sampling=s)])[0]
    b = hf.generate([Request(tuple(prompts[2]), 12, sampling=s), Request(tuple(prompts[0]), 5)])[0]
    assert [c.token_ids for c in a] == [c.token_ids for c in b]
    assert a[0].token_ids != a[1].token_ids


def test_hf_kv_continuation_equals_reencoding(hf, prompts):
    hf.clear_kv_store()
    pass1 = hf.generate([Request(tuple(p), 12) for p in prompts], retain=True)
    hint = hf.tokenizer(HINT, add_special_tokens=False)["input_ids"]
    reqs = [Request(tuple(p) + tuple(c[0].token_ids[:10]) + tuple(hint), 16) for p, c in zip(prompts, pass1, strict=True)]
    cont = hf.generate(reqs)
    assert all(c[0].cached_prompt_tokens >= len(p) + 9 for p, c in zip(prompts, cont, strict=True))
    hf.clear_kv_store()
    fresh = hf.generate(reqs)
    assert all(c[0].cached_prompt_tokens == 0 for c in fresh)
    assert [c[0].token_ids for c in cont] == [c[0].token_ids for c in fresh]
    assert [c[0].text for c in cont] == [c[0].text for c in fresh]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["corrected", "paper"])
def test_hf_window_sweep_equals_independent_runs(hf, prompts, mode):
    """The shared greedy sweep gives the independent runs' final texts; in corrected mode the
    one-pass window (the hint forced inside one decode, Request.force_ids) gives the two-pass
    records themselves, record for record."""
    from test_thinking import _comparable

    windows, max_tokens = [4, 12, 24], 40
    hf.clear_kv_store()
    swept = thinking.window_sweep(hf, prompts, windows, max_tokens=max_tokens, mode=mode)
    if mode == "corrected":
        capped = [r for r in swept[12] if r.window_hit]
        assert capped and all(r.pass2_cached_prompt_tokens >= r.prompt_tokens + 11 for r in capped)
        hf.clear_kv_store()
        one = thinking.window_sweep(hf, prompts, windows, max_tokens=max_tokens, one_pass=True)
    for w in windows:
        hf.clear_kv_store()
        ind = thinking.shifted_thinking_window(hf, prompts, window=w, max_tokens=max_tokens, mode=mode)
        assert [r.answer for r in swept[w]] == [r.answer for r in ind], w
        assert [r.trajectory for r in swept[w]] == [r.trajectory for r in ind], w
        assert [r.thinking_tokens for r in swept[w]] == [r.thinking_tokens for r in ind], w
        assert [r.window_hit for r in swept[w]] == [r.window_hit for r in ind], w
        if mode == "corrected":
            assert _comparable(one[w]) == _comparable(ind), w
            assert any(r.window_hit for r in ind) or w == 24


@pytest.mark.slow
def test_hf_one_pass_sampled_each_sample_its_own_window(hf, prompts):
    s = Sampling(temperature=1.0, seed=5, n=3)
    sampled = thinking.shifted_thinking_window(hf, prompts[:2], window=6, max_tokens=24, sampling=s, one_pass=True)
    capped = [r for r in sampled if r.window_hit]
    assert capped and all(len(r.pass1_token_ids) == 6 and r.pass2_from_sample == r.sample_index for r in capped)
    assert all(r.trajectory == r.pass1_text + r.hint + r.answer and r.answer for r in capped)
    assert len({tuple(r.pass1_token_ids) for r in sampled}) > 1  # the samples differ: each hit its own window


def test_hf_unrelated_prompts_are_not_continued(hf, prompts):
    hf.clear_kv_store()
    hf.generate([Request(tuple(prompts[0]), 4)], retain=True)
    # same system prompt, different question: computed afresh (no partial reuse)
    (c,) = hf.generate([Request(tuple(prompts[1]), 2)])[0]
    assert c.cached_prompt_tokens == 0
    hf.clear_kv_store()
