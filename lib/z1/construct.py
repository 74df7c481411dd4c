"""Build the stage-01 trajectory dataset from a profile's `data` section (regenerate or released).

    df, report, trajectories = regenerate(cfg["data"], engine=engine, tokenizer=qwen_tokenizer, teacher="base")
    df, report, _ = load_released(cfg["data"], tokenizer=qwen_tokenizer)        # needs the hub

Both return the dataset in the released schema (+ inspection columns, see z1.data), a report
dict, and (regenerate only) every trajectory the teacher wrote, kept or not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd

from z1 import data
from z1.engines.base import Request, Sampling


def _pool(data_cfg: Mapping) -> list:
    from z1.benchmarks import codeio

    if data_cfg["pool"] != "codeio":
        raise data.DataError(
            f"pool {data_cfg['pool']!r} needs the hub (Code Evol-Instruct); offline the pool is 'codeio'")
    return codeio.load_pool(n=data_cfg.get("n_problems"), seed=int(data_cfg.get("seed", 0)))


def _user_text(messages) -> str:
    return "\n\n".join(m["content"] for m in messages if m["role"] == "user")


def regenerate(data_cfg: Mapping, *, engine, tokenizer, teacher: str, progress: bool = True,
               verify: bool = True) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """The teacher answers every pool problem at every reasoning level (greedy, capped at max_tokens);
    the keep rule picks one trajectory per problem; the paper's filters run; optional selection."""
    problems = _pool(data_cfg)
    levels = dict(data_cfg["reasoning_levels"])
    if not problems:
        raise data.DataError("the problem pool is empty")
    sampling = Sampling(temperature=0.0, seed=int(data_cfg.get("seed", 0)))
    jobs, requests = [], []
    for p in problems:
        for level, instruction in levels.items():
            ids = engine.encode_chat(data.level_messages(p.messages, instruction))
            requests.append(Request(prompt_ids=tuple(ids), max_tokens=int(data_cfg["max_tokens"]), sampling=sampling))
            jobs.append((p, level))
    outputs = engine.generate(requests, progress=progress)
    trajectories = [
        data.Trajectory(source_id=p.problem_id, question=_user_text(p.messages), reasoning_level=level,
                        response=out[0].text, finish_reason=out[0].finish_reason, difficulty=p.difficulty)
        for (p, level), out in zip(jobs, outputs, strict=True)
    ]
    df = data.build_rows(trajectories, levels=list(levels), teacher=teacher, tokenizer=tokenizer,
                         keep_rule=data_cfg.get("keep_rule", "difficulty"),
                         repetition_ngram=int(data_cfg["repetition"]["ngram"]))
    if verify:
        from z1.benchmarks import codeio

        by_id = {p.problem_id: p for p in problems}
        grades = [codeio.check_solution(by_id[sid], text) for sid, text in zip(df["source_id"], df["response"], strict=True)]
        df["verified_correct"] = [g.correct for g in grades]
    all_trajectories = df.copy()
    out, report = data.apply_filters(df, repetition_threshold=float(data_cfg["repetition"]["threshold"]),
                                     filter_repetitive=bool(data_cfg.get("filter_repetitive", True)),
                                     filter_incorrect=bool(data_cfg.get("filter_incorrect", False)))
    out, report = _select(out, report, data_cfg)
    report["source"] = "regenerate"
    report["levels"] = list(levels)
    return out, report, all_trajectories


def _select(df: pd.DataFrame, report: dict, data_cfg: Mapping) -> tuple[pd.DataFrame, dict]:
    sel = data_cfg.get("select") or {}
    if sel.get("mode"):
        df = data.select_by_token_budget(df, int(sel["token_budget"]), sel["mode"])
        report["selected"] = {"mode": sel["mode"], "token_budget": int(sel["token_budget"]),
                              "rows": int(len(df)), "tokens": int(df["token_num_qwen"].sum())}
    return df, report


def load_released(data_cfg: Mapping, *, tokenizer) -> tuple[pd.DataFrame, dict, None]:
    """efficientscaling/Z1-Code-Reasoning-107K from the hub, with token_num_qwen recomputed."""
    if os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1":
        raise data.DataError(
            f"data.source=released loads {data_cfg['released_id']} from the Hugging Face hub, but offline mode "
            "is on: unset HF_HUB_OFFLINE and HF_DATASETS_OFFLINE (with network access), or use source: regenerate")
    import datasets

    ds = datasets.load_dataset(data_cfg["released_id"], split="train")
    df = ds.to_pandas()
    data.validate_schema(df)
    recomputed = data.count_tokens(tokenizer, df["response"].tolist())
    diff = pd.Series(recomputed) - df["token_num_qwen"].astype(int)
    for col in data.EXTRA_COLUMNS:
        df[col] = None
    df["token_num_recomputed"] = recomputed
    report = {"source": "released", "rows": int(len(df)), "tokens": int(df["token_num_qwen"].sum()),
              "token_count_exact_share": float((diff == 0).mean()), "token_count_mean_diff": float(diff.mean()),
              "token_count_max_abs_diff": int(diff.abs().max())}
    df, report = _select(df, report, data_cfg)
    return df, report, None
