"""Training rows into token ids: validation, the chat-template prompt, the target with its end-of-turn
marker, label masking (loss on the target only), overflow (truncate | drop), packing, collation."""

from __future__ import annotations

import bisect
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from z1.sft import IGNORE_INDEX, REQUIRED_COLUMNS, SFTDataError

# --------------------------------------------------------------------------------------------
# Data: validation, formatting, label masking
# --------------------------------------------------------------------------------------------


def load_rows(source: Any) -> list[dict]:
    """Rows as a list of dicts from a list, a pandas DataFrame, a datasets.Dataset, a
    .jsonl/.json/.parquet/.csv path, or a hub dataset id (``train`` split; needs network)."""
    if source is None:
        raise SFTDataError("no training data given")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.exists():
            suffix = path.suffix.lower()
            if suffix == ".jsonl":
                rows = []
                for i, raw in enumerate(path.read_bytes().splitlines(), 1):
                    if not raw.strip():
                        continue
                    try:
                        rows.append(json.loads(raw.decode("utf-8")))
                    except (UnicodeDecodeError, json.JSONDecodeError) as e:
                        raise SFTDataError(f"{path}:{i}: not a UTF-8 JSON row ({e})") from None
                return rows
            if suffix == ".json":
                data = json.loads(path.read_text())
                return list(data["rows"] if isinstance(data, dict) and "rows" in data else data)
            if suffix in (".parquet", ".csv"):
                import pandas as pd

                frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
                return frame.to_dict("records")
            raise SFTDataError(f"unsupported data file type: {path}")
        if "/" in str(source) and not str(source).startswith((".", "/")):
            import datasets

            return list(datasets.load_dataset(str(source), split="train"))
        raise SFTDataError(f"data file not found: {source}")
    if hasattr(source, "to_dict") and hasattr(source, "columns"):  # pandas DataFrame
        return source.to_dict("records")
    if isinstance(source, Mapping):
        raise SFTDataError("expected a sequence of rows, got a single mapping")
    return list(source)


def validate_rows(rows: Any) -> list[dict]:
    """Return the rows as a list of dicts, or raise SFTDataError saying what is wrong."""
    rows = load_rows(rows)
    if len(rows) == 0:
        raise SFTDataError("the training data has zero rows")
    problems: list[str] = []
    first_row_of: dict = {}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            problems.append(f"row {i}: not a mapping ({type(row).__name__})")
            continue
        missing = [c for c in REQUIRED_COLUMNS if c not in row]
        if missing:
            problems.append(f"row {i}: missing column(s) {missing} (has {sorted(row)[:8]})")
            continue
        for col in REQUIRED_COLUMNS:
            value = row[col]
            if not isinstance(value, str):
                problems.append(f"row {i}: {col!r} is {type(value).__name__}, not str")
            elif not value.strip():
                problems.append(f"row {i}: empty {col!r}")
            else:
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as e:
                    problems.append(f"row {i}: {col!r} is not valid UTF-8 text (character {e.start})")
        ident = row.get("id")
        if ident is not None:
            if ident in first_row_of:
                problems.append(f"row {i}: id {ident!r} duplicates row {first_row_of[ident]} (each problem once)")
            else:
                first_row_of[ident] = i
        if len(problems) >= 20:
            break
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and more ({len(problems)}+ problems)" if len(problems) > 10 else ""
        raise SFTDataError(f"malformed training data ({len(rows)} rows):\n  {shown}{more}")
    return rows


def prompt_text(tokenizer, question: str) -> str:
    """The chat-formatted prompt: one user turn (the question ``.strip()``-ed, as the authors'
    preprocessing did), no system message, generation prompt."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": question.strip()}], tokenize=False, add_generation_prompt=True
    )


def end_of_turn(tokenizer) -> str:
    """The text the chat template puts after an assistant message (``<|im_end|>`` for Qwen),
    trailing whitespace removed — the authors' target ends with ``<|im_end|>``, no newline."""
    cached = getattr(tokenizer, "_z1_end_of_turn", None)
    if cached is not None:
        return cached
    sentinel = "Z1SENTINEL"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": sentinel}], tokenize=False
    )
    tail = text[text.rindex(sentinel) + len(sentinel) :].rstrip()
    if not tail:
        tail = tokenizer.eos_token or ""
    if not tail:
        raise ValueError("cannot determine the chat template's end-of-turn marker")
    try:
        tokenizer._z1_end_of_turn = tail
    except AttributeError:
        pass
    return tail


def _assemble(prompt_ids: list[int], target_ids: list[int], max_length: int, overflow: str):
    """Join prompt and target ids; returns (example or None, status) with status in
    {"ok", "truncated", "dropped"}."""
    total = len(prompt_ids) + len(target_ids)
    if total <= max_length:
        ids = list(prompt_ids) + list(target_ids)
        labels = [IGNORE_INDEX] * len(prompt_ids) + list(target_ids)
        status = "ok"
    elif overflow == "drop":
        return None, "dropped"
    elif overflow == "truncate":
        if len(prompt_ids) >= max_length:  # nothing of the target would remain: nothing to learn
            return None, "dropped"
        keep = max_length - len(prompt_ids)
        ids = list(prompt_ids) + list(target_ids[:keep])
        labels = [IGNORE_INDEX] * len(prompt_ids) + list(target_ids[:keep])
        status = "truncated"
    else:
        raise ValueError(f"overflow must be 'truncate' or 'drop', not {overflow!r}")
    return {"input_ids": ids, "labels": labels, "length": len(ids), "overflow_tokens": total - len(ids)}, status


def build_example(tokenizer, question: str, response: str, *, max_length: int, overflow: str = "truncate"):
    """Tokenize one (question, response) pair as the authors did.

    Returns ``{"input_ids", "labels", "length", "overflow_tokens"}`` — labels are -100 over the
    prompt and equal to the ids over ``response + end-of-turn`` — or None when the example is
    over ``max_length`` and ``overflow="drop"`` (or the prompt alone fills ``max_length``).
    """
    p = tokenizer(prompt_text(tokenizer, question), add_special_tokens=False)["input_ids"]
    t = tokenizer(response + end_of_turn(tokenizer), add_special_tokens=False)["input_ids"]
    return _assemble(p, t, max_length, overflow)[0]


def build_dataset(tokenizer, rows: Any, *, max_length: int, overflow: str = "truncate", batch_size: int = 512):
    """Tokenize every row; returns (examples, report).

    The report counts rows over ``max_length`` (``truncated`` / ``dropped``, by ``overflow``)
    and warns when any row was cut. Raises SFTDataError on bad rows or when nothing is left.
    """
    if overflow not in ("truncate", "drop"):
        raise ValueError(f"overflow must be 'truncate' or 'drop', not {overflow!r}")
    rows = validate_rows(rows)
    eot = end_of_turn(tokenizer)
    examples: list[dict] = []
    report = {"rows": len(rows), "kept": 0, "truncated": 0, "dropped": 0, "max_length": max_length,
              "overflow": overflow, "prompt_tokens": 0, "target_tokens": 0, "longest_row_tokens": 0,
              "overflow_tokens": 0}
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        prompts = tokenizer([prompt_text(tokenizer, r["question"]) for r in chunk], add_special_tokens=False)
        targets = tokenizer([r["response"] + eot for r in chunk], add_special_tokens=False)
        for p, t in zip(prompts["input_ids"], targets["input_ids"], strict=True):
            report["longest_row_tokens"] = max(report["longest_row_tokens"], len(p) + len(t))
            example, status = _assemble(p, t, max_length, overflow)
            if status != "ok":
                report[status] += 1
                report["overflow_tokens"] += len(p) + len(t) - (example["length"] if example else 0)
            if example is None:
                continue
            report["prompt_tokens"] += len(p)
            report["target_tokens"] += sum(1 for x in example["labels"] if x != IGNORE_INDEX)
            examples.append(example)
    report["kept"] = len(examples)
    if report["truncated"] or report["dropped"]:
        warnings.warn(
            f"SFT data: {report['truncated']} row(s) truncated and {report['dropped']} dropped "
            f"at max_length={max_length} (overflow={overflow!r}); longest row {report['longest_row_tokens']} tokens",
            stacklevel=2,
        )
    if not examples:
        raise SFTDataError(f"no trainable rows left: all {len(rows)} rows exceed max_length={max_length}")
    return examples, report


# --------------------------------------------------------------------------------------------
# Packing and collation
# --------------------------------------------------------------------------------------------


def pack_examples(examples: Sequence[dict], *, max_length: int) -> list[dict]:
    """Best-fit-decreasing packing of examples into sequences of at most ``max_length`` tokens.

    Each pack has ``input_ids``, ``labels`` (each example's own labels; its first label is the
    prompt's -100, so no loss crosses a boundary) and ``position_ids`` restarting at 0 for every
    example, which is what makes transformers mask attention block-diagonally.
    """
    order = sorted(range(len(examples)), key=lambda i: (-examples[i]["length"], i))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # sorted (remaining capacity, bin index)
    for i in order:
        n = examples[i]["length"]
        k = bisect.bisect_left(free, (n, -1))
        if k < len(free):
            remaining, b = free.pop(k)
            bins[b].append(i)
            bisect.insort(free, (remaining - n, b))
        else:
            bins.append([i])
            bisect.insort(free, (max_length - n, len(bins) - 1))
    packs = []
    for members in bins:
        ids, labels, pos = [], [], []
        for i in members:
            ex = examples[i]
            ids += ex["input_ids"]
            lab = list(ex["labels"])
            lab[0] = IGNORE_INDEX
            labels += lab
            pos += list(range(ex["length"]))
        packs.append({"input_ids": ids, "labels": labels, "position_ids": pos, "length": len(ids),
                      "n_examples": len(members)})
    return packs


class SFTCollator:
    """Right-pads a micro-batch. Unpacked: input_ids/labels/attention_mask. Packed: input_ids,
    labels, position_ids and no attention mask (padding forms its own position block, labels
    -100). Both add ``num_real_tokens`` (non-padding tokens) for the tokens-seen count."""

    def __init__(self, pad_token_id: int, packing: bool = False):
        self.pad_token_id = pad_token_id
        self.packing = packing

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids, labels, extra = [], [], []
        for f in features:
            pad = width - len(f["input_ids"])
            ids.append(list(f["input_ids"]) + [self.pad_token_id] * pad)
            labels.append(list(f["labels"]) + [IGNORE_INDEX] * pad)
            if self.packing:
                extra.append(list(f["position_ids"]) + list(range(pad)))
            else:
                extra.append([1] * len(f["input_ids"]) + [0] * pad)
        batch = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels)}
        batch["position_ids" if self.packing else "attention_mask"] = torch.tensor(extra)
        if self.packing:
            # With a KV cache object present, transformers skips packed-sequence detection and
            # attention leaks across examples (measured): force it off for packed batches.
            batch["use_cache"] = False
        batch["num_real_tokens"] = torch.tensor(sum(len(f["input_ids"]) for f in features))
        return batch
