"""dvc.yaml's dependencies cannot drift from the code: each stage depends on exactly the `z1` modules
its command imports (the import closure, lazy imports included) and on exactly the params sections
its notebook reads. A code change DVC does not see would leave committed results silently stale."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "lib"
SECTIONS = ("assets", "compute", "data", "sft", "inference", "evaluation", "figures")
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def module_file(name: str) -> Path | None:
    """lib/z1/a/b.py or lib/z1/a/b/__init__.py for `z1.a.b`; None outside `z1`."""
    if name != "z1" and not name.startswith("z1."):
        return None
    base = LIB.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(source: str, package: str) -> set[str]:
    """Every module an `import` / `from ... import` names anywhere in `source` (functions included),
    `from pkg import name` counted as `pkg.name` where that is a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)
    return {m for m in found if module_file(m) is not None}


def closure(roots: set[str]) -> set[Path]:
    """The files of `roots` and of every `z1` module they import, transitively (parent packages too)."""
    seen: set[Path] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) != "z1")
        path = module_file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        todo.extend(imported_modules(path.read_text(), package))
    return seen - {LIB / "z1" / "__init__.py"}


def notebook_source(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def stage_code(stage: dict) -> tuple[set[str], str]:
    """The `z1` modules a stage's command runs, and the notebook source it executes ("" for a script)."""
    cmd = stage["cmd"]
    entry = re.search(r"-m (z1[\w.]*)", cmd).group(1)
    nb = re.search(r"(notebooks/\S+\.ipynb)", cmd)
    if not nb:
        return {entry}, ""
    source = notebook_source(REPO / nb.group(1))
    return {entry} | imported_modules(source, ""), source


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(REPO).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


NOTEBOOK_STAGES = [name for name, s in STAGES.items() if "notebooks/" in s["cmd"]]


@pytest.mark.parametrize("name", list(STAGES))
def test_a_stage_depends_on_every_module_it_imports_and_no_other(name):
    stage = STAGES[name]
    roots, _ = stage_code(stage)
    files = closure(roots)
    deps = [str(d) for d in stage.get("deps") or []]
    missing = sorted(p.relative_to(REPO).as_posix() for p in files if not covered(p, deps))
    assert not missing, f"stage {name!r} imports these modules but dvc.yaml does not list them as deps: {missing}"
    code_deps = [d for d in deps if d.startswith("lib/")]
    unused = [d for d in code_deps if not any(covered(p, [d]) for p in files)]
    assert not unused, f"stage {name!r} lists deps it never imports: {unused}"


@pytest.mark.parametrize("name", NOTEBOOK_STAGES)
def test_a_stage_declares_exactly_the_params_sections_its_notebook_reads(name):
    stage = STAGES[name]
    _, source = stage_code(stage)
    read = set(re.findall(r'cfg\[\s*"(' + "|".join(SECTIONS) + r')"\s*\]', source))
    declared = {p.split(".", 1)[1] for p in stage.get("params") or [] if isinstance(p, str) and "." in p}
    assert read == declared, (f"stage {name!r}: its notebook reads params sections {sorted(read)}, "
                              f"dvc.yaml declares {sorted(declared)}")


def test_the_closure_follows_lazy_and_relative_imports():
    """The checker itself: z1.inference reaches the vLLM engine through a lazy import in a function,
    and the engines package's relative imports."""
    files = {p.relative_to(LIB).as_posix() for p in closure({"z1.inference"})}
    assert {"z1/inference.py", "z1/generations.py", "z1/engines/gather.py", "z1/engines/base.py",
            "z1/thinking.py"} <= files
    assert "z1/sft.py" not in files
