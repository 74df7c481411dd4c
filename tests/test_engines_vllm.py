"""vLLM backend on the real small model, in a subprocess (vLLM's engine must not outlive the test;
with a separate engine process the script needs a ``__main__`` guard).  On CPU the engine core runs
in the calling process by default; the separate engine process (vLLM's default, and ours on GPUs)
is checked where it differs, the forced-token logits processor loaded there by its import path, by
``tests/test_assets.py::test_qwen_loads_in_vllm`` (one engine start for both checks).
Slow: engine start ~10-30 s on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import json, sys

    def main(model_dir, lora_dir):
        from z1 import thinking
        from z1.engines import Request, Sampling, make_engine

        out = {}
        eng = make_engine("vllm", model_dir, max_model_len=2048, enforce_eager=True, enable_lora=True,
                          max_lora_rank=8)
        try:
            qs = ["What is 2+2?", "Say hi.", "Write a haiku about cats.", "List three colors."]
            ps = [eng.encode_chat([{"role": "user", "content": q}]) for q in qs]
            base = eng.generate([Request(tuple(p), 32) for p in ps])
            out["greedy"] = [[c.token_ids, c.text, c.finish_reason] for (c,) in base]
            done = [(p, c) for p, (c,) in zip(ps, base) if c.finish_reason == "stop"]
            p, c = done[0]
            (at,) = eng.generate([Request(tuple(p), len(c.token_ids))])[0]
            out["eos_in_last_slot"] = [at.finish_reason, at.token_ids == c.token_ids]
            s = Sampling(temperature=1.0, seed=3, n=2)
            a = eng.generate([Request(tuple(ps[2]), 8, sampling=s)])[0]
            b = eng.generate([Request(tuple(ps[2]), 8, sampling=s)])[0]
            out["seeded"] = [[x.token_ids for x in a] == [x.token_ids for x in b], a[0].token_ids != a[1].token_ids]
            windows, mt = [4, 12, 24], 40
            swept = thinking.window_sweep(eng, ps, windows, max_tokens=mt)
            one = thinking.window_sweep(eng, ps, windows, max_tokens=mt, one_pass=True)

            def strip(r):  # what a record says about the sample, not how it was produced
                d = r.to_dict()
                d["options"].pop("one_pass", None)
                return d | {"timings": {}, "pass1_cached_prompt_tokens": None, "pass2_cached_prompt_tokens": None}

            same, one_same = {}, {}
            for w in windows:
                ind = thinking.shifted_thinking_window(eng, ps, window=w, max_tokens=mt)
                same[w] = [[r.answer for r in swept[w]] == [r.answer for r in ind],
                           [r.thinking_tokens for r in swept[w]] == [r.thinking_tokens for r in ind]]
                one_same[w] = [[strip(r) for r in one[w]] == [strip(r) for r in ind], sum(r.window_hit for r in ind)]
            out["sweep_same"], out["one_pass_same"] = same, one_same
            s = Sampling(temperature=1.0, seed=5, n=3)
            sampled = thinking.shifted_thinking_window(eng, ps, window=6, max_tokens=mt, sampling=s, one_pass=True)
            out["one_pass_sampled"] = [[r.window_hit, len(r.pass1_token_ids), r.pass2_from_sample == r.sample_index,
                                        r.trajectory == r.pass1_text + r.hint + r.answer] for r in sampled
                                       if r.window_hit]
            p0 = tuple(ps[1])
            lo = eng.generate([Request(p0, 12), Request(p0, 12, lora_path=lora_dir), Request(p0, 12)])
            out["lora"] = [x[0].token_ids for x in lo]
            out["info"] = eng.info()
        finally:
            eng.close()
        print("RESULT " + json.dumps(out))

    if __name__ == "__main__":
        main(sys.argv[1], sys.argv[2])
''')


def _random_lora(model_dir, out_dir):
    """A rank-8 LoRA adapter with random B (peft initialises B to zero, which would change nothing)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    # peft draws lora_A from torch's global generator: unseeded, every run had another adapter, and some
    # changed none of the 12 greedy tokens ("adapted != base" failed now and then)
    torch.manual_seed(0)
    pm = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    pm.save_pretrained(out_dir)


@pytest.mark.slow
def test_vllm_backend_in_subprocess(ci_model_dir, tmp_path):
    pytest.importorskip("vllm")
    pytest.importorskip("peft")
    _random_lora(ci_model_dir, tmp_path / "lora")
    script = tmp_path / "vllm_engine_check.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), "VLLM_LOGGING_LEVEL": "WARNING"}
    proc = subprocess.run([sys.executable, str(script), str(ci_model_dir), str(tmp_path / "lora")], capture_output=True, text=True,
                          timeout=900, env=env, start_new_session=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert proc.returncode == 0 and line, proc.stderr[-4000:]
    res = json.loads(line[len("RESULT "):])
    assert res["eos_in_last_slot"] == ["stop", True]  # vLLM 0.32: stop is checked before the length cap
    assert res["seeded"] == [True, True]
    assert all(v == [True, True] for v in res["sweep_same"].values()), res["sweep_same"]
    # one-pass STW (hint forced by the logits processor) = the two-pass corrected run, record for record
    assert all(same for same, _ in res["one_pass_same"].values()), res["one_pass_same"]
    assert sum(hits for _, hits in res["one_pass_same"].values()) > 0  # the comparison covers capped samples
    assert res["one_pass_sampled"] and all(r == [True, 6, True, True] for r in res["one_pass_sampled"])
    assert res["info"]["engine"] == "vllm" and res["info"]["dtype"] == "float32"
    assert res["info"]["engine_process"] == "in-process"  # the CPU default: half the engine start
    base, adapted, base_again = res["lora"]  # one engine serves the base model and the adapter
    assert base == base_again and adapted != base
    # the transformers backend gives the same greedy tokens (fp32, tiny model)
    from z1.engines import Request, make_engine

    hf = make_engine("transformers", ci_model_dir, num_threads=1)
    try:
        ps = [hf.encode_chat([{"role": "user", "content": q}]) for q in ["What is 2+2?", "Say hi."]]
        got = hf.generate([Request(tuple(p), 32) for p in ps])
        for (c,), (ids, text, fr) in zip(got, res["greedy"][:2], strict=True):
            assert (c.token_ids, c.text, c.finish_reason) == (ids, text, fr)
    finally:
        hf.close()

