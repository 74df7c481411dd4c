"""CodeI/O held-out: an offline evaluation set with graded difficulty that training never sees.

The paper's central idea is dynamic reasoning: short thinking for simple problems, long for hard
ones. Its evidence is thinking length against difficulty; offline, HumanEval has no difficulty and
the MATH500 subset's levels reach our 0.5B model only at the bottom. CodeI/O rows carry a 1-10
difficulty rating, so a held-out slice of the same pool gives a graded axis:
:func:`z1.benchmarks.codeio.heldout_indices` holds out 24 rows per level (6 = rated 6 or below, 7, 8,
9; 96 problems), and the data stage's pool excludes them.

Problems are ``codeio_heldout/<row index>``: the pool's prompt (one user turn asking for a
``main_solution`` in a python block), ``difficulty`` the level, ``meta["rating"]`` the raw rating.
Grading is the pool's checker (:func:`z1.benchmarks.codeio.check_solution`): the answer's
``main_solution`` against the reference on 3 generated inputs, in the sandbox.
"""

from __future__ import annotations

from . import codeio
from .base import BenchmarkError, Problem

NAME = "codeio_heldout"
KIND = "code"
build_program = codeio.build_program
finish = codeio.finish
grade = codeio.check_solution


def load(source: str = "offline") -> list[Problem]:
    if source != "offline":
        raise BenchmarkError("codeio_heldout ships only inside the reasoning-gym package; use source='offline'")
    rows = codeio.load_rows()
    problems = []
    for i in codeio.heldout_indices(rows):
        p = codeio._to_problem(i, rows[i])
        problems.append(Problem(benchmark=NAME, problem_id=f"{NAME}/{i}", messages=p.messages, reference=p.reference,
                                difficulty=float(codeio.heldout_level(rows[i]["difficulty"])),
                                meta={**p.meta, "pool": False, "rating": rows[i]["difficulty"]}))
    return problems
