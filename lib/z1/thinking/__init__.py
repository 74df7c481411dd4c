"""Test-time methods as pure functions over an engine: one ``ThinkingRecord`` per sample.

Shifted Thinking Window (Z1, paper-notes §4)
--------------------------------------------
``shifted_thinking_window(engine, prompts, window=W, max_tokens=M, mode=...)``

* ``mode="paper"`` reproduces the authors' code (eval/*/reasoning.py) exactly:
  pass 1 with ``max_tokens=W`` (W is not clamped to M); only ``finish_reason == "length"`` triggers
  pass 2, whose prompt is the *text* ``prompt + pass-1 text + hint`` tokenised again and generated
  with the full M; the output kept for a capped sample is the pass-2 text only; with n > 1 the
  first sample (``outputs[0]``) decides for all: if it finished, every sibling keeps its pass-1
  text (capped siblings are graded on cut-off thinking); if it was capped, the n pass-2 samples all
  continue sample 0's thinking.  Stop strings also end pass 1.
* ``mode="corrected"`` (default): each sample decides for itself; the caller's settings are never
  touched (all settings objects are frozen here anyway; the authors' in-place mutation of
  SamplingParams has no counterpart); pass 2 is fed as token ids ``prompt ids + pass-1 ids + hint
  ids`` (no re-tokenisation drift) and gets only the remaining budget ``M - W``; W is clamped to M
  (recorded); stop strings do not end the thinking window unless ``stop_ends_window=True`` (they
  still end the pass-2 answer; the text of a sample that finished in pass 1 is left as generated,
  since thinking and answer cannot be told apart there: the benchmark's sanitiser trims it); stop
  token ids always end pass 1; the trajectory is thinking + hint + answer; the answer part is
  graded.  If W == M there is no budget left for an answer: a capped sample gets answer "" (noted).

One pass (``one_pass=True``, corrected mode): instead of two engine calls the engine forces the hint
ids after W generated tokens and decodes the answer in the same sequence (``Request.force_ids``: a
logits processor on vLLM, a forced pick on transformers).  The records are the two-pass records
(same token ids, texts, finish reasons; tests on both engines), without a pass-2 prefill or a
barrier between the passes; each sample hits its own window under sampling.  It needs no stop
strings (the engine would match them across thinking, hint and answer).

Every difference is one field of ``STWOptions``; ``PAPER`` and ``CORRECTED`` are the two presets and
any field can be flipped by keyword (``shifted_thinking_window(..., mode="paper", per_sample=True)``).

Thinking tokens
---------------
``thinking_tokens`` is the paper's count: ``len(pass-1 token_ids)``, i.e. W for a capped sample and
the whole response, answer included, with its EOS / stop token (and a matched stop string's tokens),
for a sample that finished.  Hint and pass-2 tokens are not counted.  ``thinking_tokens_only``
removes the answer part where it can be separated: for a finished sample whose pass-1 text contains
``</think>`` (R1-style models), the tokens up to and including the one that completes ``</think>``;
for Z1-style outputs (no delimiters) the thinking and the answer cannot be told apart, so it equals
``thinking_tokens``.  For the R1 and s1 methods it counts the thinking span (forced strings included)
and excludes the answer.

Window sweeps
-------------
The sweep protocol: a method whose first engine call can be shared across windows has a
``first_round`` attribute (``common.FirstRound``: that call's requests at a window, the window after
the method's clamping, the ``retain`` hint) and accepts ``pass1=`` (that call's completions, given).
The Shifted Thinking Window, R1 truncation and s1 budget forcing have one; ``window_sweep`` knows no
method by name.

``window_sweep(engine, prompts, windows, function=..., max_tokens=M)`` runs a method at several
windows.  Under greedy decoding (``shared=True``, more than one window) the Shifted Thinking Window,
R1 truncation and s1 budget forcing generate their first round ONCE, at the largest window (clamped
to M), with the method's own first request (STW: stop strings only when they end the window; R1:
stop at ``</think>``; s1: stop at ``end_of_thinking``; stop ids for all), and derive the first round
of every smaller window w from it: a sample that finished (EOS / stop id / stop string) within w
tokens is unchanged, any other is cut to its first w ids with finish "length".  This is exact:
greedy decoding is deterministic, so the first w tokens of a run with a larger cap are the run
with cap w, and stop conditions are prefix-closed (a stop that fired within w tokens ended the
long run there; one that did not fire in the long run's first w tokens cannot fire in the run
capped at w).  The rest of each method (STW / R1 pass 2; s1's "Wait" rounds, which depend on w, and
its answer) runs per window, given the derived first round (``pass1=`` for R1 and s1), and reuses
the shared thinking through the prefix cache / KV store.  Sampled sweeps run every window
independently.

Prompts
-------
``prompts`` is a list whose items are token-id sequences (the normal case, from
``engine.encode_chat``), chat message lists (encoded with ``engine.encode_chat``), or raw strings
(tokenised like vLLM does for a text prompt, special tokens added).  Paper mode rebuilds the pass-2
prompt as text: a string prompt is used as given, an id prompt is decoded with its special tokens.
"""

from __future__ import annotations

from collections.abc import Callable

from z1.prompts import HINT  # noqa: F401 - re-exported: z1.thinking.HINT
from z1.thinking.baselines import budget_forcing, r1_truncation
from z1.thinking.common import (
    CORRECTED,
    GREEDY,
    PAPER,
    STWOptions,
    ThinkingRecord,
    stw_options,
)
from z1.thinking.stw import check_one_pass, no_cap, resolve_hint, shifted_thinking_window
from z1.thinking.sweep import window_sweep

__all__ = [
    "STWOptions", "PAPER", "CORRECTED", "ThinkingRecord", "shifted_thinking_window", "no_cap",
    "r1_truncation", "budget_forcing", "window_sweep", "METHODS", "GREEDY", "stw_options", "resolve_hint",
    "check_one_pass",
]


METHODS: dict[str, Callable[..., list[ThinkingRecord]]] = {
    "shifted_thinking_window": shifted_thinking_window,
    "no_cap": no_cap,
    "r1_truncation": r1_truncation,
    "budget_forcing": budget_forcing,
}
