"""BigCodeBench's answer sanitiser (its sanitize.py), ported from tree-sitter to Python's ast: pull the
code out of a completion (``code_extract``: the longest run of lines that parses) and keep only what
the entry point needs (``sanitize``: imports, the definitions it reaches, module-level assignments)."""

from __future__ import annotations

import ast
import tokenize
from collections import deque

# sanitize.py, ported from tree-sitter to ast


def _parses(text: str) -> tuple[bool, int | None]:
    """(ok, line of a tokenizer error) — a tokenizer error at line k fails every longer span too."""
    try:
        ast.parse(text)
        return True, None
    except (SyntaxError, MemoryError, ValueError) as e:  # ValueError: NUL bytes (the harness would crash)
        local = isinstance(e, SyntaxError) and str(e.msg).startswith((
            "unterminated string literal", "invalid character", "invalid decimal literal",
            "invalid hexadecimal literal", "invalid octal literal", "invalid binary literal",
            "invalid non-printable character", "unexpected character after line continuation"))
        return False, (e.lineno if local else None)


_COMPOUND_STARTS = {"def", "class", "if", "for", "while", "with", "try", "async", "match", "elif", "else", "except", "finally"}
_BAD_CHARS = {"$", "?", "!", "`", "'", '"'}


def _hopeless_start(lines: list[str], first: int) -> bool:
    """True when no span starting at line ``first`` can parse.

    That holds when the first logical line there is a complete simple statement (it does not begin
    a compound statement or a decorator) that does not parse on its own: a module's first simple
    statement ends at the first NEWLINE, so more lines cannot repair it. It also holds when that
    line holds a character no Python token starts with, or an unterminated string.
    """
    rows = (lines[k] + "\n" for k in range(first, len(lines)))
    head = None
    try:
        for tok in tokenize.generate_tokens(rows.__next__):
            if tok.type == tokenize.ERRORTOKEN:
                return tok.string.strip() in _BAD_CHARS and bool(tok.string.strip())
            if tok.type in (tokenize.COMMENT, tokenize.NL):
                continue
            if tok.type == tokenize.NEWLINE:
                if head is None:
                    return False
                if (head.type == tokenize.OP and head.string == "@") or (
                        head.type == tokenize.NAME and head.string in _COMPOUND_STARTS):
                    return False
                statement = lines[first : first + tok.end[0]]
                if any(line.rstrip().endswith("\\") for line in statement):
                    return False  # backslash continuations: leave them to the parser
                return not _parses("\n".join(statement))[0]
            if head is None:
                if tok.type != tokenize.NAME and tok.type != tokenize.OP and tok.type not in (
                        tokenize.NUMBER, tokenize.STRING):
                    return False  # INDENT and the like: leave it to the parser
                head = tok
    except (tokenize.TokenError, SyntaxError):
        return False
    return False


def code_extract(text: str) -> str:
    """sanitize.py ``code_extract``: among spans lines[i..j] (j > i) that parse, the first one with
    the most non-blank lines; lines[0] if none parses.

    Same answer as the harness's exhaustive double loop, found with exact shortcuts: start lines are
    tried in order while they can still beat the best (the bound only shrinks); a span whose first
    non-blank line is indented, or whose first statement is hopeless (:func:`_hopeless_start`),
    cannot parse; for one start, the longest parsing span is searched from the end and a tokenizer
    error at line k rules out every span through k.
    """
    lines = text.split("\n")
    n = len(lines)
    nonblank = [0]
    for line in lines:
        nonblank.append(nonblank[-1] + (1 if line.strip() else 0))
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    joined = "\n".join(lines)
    best, best_i, best_j = 0, 0, 0
    for i in range(n - 1):
        if nonblank[n] - nonblank[i] <= best:
            break
        first = next((k for k in range(i, n) if lines[k].strip()), None)
        if first is None:
            break
        head = lines[first]
        # (a comment line parses on its own, so the shortcuts only apply when the span starts with code)
        if not head.lstrip().startswith("#") and (head[:1] in (" ", "\t") or _hopeless_start(lines, first)):
            continue
        j = n - 1
        while j > i and nonblank[j + 1] - nonblank[i] > best:
            ok, bad_line = _parses(joined[starts[i] : starts[j + 1] - 1])
            if ok:
                count = nonblank[j + 1] - nonblank[i]
                # the harness keeps the first j with this count that parses (they differ by blank lines)
                lo = max(i + 1, next(k for k in range(i, j + 1) if nonblank[k + 1] - nonblank[i] == count))
                lo = next(k for k in range(lo, j + 1) if k == j or _parses(joined[starts[i] : starts[k + 1] - 1])[0])
                best, best_i, best_j = count, i, lo
                break
            j = min(j - 1, i + bad_line - 2) if bad_line else j - 1
    return "\n".join(lines[best_i : best_j + 1])


def _identifiers(node: ast.AST) -> set[str]:
    """Every identifier in a definition (tree-sitter's ``identifier`` nodes, as ast spells them)."""
    out: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            out.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            out.add(sub.attr)
        elif isinstance(sub, ast.arg):
            out.add(sub.arg)
        elif isinstance(sub, ast.keyword) and sub.arg:
            out.add(sub.arg)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(sub.name)
        elif isinstance(sub, ast.alias):
            out.update(sub.name.split("."))
            if sub.asname:
                out.add(sub.asname)
        elif isinstance(sub, ast.ImportFrom) and sub.module:
            out.update(sub.module.split("."))
        elif isinstance(sub, (ast.Global, ast.Nonlocal)):
            out.update(sub.names)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            out.add(sub.name)
        elif isinstance(sub, (ast.MatchAs, ast.MatchStar)) and sub.name:
            out.add(sub.name)
    return out


def _assignment_name(stmt: ast.Assign | ast.AnnAssign) -> str | None:
    """sanitize.py's ``get_definition_name`` on tree-sitter's ``assignment``: its first direct
    ``identifier`` child, i.e. the target when it is a bare name, else a bare-name right-hand side
    (``x.y = z`` is "z"), else none."""
    target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
    if isinstance(target, ast.Name):
        return target.id
    chained = isinstance(stmt, ast.Assign) and len(stmt.targets) > 1
    if not chained and isinstance(stmt.value, ast.Name):
        return stmt.value.id
    return None


def sanitize(code: str, entrypoint: str | None = None) -> str:
    """sanitize.py ``sanitize`` as in the authors' copy (see the module docstring, step 3)."""
    code = code_extract(code.strip())
    try:
        tree = ast.parse(code)
    except (SyntaxError, MemoryError, ValueError):
        return ""  # nothing parses: tree-sitter would recover fragments (approximation)
    raw = code.encode("utf-8")
    line_start = [0]
    for line in raw.split(b"\n"):
        line_start.append(line_start[-1] + len(line) + 1)

    raw_lines = raw.split(b"\n")

    def text(node: ast.AST) -> bytes:
        end = line_start[node.end_lineno - 1] + node.end_col_offset
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # tree-sitter's block also takes the comment lines that follow at the body's indentation
            indent = node.body[0].col_offset
            for k in range(node.end_lineno, len(raw_lines)):
                line = raw_lines[k]
                if not line.strip():
                    continue
                if line.lstrip().startswith(b"#") and len(line) - len(line.lstrip()) >= indent:
                    end = line_start[k] + len(line.rstrip())
                    continue
                break
        return raw[line_start[node.lineno - 1] + node.col_offset : end]

    imports: list[ast.stmt] = []
    definitions: list[tuple[str, ast.stmt]] = []
    seen: set[str] = set()
    for stmt in tree.body:
        name = None
        if isinstance(stmt, ast.Import) or (isinstance(stmt, ast.ImportFrom) and not (stmt.module == "__future__" and not stmt.level)):
            imports.append(stmt)
            continue
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not stmt.decorator_list:
            name = stmt.name
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            name = _assignment_name(stmt)
        if name is not None and name not in seen:
            definitions.append((name, stmt))
            seen.add(name)

    reachable: set[str] | None = None
    if entrypoint:
        deps = {name: _identifiers(stmt) for name, stmt in definitions}
        reachable, queue = {entrypoint}, deque([entrypoint])
        while queue:
            for dep in deps.get(queue.popleft(), ()):
                if dep not in reachable:
                    reachable.add(dep)
                    queue.append(dep)
    out = b"".join(text(s) + b"\n" for s in imports)
    out += b"".join(text(s) + b"\n" for name, s in definitions if reachable is None or name in reachable)
    result = out[:-1].decode("utf-8")

    lines = result.splitlines()
    cut = None
    for k in range(len(lines) - 1, -1, -1):
        if lines[k].startswith(" "):
            break
        if entrypoint and entrypoint in lines[k]:
            cut = k
    return "\n".join(lines[:cut]) if cut is not None else result
