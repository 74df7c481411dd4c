"""The one door from the benchmark graders to :mod:`z1.sandbox` (imported lazily).

Code graders build one self-contained Python program per (problem, completion), a :class:`Program`:
its text (run as ``main.py``) and its standard input (the LiveCodeBench, BigCodeBench and CodeI/O
harnesses in :mod:`z1.benchmarks.harnesses` take their parameters there, as one JSON object); the
program exits 0 when every test passes. ``run``/``run_batch`` execute programs in the sandbox and
return its verdicts.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Program(NamedTuple):
    """A program for the sandbox: ``code`` runs as ``main.py`` with ``stdin`` as its standard input."""

    code: str
    stdin: str = ""


def as_program(program: Program | str) -> Program:
    """``program`` as a :class:`Program` (plain text gets an empty stdin)."""
    if isinstance(program, str):
        return Program(program)
    return Program(*program)

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 1024


def _sandbox():
    try:
        from z1 import sandbox
    except ImportError as e:
        raise ImportError(
            "grading code benchmarks needs z1.sandbox (lib/z1/sandbox/); it could not be imported: " + str(e)
        ) from e
    return sandbox


def make_limits(limits: Any = None, *, timeout_s: float | None = None, memory_mb: int | None = None):
    """A ``z1.sandbox.Limits``: the one given, or the defaults with optional overrides."""
    sb = _sandbox()
    if limits is not None:
        return limits
    kw: dict[str, Any] = {"timeout_s": DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s,
                          "memory_mb": DEFAULT_MEMORY_MB if memory_mb is None else memory_mb}
    return sb.Limits(**kw)


def run(program: Program | str, *, limits: Any = None):
    sb = _sandbox()
    code, stdin = as_program(program)
    return sb.run_program(code, stdin=stdin, limits=make_limits(limits))


def run_batch(programs: list[Program | str], *, limits: Any = None, workers: int = 2, progress: bool = False) -> list:
    sb = _sandbox()
    if not programs:
        return []
    items = [tuple(as_program(p)) for p in programs]  # run_many takes (code, stdin) pairs
    return list(sb.run_many(items, limits=make_limits(limits), workers=workers, progress=progress))


def verdict_dict(verdict: Any) -> dict:
    if verdict is None:
        return {}
    if hasattr(verdict, "to_dict"):
        return dict(verdict.to_dict())
    return {"status": getattr(verdict, "status", None), "reason": getattr(verdict, "reason", None)}


def verdict_stdout(verdict: Any) -> str:
    for name in ("stdout", "output"):
        value = getattr(verdict, name, None)
        if isinstance(value, str):
            return value
    d = verdict_dict(verdict)
    value = d.get("stdout") or d.get("output") or ""
    return value if isinstance(value, str) else ""
