"""Shared types and helpers of the benchmark modules.

A benchmark module turns source rows into :class:`Problem` objects (chat messages exactly as the
paper's evaluation built them, plus whatever grading needs) and grades saved completion text into a
:class:`Grade`. Nothing here knows about engines or generation; graders are pure functions of
(problem, completion text), so saved generations can be re-graded from disk.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class BenchmarkError(RuntimeError):
    """Missing data, unknown benchmark, or a hub source requested while offline (message says the fix)."""


@dataclass
class Problem:
    benchmark: str
    problem_id: str
    messages: list[dict]
    reference: dict
    difficulty: float | None = None
    assistant_prefill: str = ""
    stand_in_for: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stand_in_for"] = list(self.stand_in_for)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Problem:
        return cls(
            benchmark=d["benchmark"],
            problem_id=d["problem_id"],
            messages=[dict(m) for m in d["messages"]],
            reference=dict(d["reference"]),
            difficulty=d.get("difficulty"),
            assistant_prefill=d.get("assistant_prefill", "") or "",
            stand_in_for=tuple(d.get("stand_in_for") or ()),
            meta=dict(d.get("meta") or {}),
        )


@dataclass
class Grade:
    correct: bool
    extracted: str | None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def as_problem(problem: Problem | dict) -> Problem:
    if isinstance(problem, Problem):
        return problem
    if isinstance(problem, dict):
        return Problem.from_dict(problem)
    raise TypeError(f"expected a Problem or its dict form, got {type(problem).__name__}")


# ----------------------------------------------------------------------------------------------
# data location and selection


def package_file(module: str, relative: str, pip_name: str) -> Path:
    """Path of a data file shipped inside an installed package, without importing the package.

    (Some of these packages have an ``__init__`` with heavy or missing dependencies, so the file is
    found through ``importlib.util.find_spec`` only.)
    """
    fix = f"install it with `pip install {pip_name}` (it is pinned in requirements-assets.txt)"
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise BenchmarkError(f"package {pip_name!r} (module {module!r}) is not installed; {fix}")
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [os.path.dirname(spec.origin)]
    for root in roots:
        path = Path(root) / relative
        if path.is_file():
            return path
    raise BenchmarkError(f"{relative!r} not found inside package {pip_name!r} ({roots}); reinstall it: {fix}")


def require_online(dataset: str) -> None:
    """Raise a clear error when a hub dataset is requested while the offline switches are set."""
    flags = [v for v in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE") if os.environ.get(v, "").lower() in ("1", "true", "yes", "on")]
    if flags:
        raise BenchmarkError(
            f"source='hub' needs the Hugging Face hub for {dataset!r}, but {', '.join(flags)} is set. "
            f"Fix: on a machine with network access, `unset {' '.join(flags)}` (the `paper` profile does), "
            f"or use source='offline' (offline slices: humaneval, gpqa_diamond, math500, aime2024)."
        )


def hub_load(dataset: str, *args: Any, **kwargs: Any):
    """``datasets.load_dataset`` with the offline check and a readable error."""
    require_online(dataset)
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is in requirements.txt
        raise BenchmarkError("source='hub' needs the `datasets` package: `pip install datasets`") from e
    try:
        return datasets.load_dataset(dataset, *args, **kwargs)
    except Exception as e:  # network, gating, renamed configs...
        raise BenchmarkError(
            f"could not load {dataset!r} from the hub ({type(e).__name__}: {e}). "
            "Check network access and, for gated sets, `huggingface-cli login`."
        ) from e


def selection_key(seed: int, problem_id: str) -> str:
    return hashlib.sha256(f"{seed}:{problem_id}".encode()).hexdigest()


def select(problems: Sequence[Problem], n: int | None, seed: int = 0) -> list[Problem]:
    """Deterministic seeded selection of ``n`` problems.

    ``n=None`` keeps every problem in source order. Otherwise problems are ranked by
    sha256(f"{seed}:{problem_id}") and the first ``n`` of that ranking are kept, returned in source
    order. The ranking does not depend on ``n``, so for one seed a smaller selection is always a
    subset of a larger one (the `ci` slice is inside the `mini` slice), and it does not depend on
    the platform or Python's hash seed.
    """
    problems = list(problems)
    if n is None:
        return problems
    if n < 0:
        raise ValueError(f"n must be >= 0 or None, got {n}")
    ranked = sorted(range(len(problems)), key=lambda i: selection_key(seed, problems[i].problem_id))
    keep = sorted(ranked[:n])
    return [problems[i] for i in keep]


# ----------------------------------------------------------------------------------------------
# extraction helpers


def find_boxed(text: str) -> list[str]:
    r"""Contents of every ``\boxed{...}`` (and ``\fbox{...}``) in ``text``, in order, braces balanced.

    Handles nesting (``\boxed{\frac{1}{\sqrt{2}}}``) and the brace-less form ``\boxed 5``.
    An unterminated ``\boxed{`` (truncated output) is ignored.
    """
    out: list[str] = []
    for m in re.finditer(r"\\(?:boxed|fbox)\s*", text):
        i = m.end()
        if i < len(text) and text[i] == "{":
            depth, j = 0, i
            while j < len(text):
                c = text[j]
                if c == "\\":  # skip escaped characters such as \{ and \}
                    j += 2
                    continue
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        out.append(text[i + 1 : j])
                        break
                j += 1
        elif m.group(0).endswith(" ") or m.group(0).endswith("\t"):
            tail = re.match(r"[^\s$]+", text[i:])
            if tail:
                out.append(tail.group(0))
    return out


def last_boxed(text: str) -> str | None:
    r"""Content of the last complete ``\boxed{...}`` in ``text`` (None if there is none)."""
    found = find_boxed(text or "")
    return found[-1] if found else None


_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
_PY_LANGS = {"python", "py", "python3", "py3"}


def defines(code: str, name: str) -> bool:
    """Whether ``code`` defines the function ``name`` (``def name(`` or ``async def name(``)."""
    return re.search(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(", code, re.M) is not None


def _prefer_entry(codes: list[str], entry_point: str | None) -> str:
    """The last block that defines ``entry_point``, else the last block."""
    defining = [c for c in codes if entry_point and defines(c, entry_point)]
    return (defining or codes)[-1]


def extract_code(text: str, entry_point: str | None = None) -> tuple[str | None, str]:
    """The code of a model answer and how it was found.

    Order: among the fenced blocks tagged python (```python / ```py / ```python3), the last one that
    defines ``entry_point`` (when given; as BigCodeBench's sanitiser keys on it), else the last one;
    the same among fenced blocks with any or no tag; else an unclosed ```python fence running to the
    end (a truncated answer, or a prefilled fence); else the raw text, stripped (None if empty). So an
    answer whose function block is followed by an import-only or usage block is graded on the function.
    Returns (code, how) with how in {"python_block", "any_block", "unclosed_block", "raw_text", "none"}.
    """
    text = text or ""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]
    py = [code for lang, code in blocks if lang in _PY_LANGS]
    if py:
        return _prefer_entry(py, entry_point), "python_block"
    if blocks:
        return _prefer_entry([code for _, code in blocks], entry_point), "any_block"
    opens = list(re.finditer(r"^[ \t]*```[ \t]*(?:python|py|python3)?[ \t]*\n", text, re.M))
    if opens:
        m = opens[-1]
        return text[m.end() :], "unclosed_block"
    if text.strip():
        return text.strip("\n"), "raw_text"
    return None, "none"


def with_prefill(problem: Problem, completion: str) -> str:
    """The assistant turn as the model saw it: prefill + completion (unless already included)."""
    pre = problem.assistant_prefill or ""
    if pre and not completion.startswith(pre):
        return pre + completion
    return completion


def histogram(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))
