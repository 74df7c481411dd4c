"""Run one measurement in a fresh spawned process, so its peak RSS and torch state are its own."""

from __future__ import annotations

import multiprocessing as mp


def run_isolated(target, *args):
    """``target(*args, queue)`` in a spawned process; returns the one object it puts on ``queue``."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result
