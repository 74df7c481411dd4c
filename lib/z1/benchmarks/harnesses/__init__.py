"""The programs the code graders run in :mod:`z1.sandbox`, as real modules.

Each file here is a complete, standard-library-only program: the grader sends its source text as the
sandbox's ``main.py`` and its parameters (the candidate code, the tests, limits …) as one JSON object
on stdin (:class:`z1.benchmarks._exec.Program`). The program reads stdin once, at the start, so a
candidate finds it at end of file, as an empty stdin. The files never import ``z1`` (the sandbox runs
them with the project's interpreter but not as part of the package); their pure helpers can be
imported from here for tests, e.g. ``from z1.benchmarks.harnesses.livecodebench import _lines``.

* ``livecodebench.py``: LiveCodeBench's testing_util (:mod:`z1.benchmarks.livecodebench`);
* ``bigcodebench.py``: BigCodeBench's untrusted_check (:mod:`z1.benchmarks.bigcodebench`);
* ``codeio.py``: the CodeI/O reference-vs-candidate checker (:mod:`z1.benchmarks.codeio`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

NAMES = ("livecodebench", "bigcodebench", "codeio")


@cache
def source(name: str) -> str:
    """The source text of harness ``name`` (one of :data:`NAMES`), read from the file next to this one."""
    if name not in NAMES:
        raise ValueError(f"unknown harness {name!r}; one of {', '.join(NAMES)}")
    return (Path(__file__).parent / f"{name}.py").read_text(encoding="utf-8")
