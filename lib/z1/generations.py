"""Generation rows on disk: one JSONL file per (model, benchmark, method), one row per sample.

Rows are **content-keyed**: each carries ``row_key``, a hash of everything that determines it (the
model's weights, tokenizer and config; engine and its options; dtype; benchmark, its options and the
problem's prompt; method, its options, window, ``max_tokens`` and stop strings; sampling and the
sample index). The inference stage keeps a row whose key it would produce again and generates only
the missing ones, so:

* a killed run (even ``kill -9`` of ``dvc repro``: ``generations/<profile>`` is a ``persist`` out,
  which DVC does not delete before re-running the stage) resumes where it stopped;
* a re-run after a change that alters no key (grading, plotting, a refactor) reuses every row and
  starts no engine;
* a changed setting makes exactly the affected rows stale: they are dropped and generated again, and
  files of models, benchmarks or methods no longer configured are removed.

Readers name the file and line of a damaged row; a torn last line (a kill mid-write) is left out and
repaired before appending; a sample written twice is an error, never graded twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from z1 import atomic


class RowError(ValueError):
    """A generations file is damaged (bad line, missing fields, duplicated sample)."""


ROW_KEYS = ("model", "benchmark", "method", "window", "problem_id", "sample_index")  # one sample

# what decides a model's outputs: weights, config, tokenizer and chat template (not logs, reports or the
# pickled training arguments, which change with every run)
_MODEL_SUFFIXES = (".safetensors", ".jinja", ".model", ".tiktoken")
_MODEL_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "added_tokens.json", "vocab.json", "adapter_config.json",
                "merges.txt", "vocab.txt")
_WEIGHTS_BIN = ("pytorch_model", "adapter_model")  # *.bin weights (shards too), not training_args.bin


def _canonical_json(path: Path) -> bytes:
    """A JSON file's content up to key order and the order of ``target_modules`` (a set in peft)."""
    obj = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(obj, dict) and isinstance(obj.get("target_modules"), list):
        obj["target_modules"] = sorted(map(str, obj["target_modules"]))
    return json.dumps(obj, sort_keys=True).encode()


def model_fingerprint(model_dir: str | Path) -> str:
    """A hash of the files that decide a model's outputs (names and contents; JSON up to key order)."""
    root = Path(model_dir)
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        weights_bin = path.suffix == ".bin" and path.name.startswith(_WEIGHTS_BIN)
        if not path.is_file() or not (path.suffix in _MODEL_SUFFIXES or path.name in _MODEL_FILES or weights_bin):
            continue
        h.update(str(path.relative_to(root)).encode() + b"\0")
        if path.suffix == ".json":
            h.update(hashlib.sha256(_canonical_json(path)).digest())
        else:
            with path.open("rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()[:20]


def row_key(key_base: Mapping, **row: object) -> str:
    """The content key of one row: ``key_base`` (model, engine, benchmark, method settings) plus the
    row's own fields (problem prompt, window, sample index)."""
    text = json.dumps({**key_base, **row}, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) of a generations file. A torn last line (no newline: a kill mid-write) is
    left out; a bad line anywhere else, or a row without its keys or record, is an error naming the
    file and line."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn = len(lines) - 1 if lines and lines[-1].strip() else None  # text after the last newline
    rows = []
    for i, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if i - 1 == torn:
                continue
            raise RowError(f"{path}:{i}: not a JSON row ({e}); repair or delete the file and run the stage "
                           "again (finished rows elsewhere are kept)") from None
        missing = [k for k in ROW_KEYS if k not in row] + (
            [] if isinstance(row.get("record"), dict) and "answer" in row["record"] else ["record.answer"])
        if missing:
            raise RowError(f"{path}:{i}: the row lacks {missing}")
        rows.append((i, row))
    return rows


def repair_torn_tail(path: Path) -> None:
    """Drop a partially written last line left by a kill, so appends start on a clean line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def existing_keys(path: Path) -> set[str]:
    """The ``row_key`` of every row in a file (rows from before content keys have none: stale)."""
    if not path.exists():
        return set()
    return {row["row_key"] for _, row in read_rows(path) if "row_key" in row}


def keep_only(path: Path, keys: set[str]) -> int:
    """Rewrite ``path`` (atomically) without rows whose key is not in ``keys``, and without a second
    copy of a key; returns how many rows were dropped."""
    if not path.exists():
        return 0
    kept, seen, dropped = [], set(), 0
    for raw in path.read_bytes().splitlines(keepends=True):
        if not raw.strip():
            continue
        try:
            key = json.loads(raw).get("row_key")
        except (json.JSONDecodeError, UnicodeDecodeError):
            key = None
        if key in keys and key not in seen:
            seen.add(key)
            kept.append(raw if raw.endswith(b"\n") else raw + b"\n")
        else:
            dropped += 1
    if dropped:
        atomic.write_bytes(path, b"".join(kept))
    return dropped


def remove_unplanned(out_dir: Path, planned: Iterable[Path]) -> list[str]:
    """Delete generation files under ``out_dir`` that the current settings no longer produce."""
    keep = {Path(p).resolve() for p in planned}
    removed = []
    for path in sorted(Path(out_dir).rglob("*.jsonl")):
        if path.resolve() not in keep:
            path.unlink()
            removed.append(str(path))
    return removed


def read_generations(gen_dir: Path) -> list[dict]:
    """Every generation row under a generations directory (for grading). A sample that appears twice
    is an error naming both places, never graded twice; see read_rows for damaged lines."""
    rows, seen = [], {}
    for path in sorted(Path(gen_dir).rglob("*.jsonl")):
        for i, row in read_rows(path):
            key = tuple(row[k] for k in ROW_KEYS)
            if key in seen:
                raise RowError(f"{path}:{i}: duplicate of {seen[key]} ({dict(zip(ROW_KEYS, key, strict=True))}); "
                               "delete one of them")
            seen[key] = f"{path}:{i}"
            rows.append(row)
    return rows
