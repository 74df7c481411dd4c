"""Many callers, one engine batch: ``Gather(engine).run(jobs)``.

The inference stage has many independent pieces of work per model (benchmarks x methods), each a
sequence of ``generate`` rounds (the shifted thinking window's pass 1, then pass 2; s1's "Wait"
rounds...). Run one after another, each round holds one file's batch of prompts and the engine
decodes a handful of sequences at a time, far from what the CPU's matrix units can take. ``Gather``
runs every job in its own thread against a view of the engine; a view's ``generate`` waits until
every unfinished job is waiting too, then all their requests go to the engine as ONE call (in job
order, so the merged batch is the same on every run) and each job gets its own completions back.
The jobs' code is unchanged: they call ``generate`` as they would on the engine itself.

The engine is called from the thread that called ``run`` (the one that built it), never from a job's
thread. torch's OpenMP team belongs to the thread that starts a parallel region, and vLLM's
in-process CPU engine binds the team of the thread that built it to the cores: called from a job
thread, the model ran on a second, unbound team while the first one's threads spun, and the
6-problem ``mini`` inference stage spent 369 s generating instead of 293 s (the same tokens;
``results/benchmarks/repro_mini_n6.json``).

    gather = Gather(engine)
    results = gather.run([lambda view: work(view, a), lambda view: work(view, b)])
    gather.calls, gather.requests        # engine calls made, requests they held

The engine's other attributes (tokenizer, encode_chat, info, eos_ids...) pass through the view.
``retain`` (the transformers engine's KV-reuse hint) is merged as the most permissive of the
callers' values. An exception in one job ends that job only (the others go on); ``run`` raises the
first one after all jobs have ended. An exception from the engine reaches every caller of that call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from .base import Completion, Request


class _Call:
    __slots__ = ("job", "requests", "retain", "result", "error", "done")

    def __init__(self, job: int, requests: list[Request], retain: bool | int):
        self.job, self.requests, self.retain = job, requests, retain
        self.result: list[list[Completion]] | None = None
        self.error: BaseException | None = None
        self.done = False


def _merge_retain(values: Sequence[bool | int]) -> bool | int:
    """The most permissive retain: True beats any int k (keep every row); else the smallest k."""
    if any(v is True for v in values):
        return True
    ints = [int(v) for v in values if v is not False and v is not None]
    return min(ints) if ints else False


class _View:
    """What one job sees: the engine, with ``generate`` routed through the gather."""

    def __init__(self, gather: Gather, job: int):
        self._gather, self._job = gather, job

    def __getattr__(self, attr):
        return getattr(self._gather.engine, attr)

    def generate(self, requests: Sequence[Request], *, progress: bool = False,
                 retain: bool | int = False) -> list[list[Completion]]:
        return self._gather._generate(self._job, list(requests), retain)


class Gather:
    def __init__(self, engine):
        self.engine = engine
        self.calls = 0              # engine.generate calls made
        self.requests = 0           # requests they held
        self.largest = 0            # the most requests in one call
        self._cv = threading.Condition()
        self._pending: list[_Call] = []
        self._running = 0           # jobs not yet finished

    def view(self, job: int) -> _View:
        return _View(self, job)

    def run(self, jobs: Sequence[Callable[[Any], Any]]) -> list[Any]:
        """Run ``job(view)`` for every job concurrently; their results in order."""
        results: list[Any] = [None] * len(jobs)
        errors: list[tuple[int, BaseException]] = []

        def worker(i: int, job: Callable) -> None:
            try:
                results[i] = job(self.view(i))
            except BaseException as e:  # noqa: BLE001 - handed to the caller of run()
                errors.append((i, e))
            finally:
                with self._cv:
                    self._running -= 1
                    self._cv.notify_all()

        with self._cv:
            self._running = len(jobs)
        threads = [threading.Thread(target=worker, args=(i, job), name=f"gather-job-{i}", daemon=True)
                   for i, job in enumerate(jobs)]
        for t in threads:
            t.start()
        while (batch := self._next_batch()) is not None:
            self._decode(batch)
        for t in threads:
            t.join()
        if errors:
            raise min(errors, key=lambda x: x[0])[1]
        return results

    # ------------------------------------------------------------------ internals
    def _generate(self, job: int, requests: list[Request], retain: bool | int) -> list[list[Completion]]:
        call = _Call(job, requests, retain)
        with self._cv:
            self._pending.append(call)
            self._cv.notify_all()
            while not call.done:
                self._cv.wait()
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    def _next_batch(self) -> list[_Call] | None:
        """In ``run``'s thread: wait until every running job is waiting in ``generate`` (their calls,
        in job order) or every job has ended (None)."""
        with self._cv:
            while not (self._pending and len(self._pending) >= self._running):
                if self._running == 0:
                    return None
                self._cv.wait(timeout=0.5)  # wakes for KeyboardInterrupt
            batch = sorted(self._pending, key=lambda c: c.job)
            self._pending = []
            return batch

    def _decode(self, batch: list[_Call]) -> None:
        """One engine call for the whole batch (every job is blocked meanwhile); wake its callers."""
        flat = [r for c in batch for r in c.requests]
        try:
            out = self.engine.generate(flat, retain=_merge_retain([c.retain for c in batch])) if flat else []
        except BaseException as e:  # noqa: BLE001 - every caller of this call sees it
            with self._cv:
                for c in batch:
                    c.error, c.done = e, True
                self._cv.notify_all()
            if not isinstance(e, Exception):  # KeyboardInterrupt, SystemExit: the run stops here
                raise
            return
        with self._cv:
            self.calls += 1 if flat else 0
            self.requests += len(flat)
            self.largest = max(self.largest, len(flat))
            start = 0
            for c in batch:
                c.result, c.done = out[start:start + len(c.requests)], True
                start += len(c.requests)
            self._cv.notify_all()
