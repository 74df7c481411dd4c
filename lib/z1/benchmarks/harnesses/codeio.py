"""The CodeI/O checker: the row's reference ``main_solution`` against the candidate's on generated
inputs, run as ``main.py`` in :mod:`z1.sandbox` by :mod:`z1.benchmarks.codeio`, whose docstring gives
the rules. Standard library only (numpy is used when present); it must not import z1.

stdin: one JSON object, read once at the start (afterwards stdin is at end of file, as the empty
stdin the program had when its parameters were part of its text):

    reference   the row's ``code_sample`` (defines ``main_solution``)
    candidate   the extracted answer (defines ``main_solution``)
    generator   the row's ``input_generator`` (defines ``generate_inputs(rng)``)
    n_inputs    how many inputs to generate, int
    seed        the seed of the generator's ``random.Random`` and of each call's global RNG state, int

stdout: the last line is one JSON object (cut to 4000 characters), ``{"passed": true, "n_inputs": n,
"reference_nondeterministic": bool}`` or ``{"passed": false, "error": ..., ...}``; exit status 0 iff
passed (``sys.exit``).
"""

import copy
import json
import math
import random
import sys

GEN_HEADER = "import json, math, string, itertools, collections, random\nfrom random import Random\n"


def _result_line(ok, **kw):
    return json.dumps({"passed": ok, **kw}, default=str)[:4000]


def _report(ok, **kw):
    sys.stdout.write(_result_line(ok, **kw) + "\n")
    sys.stdout.flush()
    sys.exit(0 if ok else 1)


def _load(src, name, what):
    ns = {"__name__": f"__z1_{what}__"}
    try:
        exec(compile(src, f"<{what}>", "exec"), ns)
        return ns[name]
    except BaseException as e:
        _report(False, error=f"{what}: {e!r}")


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (set, frozenset)):
        return sorted((_plain(v) for v in x), key=repr)
    if hasattr(x, "tolist"):
        return _plain(x.tolist())
    if hasattr(x, "item") and callable(x.item):
        return x.item()
    return x


def _norm(x):
    """A result as JSON would carry it: tuples -> lists, sets -> sorted lists, numpy -> Python, keys -> str."""
    return json.loads(json.dumps(_plain(x), default=str))


def _same(a, b):
    """Equality of normalised results; floats with rel 1e-6 / abs 1e-9, NaN equals NaN, bools only bools."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) or isinstance(b, float):
            if math.isnan(a) and math.isnan(b):
                return True
            return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=False))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _call(fn, args, seed):
    # the same global RNG state for reference and candidate (many references use `random`)
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % 2**32)
    args = copy.deepcopy(args)
    return fn(**args) if isinstance(args, dict) else fn(args)


def main():
    params = json.loads(sys.stdin.buffer.read())
    n_inputs, seed = params["n_inputs"], params["seed"]
    gen_header = GEN_HEADER
    try:
        import numpy  # noqa: F401

        gen_header += "import numpy as np\n"
    except ImportError:
        pass
    generate = _load(gen_header + params["generator"], "generate_inputs", "generator")
    reference = _load(params["reference"], "main_solution", "reference")
    candidate = _load(params["candidate"], "main_solution", "candidate")
    rng = random.Random(seed)
    nondeterministic = False
    for i in range(n_inputs):
        call_seed = seed * 1000003 + i
        try:
            args = generate(rng)
            want = _norm(_call(reference, args, call_seed))
            # a second reference run under another RNG state flags references whose output depends on it
            nondeterministic = nondeterministic or not _same(want, _norm(_call(reference, args, call_seed + 7919)))
        except BaseException as e:
            _report(False, error=f"reference: {e!r}", reference_error=True, input_index=i)
        try:
            got = _norm(_call(candidate, args, call_seed))
        except BaseException as e:
            _report(False, error=f"candidate: {e!r}", input_index=i, reference_nondeterministic=nondeterministic)
        if not _same(want, got):
            _report(False, error="mismatch", input_index=i, expected=repr(want)[:300], got=repr(got)[:300],
                    reference_nondeterministic=nondeterministic)
    _report(True, n_inputs=n_inputs, reference_nondeterministic=nondeterministic)


if __name__ == "__main__":
    main()
