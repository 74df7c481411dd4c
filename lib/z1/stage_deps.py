"""Each DVC stage's code dependencies, computed from what it imports (so dvc.yaml cannot drift).

    python -m z1.stage_deps            # the code deps dvc.yaml should list, per stage; exit 1 if it differs
    python -m z1.stage_deps --write    # rewrite dvc.yaml's `lib/` deps to exactly those

A stage's code is the `z1` module its command runs (`-m z1.notebook` / `-m z1.assets`) plus, for a
notebook stage, every `z1` module the notebook imports; its code deps are the files of their import
closure in `lib/z1` (imports inside functions included, relative imports resolved). The packages
whose files run by path as well as by import (engines, benchmarks with its harness scripts, the
sandbox with its launcher scripts) are listed as directories. tests/test_dvc_deps.py checks dvc.yaml
against this, and the params sections each notebook reads against the stage's `params`.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
LIB = REPO / "lib"
PACKAGES = ("lib/z1/assets", "lib/z1/sft", "lib/z1/thinking", "lib/z1/engines", "lib/z1/benchmarks", "lib/z1/sandbox", "lib/z1/explore")
SECTIONS = ("assets", "compute", "data", "sft", "inference", "evaluation", "figures")
MARK = "      # code: the stage's import closure in lib/z1 (python -m z1.stage_deps; tests/test_dvc_deps.py)"


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
    """Every `z1` module an import anywhere in ``source`` names (``from pkg import name`` counts as
    ``pkg.name`` where that is a module); relative imports resolved against ``package``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)
    return {m for m in found if module_file(m) is not None}


def closure(roots: set[str]) -> set[Path]:
    """The files of ``roots`` and of every `z1` module they import, transitively (parent packages too)."""
    seen: set[Path] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(2, len(parts)))
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


def code_deps(stage: dict) -> list[str]:
    """The `lib/` deps a stage should list: its closure's files, the PACKAGES as directories."""
    roots, _ = stage_code(stage)
    out: list[str] = []
    for path in sorted(closure(roots)):
        rel = path.relative_to(REPO).as_posix()
        dep = next((p for p in PACKAGES if rel.startswith(p + "/")), rel)
        if dep not in out:
            out.append(dep)
    return sorted(out)


# library calls a notebook makes that read params sections on its behalf
READS = {"stages.setup(": {"compute"}, "stages.finetuned_model(": {"inference"},
         "stages.models_caption(": {"assets", "inference"}}


def _sections(source: str) -> set[str]:
    return set(re.findall(r'cfg\[\s*"(' + "|".join(SECTIONS) + r')"\s*\]', source))


def params_read(stage: dict) -> set[str]:
    """The params sections a stage's notebook reads: ``cfg["<section>"]`` in its cells, in the
    ``z1.stages.<name>`` modules it imports (``from z1.stages import sft as sft_stage``), or through
    a call in READS."""
    _, source = stage_code(stage)
    for name in re.findall(r"from z1\.stages import (\w+)", source):
        module = LIB / "z1" / "stages" / f"{name}.py"
        if module.exists():
            source += "\n" + module.read_text()
    return _sections(source).union(*(sections for call, sections in READS.items() if call in source))


def stages(dvc_yaml: Path = REPO / "dvc.yaml") -> dict:
    return yaml.safe_load(dvc_yaml.read_text())["stages"]


def rewrite(dvc_yaml: Path = REPO / "dvc.yaml") -> str:
    """dvc.yaml's text with each stage's `lib/` deps replaced by :func:`code_deps` (comments kept)."""
    wanted = {name: code_deps(s) for name, s in stages(dvc_yaml).items()}
    lines, out, stage, i = dvc_yaml.read_text().split("\n"), [], None, 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^  ([A-Za-z_][\w-]*):$", line)
        if m:
            stage = m.group(1)
        out.append(line)
        i += 1
        if line.strip() == "deps:" and stage in wanted:
            block = []
            while i < len(lines) and (lines[i].startswith("      - ") or lines[i].strip().startswith("# code:")):
                block.append(lines[i])
                i += 1
            kept = [b for b in block if b.startswith("      - ") and not b.strip()[2:].startswith("lib/")]
            notebooks = [b for b in kept if "notebooks/" in b]
            out += notebooks + [MARK] + [f"      - {d}" for d in wanted[stage]]
            out += [b for b in kept if b not in notebooks]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m z1.stage_deps", description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite dvc.yaml's code deps")
    args = ap.parse_args(argv)
    path = REPO / "dvc.yaml"
    new = rewrite(path)
    if args.write:
        path.write_text(new)
        print(f"wrote {path.relative_to(REPO)}")
        return 0
    for name, stage in stages(path).items():
        print(f"{name}: {' '.join(code_deps(stage))}")
    if new != path.read_text():
        print("dvc.yaml differs: run `python -m z1.stage_deps --write`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
