"""Build the stage-01 trajectory dataset from a profile's `data` section (regenerate or released).

    df, report, trajectories = regenerate(cfg["data"], engine=engine, tokenizer=qwen_tokenizer,
                                          teacher="base", work_dir=Path("data/mini/shards"))
    df, report, _ = load_released(cfg["data"], tokenizer=qwen_tokenizer)        # needs the hub

Both return the dataset in the released schema (+ inspection columns, see z1.data), a report
dict, and (regenerate only) every trajectory the teacher wrote, kept or not.

`regenerate`, step by step (each step's counts and ids land in the report):
1. Screen the pool: a problem whose question is empty, not text or not valid UTF-8 (lone
   surrogates included), whose id repeats an earlier one, or whose longest level prompt has more
   than `max_prompt_tokens` teacher tokens is skipped and listed with its reason (`skipped`).
2. Decontaminate: word n-gram overlap with the evaluation benchmarks (z1.decontam), counted per
   benchmark (`decontamination`); with `decontaminate: true` those problems are dropped before
   generation, so no teacher time is spent on them.
3. Generate in shards of `shard_size` problems (all levels of a problem in one shard) under
   `work_dir/<key>/`. The key hashes everything that determines the generations: the teacher
   (engine, its versions, options and module source, dtype, device, the model's asset manifest or
   path), the reasoning levels, max_tokens, sampling, shard_size, pool, n_problems, seed and the
   prompt token ids themselves; changed settings get a new directory and never reuse stale shards.
   Each shard is one generate call, written as one JSONL file atomically (temp file + rename), so a
   killed run leaves only whole shards. On a restart a shard file is reused only if it holds exactly
   its expected trajectories; a torn or otherwise damaged one is generated again. Since every shard
   is the same generate call whether or not the run was interrupted, a resumed run ends with the
   same dataset as an uninterrupted one (greedy decoding, as here). `work_dir` must not be a DVC out (DVC deletes outs before
   it re-runs a stage); the notebook uses data/<profile>/shards/. Old directories are not removed.
4. The keep rule picks one trajectory per problem; token counts, the CodeI/O reference-code check
   (`verified_correct`), the paper's filters and the optional token-budget selection follow; the
   report also gets length vs difficulty (Spearman) and both token-matched subsets at the budget.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from z1 import atomic, data, decontam, provenance
from z1.benchmarks.base import Problem
from z1.engines.base import FINISH_REASONS, Request, Sampling

SHARD_FORMAT = 1
# asset-manifest fields that describe when/how fast a model was prepared, not which model it is
_VOLATILE_MANIFEST_KEYS = ("created", "conversion_seconds", "load_seconds")


# --------------------------------------------------------------------------- settings
def _positive_int(data_cfg: Mapping, key: str) -> int:
    value = data_cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise data.DataError(f"data.{key} must be an integer >= 1 (params.yaml), got {value!r}")
    return value


def _levels(data_cfg: Mapping) -> dict[str, str]:
    levels = data_cfg.get("reasoning_levels")
    if not isinstance(levels, Mapping) or not levels:
        raise data.DataError("data.reasoning_levels must map level names to system prompts, ordered from "
                             f"the most direct to the most detailed; got {levels!r}")
    return {str(k): str(v) for k, v in levels.items()}


def _decontamination_settings(data_cfg: Mapping) -> tuple[bool, int, list[str]]:
    """(drop contaminated problems?, n, benchmark names) from `decontaminate` and `decontamination`."""
    from z1.benchmarks import OFFLINE

    drop = data_cfg.get("decontaminate", True)
    if not isinstance(drop, bool):
        raise data.DataError(f"data.decontaminate must be true or false, got {drop!r}")
    section = data_cfg.get("decontamination") or {}
    ngram = section.get("ngram", decontam.DEFAULT_NGRAM)
    if isinstance(ngram, bool) or not isinstance(ngram, int) or ngram < 1:
        raise data.DataError(f"data.decontamination.ngram must be an integer >= 1, got {ngram!r}")
    names = list(section.get("benchmarks", decontam.DEFAULT_BENCHMARKS))
    # codeio is the pool, and its held-out split is disjoint from it by construction (their prompts share
    # the pool's template, so an n-gram check would flag every problem)
    usable = [n for n in OFFLINE if n not in ("codeio", "codeio_heldout")]
    unknown = [n for n in names if n not in usable]
    if unknown:
        raise data.DataError(f"data.decontamination.benchmarks: {unknown} cannot be checked offline; use {usable}")
    return drop, ngram, names


EVOL_DATASET = "theblackcat102/evol-codealpaca-v1"  # Code Evol-Instruct, the paper's problem pool
POOLS = ("codeio", "evol_codealpaca")


def evol_problems(rows) -> list[Problem]:
    """Code Evol-Instruct rows (``instruction``, ``output``) as pool problems ``evol/<row index>``.

    The question is the instruction as one user turn (as in the released Z1 data); the dataset's own
    answer is kept in ``reference["output"]`` for inspection. No difficulty rating exists, so the
    ``difficulty`` keep rule gives every problem the middle level: the paper's setting uses one level
    (the teacher's own reasoning, no system instruction) and lets the teacher's length vary."""
    return [Problem(benchmark="evol_codealpaca", problem_id=f"evol/{i}",
                    messages=[{"role": "user", "content": row.get("instruction")}],
                    reference={"output": row.get("output")})
            for i, row in enumerate(rows)]


def _pool(data_cfg: Mapping) -> list[Problem]:
    n, seed = data_cfg.get("n_problems"), int(data_cfg.get("seed", 0))
    pool = data_cfg["pool"]
    if pool == "codeio":
        from z1.benchmarks import codeio

        return codeio.load_pool(n=n, seed=seed)
    if pool == "evol_codealpaca":
        from z1.benchmarks.base import hub_load, select

        try:
            rows = hub_load(data_cfg.get("pool_dataset") or EVOL_DATASET, split="train")
        except Exception as e:  # BenchmarkError: offline switches set, no network, renamed dataset
            raise data.DataError(f"pool 'evol_codealpaca' needs the hub: {e}") from e
        return select(evol_problems(rows), n, seed)
    raise data.DataError(f"unknown pool {pool!r}; choose one of {POOLS} (offline: 'codeio')")


# --------------------------------------------------------------------------- 1. screening
@dataclass(frozen=True)
class Job:
    """A usable problem: its question and the teacher's prompt ids, one per reasoning level."""

    problem: Problem
    question: str
    prompts: tuple[tuple[int, ...], ...]

    @property
    def problem_id(self) -> str:
        return self.problem.problem_id


def teacher_prompts(engine, question: str, levels: Mapping[str, str]) -> tuple[tuple[int, ...], ...]:
    """One prompt per level: the level's instruction as system message, the question as the user turn."""
    user = [{"role": "user", "content": question}]
    return tuple(tuple(engine.encode_chat(data.level_messages(user, text))) for text in levels.values())


def screen_pool(problems: Sequence[Problem], levels: Mapping[str, str], engine, max_prompt_tokens: int) -> tuple[list[Job], list[dict]]:
    """Split the pool into usable jobs and skipped problems ({"id", "reason", "detail"?}), in pool order."""
    jobs, skipped, seen = [], [], set()
    for p in problems:
        question, reason = data.question_skip_reason(p.messages)
        detail = None
        if reason is None and p.problem_id in seen:
            reason = "duplicate_id"
        if reason is None:
            prompts = teacher_prompts(engine, question, levels)
            longest = max(len(x) for x in prompts)
            if longest > max_prompt_tokens:
                reason, detail = "prompt_too_long", f"{longest} prompt tokens > max_prompt_tokens {max_prompt_tokens}"
        if reason is None:
            jobs.append(Job(p, question, prompts))
            seen.add(p.problem_id)
        else:
            skipped.append({"id": p.problem_id, "reason": reason} | ({"detail": detail} if detail else {}))
    return jobs, skipped


def skipped_section(skipped: list[dict]) -> dict:
    by_reason: dict[str, int] = {}
    for s in skipped:
        by_reason[s["reason"]] = by_reason.get(s["reason"], 0) + 1
    return {"count": len(skipped), "by_reason": by_reason, "problems": skipped}


# --------------------------------------------------------------------------- 2. decontamination
def contamination(questions: Mapping[str, str], data_cfg: Mapping) -> tuple[set[str], dict]:
    """Ids to drop (empty when `decontaminate` is false) and the report section (ids only)."""
    drop, ngram, names = _decontamination_settings(data_cfg)
    index = decontam.load_index(names, ngram)
    found = decontam.find_contaminated(questions, index)
    section = decontam.summary(found, index)
    section["removed_contaminated"] = len(found) if drop else 0
    return (set(found) if drop else set()), section


# --------------------------------------------------------------------------- 3. sharded generation
def teacher_identity(engine) -> dict:
    """What identifies the teacher's generations: engine, its library versions and options, dtype,
    device, the source of the engine's own module (a fix there must not reuse old shards), the model."""
    info = engine.info()
    ident = {k: info.get(k) for k in ("engine", "engine_version", "torch", "dtype", "device", "options")}
    ident["engine_code_sha256"] = hashlib.sha256(Path(inspect.getfile(type(engine))).read_bytes()).hexdigest()
    model_dir = info.get("model_dir")
    manifest = provenance.model_manifest(model_dir) if model_dir else {}
    ident["model"] = {k: v for k, v in manifest.items() if k not in _VOLATILE_MANIFEST_KEYS}
    return ident


def generation_settings(jobs: Sequence[Job], *, engine, data_cfg: Mapping, levels: Mapping[str, str],
                        max_tokens: int, sampling: Sampling, shard_size: int) -> dict:
    """Everything that determines the shards' contents (stored as settings.json beside them)."""
    prompts = hashlib.sha256()
    for job in jobs:
        prompts.update(job.problem_id.encode() + b"\0")
        for ids in job.prompts:
            prompts.update(",".join(map(str, ids)).encode() + b"\n")
    return {
        "format": SHARD_FORMAT, "teacher": teacher_identity(engine), "reasoning_levels": dict(levels),
        "max_tokens": max_tokens, "sampling": sampling.to_dict(), "shard_size": shard_size,
        "pool": data_cfg.get("pool"), "n_problems": data_cfg.get("n_problems"), "seed": data_cfg.get("seed", 0),
        "problems": len(jobs), "prompts_sha256": prompts.hexdigest(),
    }


def settings_key(settings: Mapping) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_shard(path: Path, rows: Sequence[Mapping]) -> None:
    """One JSONL line per trajectory, written atomically: a kill leaves the old state or the whole shard."""
    atomic.write_text(path, "".join(json.dumps(dict(r)) + "\n" for r in rows), fsync=True)


def read_shard(path: Path, expected: Sequence[tuple[str, str]]) -> list[dict] | None:
    """The shard's rows if the file holds exactly the `expected` (source_id, level) pairs, in order,
    each whole; None when it is missing, torn (a partial last line) or otherwise damaged."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    if not text.endswith("\n"):
        return None  # torn: the last line was cut
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not (isinstance(row, dict) and isinstance(row.get("response"), str)
                and row.get("finish_reason") in FINISH_REASONS):
            return None
        rows.append(row)
    keys = [(r.get("source_id"), r.get("reasoning_level")) for r in rows]
    return rows if keys == list(expected) else None


def shard_keys(shard: Sequence[Job], levels: Sequence[str]) -> list[tuple[str, str]]:
    return [(job.problem_id, level) for job in shard for level in levels]


def generate_shard(engine, shard: Sequence[Job], levels: Sequence[str], *, max_tokens: int,
                   sampling: Sampling) -> list[dict]:
    """One generate call for every (problem, level) of the shard, greedy, capped at max_tokens."""
    requests = [Request(prompt_ids=ids, max_tokens=max_tokens, sampling=sampling) for job in shard for ids in job.prompts]
    outputs = engine.generate(requests, progress=False)
    return [{"source_id": sid, "reasoning_level": level, "response": out[0].text, "finish_reason": out[0].finish_reason}
            for (sid, level), out in zip(shard_keys(shard, levels), outputs, strict=True)]


def generate_in_shards(engine, jobs: Sequence[Job], levels: Sequence[str], *, shard_dir: Path, shard_size: int,
                       max_tokens: int, sampling: Sampling, progress: bool = True) -> tuple[list[dict], dict]:
    """Every (problem, level) trajectory, reusing finished shards of `shard_dir`; returns rows and counts."""
    shard_dir.mkdir(parents=True, exist_ok=True)
    shards = [jobs[i:i + shard_size] for i in range(0, len(jobs), shard_size)]
    rows: list[dict] = []
    counts = {"shards": len(shards), "reused": 0, "generated": 0, "damaged": 0}
    bar = tqdm(total=len(jobs), unit="problem", desc="teacher trajectories", disable=not progress)
    for k, shard in enumerate(shards):
        path = shard_dir / f"shard-{k:05d}.jsonl"
        expected = shard_keys(shard, levels)
        got = read_shard(path, expected)
        if got is None:
            counts["damaged"] += path.exists()
            got = generate_shard(engine, shard, levels, max_tokens=max_tokens, sampling=sampling)
            write_shard(path, got)
            counts["generated"] += 1
        else:
            counts["reused"] += 1
        rows += got
        bar.update(len(shard))
        bar.set_postfix(shard=f"{k + 1}/{len(shards)}", reused=counts["reused"])
    bar.close()
    return rows, counts


# --------------------------------------------------------------------------- the two sources
def regenerate(data_cfg: Mapping, *, engine, tokenizer, teacher: str, work_dir: str | Path,
               problems: Sequence[Problem] | None = None, progress: bool = True,
               verify: bool = True) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """The teacher answers every usable pool problem at every reasoning level (greedy, capped at
    max_tokens), in resumable shards under `work_dir`; the keep rule picks one trajectory per problem;
    the paper's filters run; optional selection. `problems` replaces the configured pool (tests)."""
    levels = _levels(data_cfg)
    max_tokens = _positive_int(data_cfg, "max_tokens")
    shard_size = _positive_int(data_cfg, "shard_size")
    max_prompt_tokens = _positive_int(data_cfg, "max_prompt_tokens")
    pool = list(problems) if problems is not None else _pool(data_cfg)
    if not pool:
        raise data.DataError("the problem pool is empty")

    jobs, skipped = screen_pool(pool, levels, engine, max_prompt_tokens)
    dropped, contamination_section = contamination({j.problem_id: j.question for j in jobs}, data_cfg)
    jobs = [j for j in jobs if j.problem_id not in dropped]
    if not jobs:
        raise data.DataError(f"no usable problem left of {len(pool)}: skipped {skipped_section(skipped)['by_reason']}, "
                             f"dropped as contaminated {len(dropped)}")

    sampling = Sampling(temperature=0.0, seed=int(data_cfg.get("seed", 0)))
    settings = generation_settings(jobs, engine=engine, data_cfg=data_cfg, levels=levels, max_tokens=max_tokens,
                                   sampling=sampling, shard_size=shard_size)
    shard_dir = Path(work_dir) / settings_key(settings)
    shard_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(shard_dir / "settings.json", json.dumps(settings, indent=2, sort_keys=True, default=str) + "\n",
                      fsync=True)
    rows, shard_counts = generate_in_shards(engine, jobs, list(levels), shard_dir=shard_dir, shard_size=shard_size,
                                            max_tokens=max_tokens, sampling=sampling, progress=progress)

    by_id = {j.problem_id: j for j in jobs}
    trajectories = [
        data.Trajectory(source_id=r["source_id"], question=by_id[r["source_id"]].question,
                        reasoning_level=r["reasoning_level"], response=r["response"],
                        finish_reason=r["finish_reason"], difficulty=by_id[r["source_id"]].problem.difficulty)
        for r in rows
    ]
    df = data.build_rows(trajectories, levels=list(levels), teacher=teacher, tokenizer=tokenizer,
                         keep_rule=data_cfg.get("keep_rule", "difficulty"),
                         repetition_ngram=int(data_cfg["repetition"]["ngram"]))
    if verify:  # only CodeI/O problems have a checker; others (Code Evol-Instruct) stay None, not False
        from z1.benchmarks import codeio

        df["verified_correct"] = [
            codeio.check_solution(by_id[sid].problem, text).correct if by_id[sid].problem.benchmark == "codeio" else None
            for sid, text in zip(df["source_id"], df["response"], strict=True)]
    all_trajectories = df.copy()
    out, report = data.apply_filters(df, repetition_threshold=float(data_cfg["repetition"]["threshold"]),
                                     filter_repetitive=bool(data_cfg.get("filter_repetitive", True)),
                                     filter_incorrect=bool(data_cfg.get("filter_incorrect", False)))
    out, report = _select(out, report, data_cfg)
    report.update({
        "source": "regenerate", "teacher": teacher, "levels": list(levels), "pool_problems": len(pool),
        "skipped": skipped_section(skipped), "decontamination": contamination_section,
        "shards": {"dir": str(shard_dir), "shard_size": shard_size, **shard_counts},
    })
    return out, report, all_trajectories


def _select(df: pd.DataFrame, report: dict, data_cfg: Mapping) -> tuple[pd.DataFrame, dict]:
    """The optional token-budget selection; the report also gets both modes' subsets at the budget
    (the configured one, or half the dataset's tokens when none is set) and length vs difficulty."""
    sel = data_cfg.get("select") or {}
    budget = int(sel.get("token_budget") or 0)
    shown = budget if budget > 0 else int(df["token_num_qwen"].sum()) // 2
    report["token_matched_subsets"] = {
        "token_budget": shown, "budget_from": "data.select.token_budget" if budget > 0 else "half the dataset's tokens",
        "subsets": data.token_matched_subsets(df, shown).to_dict("records")}
    report["length_difficulty"] = data.rank_correlation(df)
    if sel.get("mode"):
        df = data.select_by_token_budget(df, int(sel["token_budget"]), sel["mode"])
        report["selected"] = {"mode": sel["mode"], "token_budget": int(sel["token_budget"]),
                              "rows": int(len(df)), "tokens": int(df["token_num_qwen"].sum())}
    return df, report


def load_released(data_cfg: Mapping, *, tokenizer) -> tuple[pd.DataFrame, dict, None]:
    """efficientscaling/Z1-Code-Reasoning-107K from the hub, with token_num_qwen recomputed and the
    decontamination check (rows dropped only with `decontaminate: true`). ``released_id`` may also be
    a local copy: a .parquet / .jsonl file or a directory of them (e.g. a downloaded snapshot), read
    offline."""
    df = data.read_released(str(data_cfg["released_id"]))
    data.validate_schema(df)
    recomputed = data.count_tokens(tokenizer, df["response"].tolist())
    diff = pd.Series(recomputed) - df["token_num_qwen"].astype(int)
    for col in data.EXTRA_COLUMNS:
        df[col] = None
    df["token_num_recomputed"] = recomputed
    report = {"source": "released", "teacher": f"QwQ-32B-Preview ({data_cfg['released_id']})",
              "rows_released": int(len(df)),
              "token_count_exact_share": float((diff == 0).mean()), "token_count_mean_diff": float(diff.mean()),
              "token_count_max_abs_diff": int(diff.abs().max())}
    dropped, report["decontamination"] = contamination(dict(zip(df["id"], df["question"], strict=True)), data_cfg)
    df = df[~df["id"].isin(dropped)].reset_index(drop=True)
    report.update({"rows": int(len(df)), "tokens": int(df["token_num_qwen"].sum())})
    df, report = _select(df, report, data_cfg)
    return df, report, None
