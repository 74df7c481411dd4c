"""The shifted-thinking-window playground: one question, one method, several windows, side by side.

    pg = Playground.for_profile("ci")                     # the profile's models, loaded on first use
    results = pg.run("sft", question, method="stw_corrected", windows=[16, 32], max_tokens=48)
    results[0].thinking, results[0].appended, results[0].answer, results[0].thinking_tokens

The windows of one request share their decoding (``z1.thinking.window_sweep``: under greedy decoding
the first round runs once, at the largest window), so a sweep costs little more than its largest
window. Each ``WindowResult`` splits the method's record into the three parts a reader wants to see:

* ``thinking``: what the model wrote before the window stopped it (``pass1_text``; for s1 budget
  forcing all rounds of thinking, "Wait"s included);
* ``appended``: the text the method inserted when the window was reached (Z1's hint, R1's
  ``</think>`` + "the final answer is:", s1's "Final Answer:");
* ``answer``: what the model wrote after it, the part a grader reads.

A sample that finished inside its window was never cut: Z1 uses no thinking delimiters, so its
thinking and its answer are one text, returned as ``answer`` with ``thinking == ""``.

Problems come from the offline benchmarks, never GPQA: its authors ask that its questions not be
republished, and the playground's output ends up in screenshots and executed notebooks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from z1 import benchmarks, thinking
from z1.engines.base import Sampling
from z1.examples import NOT_REPUBLISHED

# label -> (z1.thinking function, its fixed options); the methods of the pipeline's inference stage
METHODS: dict[str, tuple[str, dict]] = {
    "stw_corrected": ("shifted_thinking_window", {"mode": "corrected"}),
    "stw_paper": ("shifted_thinking_window", {"mode": "paper"}),
    "r1_truncation": ("r1_truncation", {}),
    "budget_forcing": ("budget_forcing", {}),
    "no_cap": ("no_cap", {}),
}
METHOD_LABELS = {
    "stw_corrected": "Shifted thinking window (corrected)",
    "stw_paper": "Shifted thinking window (the authors' code)",
    "r1_truncation": "R1-style truncation",
    "budget_forcing": "s1 budget forcing",
    "no_cap": "No cap",
}
PICKABLE = tuple(b for b in ("humaneval", "math500", "aime2024", "codeio", "codeio_heldout") if b not in NOT_REPUBLISHED)
MAX_WINDOWS = 8  # one request's windows; each adds a pass 2


class PlaygroundError(ValueError):
    """A request the playground cannot run (bad windows, unknown method or model); the message says why."""


@dataclass(frozen=True)
class WindowResult:
    window: int  # the window applied (clamped to max_tokens where the method clamps it)
    method: str
    thinking: str
    appended: str
    answer: str
    thinking_tokens: int  # the paper's count (z1.thinking): W for a capped sample
    window_hit: bool
    finish_reason: str  # of the kept output: "stop" = it ended itself, "length" = it ran out of tokens
    seconds: float  # wall time of the whole sweep this window was part of
    grade: dict | None = None  # {"correct": bool, "extracted": ..., "reason": str} for a benchmark problem
    notes: tuple[str, ...] = ()


def parse_windows(text: str | Sequence[int], *, max_tokens: int) -> list[int]:
    """``"16, 32 64"`` -> ``[16, 32, 64]`` (sorted, duplicates dropped). Windows must be integers
    between 1 and ``max_tokens``; at most ``MAX_WINDOWS`` of them."""
    items = re.split(r"[\s,;]+", text.strip()) if isinstance(text, str) else list(text)
    items = [i for i in items if i != ""]
    if not items:
        raise PlaygroundError("give at least one window, e.g. 16, 32")
    out = set()
    for item in items:
        try:
            w = int(item)
        except (TypeError, ValueError):
            raise PlaygroundError(f"window {item!r} is not an integer") from None
        if not 1 <= w <= max_tokens:
            raise PlaygroundError(f"window {w} is outside 1..{max_tokens} (max tokens)")
        out.add(w)
    if len(out) > MAX_WINDOWS:
        raise PlaygroundError(f"{len(out)} windows: at most {MAX_WINDOWS} per request")
    return sorted(out)


def split_record(record: thinking.ThinkingRecord) -> tuple[str, str, str]:
    """(thinking, appended, answer) of a record; their concatenation is the text the model and the
    method produced, in order."""
    if record.pass2_token_ids is None:  # never cut: one text, thinking and answer inseparable
        return "", "", record.answer
    return record.pass1_text, record.hint or "", record.answer


def problems(names: Sequence[str] = PICKABLE, *, n: int = 5, seed: int = 0) -> dict[str, benchmarks.Problem]:
    """``{"humaneval · HumanEval/12": Problem, ...}``: ``n`` problems from each offline benchmark
    (the pipeline's seeded selection, so they are the ones a profile evaluates first)."""
    bad = [b for b in names if b in NOT_REPUBLISHED]
    if bad:
        raise PlaygroundError(f"{bad} cannot be picked: their questions must not be republished")
    return {f"{b} · {p.problem_id}": p for b in names for p in benchmarks.load(b, n=n, seed=seed)}


def question_of(problem: benchmarks.Problem) -> str:
    """The problem's last user message (what the playground shows and lets the user edit)."""
    users = [m["content"] for m in problem.messages if m.get("role") == "user"]
    return users[-1] if users else ""


def messages_for(question: str, problem: benchmarks.Problem | None = None) -> tuple[list[dict], str]:
    """(messages, assistant prefill) for a question: a benchmark problem's own prompt (system prompt
    and prefill included) with its user message replaced by ``question``, or a plain user turn."""
    if not question.strip():
        raise PlaygroundError("the question is empty")
    if problem is None:
        return [{"role": "user", "content": question}], ""
    msgs = [dict(m) for m in problem.messages]
    last = max(i for i, m in enumerate(msgs) if m.get("role") == "user")
    msgs[last]["content"] = question
    return msgs, problem.assistant_prefill


def describe_grade(g: benchmarks.Grade) -> str:
    """One line of why a grader decided as it did."""
    d = g.details or {}
    verdict = d.get("verdict")
    if isinstance(verdict, Mapping):
        status = verdict.get("status")
        err = (verdict.get("stderr") or verdict.get("error") or "").strip().splitlines()
        return f"sandbox: {status}" + (f" ({err[-1][:160]})" if err and status != "passed" else "")
    if "verdict" in d:  # code benchmark, nothing to run
        return f"no code found to run (extraction: {d.get('extraction')})"
    if "gold" in d:
        return f"extracted {g.extracted!r}, reference {d['gold']!r}"
    return f"extracted {g.extracted!r}"


def grade(problem: benchmarks.Problem, answer: str) -> dict:
    """Grade an answer with the problem's benchmark grader (code runs in the sandbox)."""
    g = benchmarks.grade(problem, answer)
    return {"correct": bool(g.correct), "extracted": g.extracted, "reason": describe_grade(g)}


def sweep(engine, messages: list[dict], prefill: str = "", *, method: str, windows: Sequence[int], max_tokens: int,
          stop: Sequence[str] = (), sampling: Sampling = thinking.GREEDY,
          problem: benchmarks.Problem | None = None, progress: bool = False) -> list[WindowResult]:
    """Run ``method`` (a key of METHODS) at every window on one prompt; one result per window,
    smallest first. With ``problem``, each answer is graded by its benchmark's grader."""
    if method not in METHODS:
        raise PlaygroundError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    function, options = METHODS[method]
    ws = parse_windows(windows, max_tokens=max_tokens)
    ids = engine.encode_chat(messages, assistant_prefill=prefill)
    t0 = time.perf_counter()
    by_window = thinking.window_sweep(engine, [ids], ws, function=function, max_tokens=max_tokens, sampling=sampling,
                                      stop=tuple(stop), progress=progress, **options)
    seconds = time.perf_counter() - t0
    out = []
    for w in ws:
        rec = by_window[w][0]
        thought, appended, answer = split_record(rec)
        out.append(WindowResult(
            window=rec.window if rec.window is not None else w, method=method, thinking=thought, appended=appended,
            answer=answer, thinking_tokens=rec.thinking_tokens, window_hit=rec.window_hit,
            finish_reason=rec.finish_reason, seconds=seconds,
            grade=grade(problem, rec.answer) if problem is not None else None, notes=tuple(rec.notes)))
    return out


@dataclass
class Playground:
    """A profile's models behind one ``sweep`` call; each model's engine starts on first use and stays."""

    model_dirs: dict[str, Path]
    engine_factory: Callable[[str, Path], object]
    max_tokens: int = 256
    windows: tuple[int, ...] = (16, 32)  # what the app proposes: the profile's windows
    engines: dict[str, object] = field(default_factory=dict)

    @classmethod
    def for_profile(cls, profile: str | None = None, *, backend: str = "transformers", root: Path = Path("."),
                    params_path: str | Path | None = None) -> Playground:
        """The models of a profile's ``inference.models`` (base, sft, ...) on ``backend``, with the
        profile's device, dtype and thread count; ``max_tokens`` defaults to the profile's."""
        import torch

        from z1 import config
        from z1.engines import make_engine
        from z1.paths import Paths

        config.use_offline_defaults()
        cfg = config.load_profile(profile, **({"params_path": params_path} if params_path else {}))
        paths = Paths(cfg["name"], Path(root))
        compute = cfg["compute"]
        torch.set_num_threads(int(compute["threads"]))

        def factory(key: str, model_dir: Path):
            return make_engine(backend, model_dir, device=compute["device"], dtype=compute["dtype"])

        inf = cfg["inference"]
        max_tokens = int(inf["max_tokens"])
        windows = tuple(sorted({min(int(w), max_tokens) for w in inf["windows"]}))[:MAX_WINDOWS]
        return cls({k: paths.model(k) for k in inf["models"]}, factory, max_tokens=max_tokens, windows=windows)

    def engine(self, model: str):
        if model not in self.model_dirs:
            raise PlaygroundError(f"unknown model {model!r}; this profile has {sorted(self.model_dirs)}")
        if model not in self.engines:
            self.engines[model] = self.engine_factory(model, self.model_dirs[model])
        return self.engines[model]

    def run(self, model: str, question: str, *, method: str = "stw_corrected", windows: Sequence[int] | str = (16, 32),
            max_tokens: int | None = None, problem: benchmarks.Problem | None = None,
            progress: bool = False) -> list[WindowResult]:
        """Sweep ``question`` (a benchmark problem's prompt when ``problem`` is given, graded then)."""
        max_tokens = int(max_tokens or self.max_tokens)
        if max_tokens < 1:
            raise PlaygroundError(f"max tokens must be >= 1, got {max_tokens}")
        ws = parse_windows(windows, max_tokens=max_tokens)
        messages, prefill = messages_for(question, problem)
        stop = benchmarks.stop_strings(problem.benchmark) if problem is not None else ()
        return sweep(self.engine(model), messages, prefill, method=method, windows=ws, max_tokens=max_tokens,
                     stop=stop, problem=problem, progress=progress)

    def close(self) -> None:
        for engine in self.engines.values():
            close = getattr(engine, "close", None)
            if close is not None:
                close()
        self.engines.clear()
