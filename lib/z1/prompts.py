"""Fixed strings of the test-time-scaling methods (byte-exact; tests pin them).

Z1 (authors' code, eval/*/reasoning.py): ``HINT`` is the one actually appended in the Shifted
Thinking Window; ``HINT_BOXED`` is defined there but unused.  R1-style truncation (the paper's
baseline rows) closes the thinking span and forces the answer with "the final answer is:".
s1 budget forcing ("s1: Simple test-time scaling") suppresses the end of thinking with "Wait" and
ends thinking with "Final Answer:".
"""

HINT = "\n\nI overthought it, the final answer should be:\n\n"
HINT_BOXED = "\n\nI overthought it, the final answer in \\boxed{} should be:\n\n"

# R1-Distill baselines (paper table caption: append "the final answer is:").
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
R1_CLOSE_THINKING = "\n</think>\n\n"
R1_FORCE_ANSWER = "the final answer is:"

# s1 budget forcing.
S1_WAIT = "Wait"
S1_FINAL_ANSWER = "Final Answer:"

# GPQA / MATH system prompt of the paper's general evaluation.
BOXED_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."

__all__ = [
    "HINT", "HINT_BOXED", "THINK_OPEN", "THINK_CLOSE", "R1_CLOSE_THINKING", "R1_FORCE_ANSWER",
    "S1_WAIT", "S1_FINAL_ANSWER", "BOXED_SYSTEM_PROMPT",
]
