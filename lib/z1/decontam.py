"""Decontamination: word n-gram overlap between training questions and evaluation-benchmark prompts.

    index = decontam.load_index(["humaneval", "math500", "gpqa_diamond"], ngram=13)
    found = decontam.find_contaminated({"codeio/73": question, ...}, index)   # id -> benchmark ids
    decontam.summary(found, index)                                            # counts and ids per benchmark

Tokenisation: the text is lower-cased and split into Unicode word characters (regex ``\\w+``), so
punctuation, whitespace, LaTeX backslashes and code symbols drop out and code reduces to its
identifiers, keywords and numbers. A question is contaminated by a benchmark problem when the two
share at least one word n-gram; n = 13 by default, the common practice since GPT-3. A benchmark
text with fewer than n words has no n-gram and cannot be matched (counted as ``too_short``).

The benchmark text compared is the benchmark's own content, not our prompt template: HumanEval's
prompt (signature + docstring), the MATH500 problem, the GPQA question with its options (the
user turn). Benchmarks load offline through :func:`z1.benchmarks.load`.

Only ids leave this module - never a matched n-gram or any benchmark text (GPQA's authors ask that
its questions not be republished in plain text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

DEFAULT_NGRAM = 13
DEFAULT_BENCHMARKS = ("humaneval", "math500", "gpqa_diamond")
TOKENISATION = "lower-cased Unicode words (regex \\w+); punctuation and whitespace dropped"
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The words the n-grams are made of (see the module docstring)."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    """Every run of ``n`` consecutive tokens (none when there are fewer than ``n``)."""
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def benchmark_text(problem) -> str:
    """The benchmark's own text of one problem: HumanEval's prompt, else the user turns."""
    if problem.benchmark == "humaneval":
        return problem.reference["prompt"]
    return "\n\n".join(m["content"] for m in problem.messages if m["role"] == "user")


@dataclass
class BenchmarkIndex:
    """Every n-gram of the benchmarks' texts -> the (benchmark, problem id) pairs that contain it."""

    ngram: int
    grams: dict[tuple[str, ...], set[tuple[str, str]]] = field(default_factory=dict)
    problems: dict[str, int] = field(default_factory=dict)   # benchmark -> problems indexed
    too_short: dict[str, int] = field(default_factory=dict)  # benchmark -> texts with < ngram words


def build_index(problems_by_benchmark: Mapping[str, Iterable], ngram: int = DEFAULT_NGRAM) -> BenchmarkIndex:
    """Index benchmark problems (``z1.benchmarks.Problem``) by their word n-grams."""
    if not isinstance(ngram, int) or ngram < 1:
        raise ValueError(f"ngram must be an int >= 1, got {ngram!r}")
    index = BenchmarkIndex(ngram=ngram)
    for name, problems in problems_by_benchmark.items():
        index.problems[name], index.too_short[name] = 0, 0
        for p in problems:
            index.problems[name] += 1
            grams = ngrams(words(benchmark_text(p)), ngram)
            index.too_short[name] += not grams
            for g in grams:
                index.grams.setdefault(g, set()).add((name, p.problem_id))
    return index


def load_index(benchmarks: Sequence[str], ngram: int = DEFAULT_NGRAM) -> BenchmarkIndex:
    """Index the offline copies of ``benchmarks`` (every problem, not the evaluation slice)."""
    from z1 import benchmarks as bm

    return build_index({name: bm.load(name) for name in benchmarks}, ngram)


def matches(question: str, index: BenchmarkIndex) -> set[tuple[str, str]]:
    """The (benchmark, problem id) pairs sharing at least one n-gram with ``question``."""
    found: set[tuple[str, str]] = set()
    for g in ngrams(words(question), index.ngram):
        found |= index.grams.get(g, set())
    return found


def find_contaminated(questions: Mapping[str, str], index: BenchmarkIndex) -> dict[str, list[tuple[str, str]]]:
    """Training id -> sorted (benchmark, problem id) pairs it overlaps; clean ids are left out."""
    found = {}
    for qid, question in questions.items():
        hits = matches(question, index)
        if hits:
            found[qid] = sorted(hits)
    return found


def summary(found: Mapping[str, Sequence[tuple[str, str]]], index: BenchmarkIndex) -> dict:
    """Report section: n, tokenisation, and per benchmark the contaminated training ids (ids only)."""
    per_benchmark = {}
    for name in index.problems:
        ids = sorted(qid for qid, hits in found.items() if any(b == name for b, _ in hits))
        per_benchmark[name] = {"problems_indexed": index.problems[name], "too_short": index.too_short[name],
                               "contaminated": len(ids), "ids": ids}
    return {
        "ngram": index.ngram,
        "tokenisation": TOKENISATION,
        "benchmarks": per_benchmark,
        "contaminated": len(found),
        "matches": {qid: [f"{b}:{pid}" for b, pid in hits] for qid, hits in sorted(found.items())},
    }
