"""dvc.yaml's dependencies cannot drift from the code: each stage depends on exactly the `z1` modules
its command imports (the import closure, lazy imports included: z1.stage_deps) and on exactly the
params sections its notebook reads. A code change DVC does not see would leave committed results
silently stale."""

from __future__ import annotations

import pytest

from z1 import stage_deps

STAGES = stage_deps.stages()
NOTEBOOK_STAGES = [name for name, s in STAGES.items() if "notebooks/" in s["cmd"]]


@pytest.mark.parametrize("name", list(STAGES))
def test_a_stage_depends_on_exactly_the_modules_it_imports(name):
    listed = sorted(str(d) for d in STAGES[name].get("deps") or [] if str(d).startswith("lib/"))
    wanted = stage_deps.code_deps(STAGES[name])
    assert listed == wanted, (f"stage {name!r}: dvc.yaml lists code deps {listed}, its imports need {wanted} "
                              "(missing: {}; unused: {}); run `python -m z1.stage_deps --write`".format(
                                  sorted(set(wanted) - set(listed)), sorted(set(listed) - set(wanted))))


@pytest.mark.parametrize("name", NOTEBOOK_STAGES)
def test_a_stage_declares_exactly_the_params_sections_its_notebook_reads(name):
    stage = STAGES[name]
    read = stage_deps.params_read(stage)
    declared = {p.split(".", 1)[1] for p in stage.get("params") or [] if isinstance(p, str) and "." in p}
    assert read == declared, (f"stage {name!r}: its notebook reads params sections {sorted(read)}, "
                              f"dvc.yaml declares {sorted(declared)}")


def test_the_closure_follows_lazy_and_relative_imports():
    """The checker itself: z1.inference reaches the engines through their package's relative imports
    and the vLLM engine through a lazy import; figures no longer import the graders."""
    files = {p.relative_to(stage_deps.LIB).as_posix() for p in stage_deps.closure({"z1.inference"})}
    assert {"z1/inference.py", "z1/generations.py", "z1/engines/gather.py", "z1/engines/base.py",
            "z1/engines/vllm.py", "z1/thinking/__init__.py", "z1/thinking/sweep.py"} <= files
    assert not any(f.startswith("z1/sft/") for f in files)
    figures = stage_deps.code_deps(STAGES["figures"])
    assert "lib/z1/evaluation.py" not in figures and "lib/z1/sandbox" not in figures


def test_the_rewrite_restores_a_drifted_dvc_yaml(tmp_path):
    """A dep removed by hand (the data stage once lacked the sandbox it runs) comes back with --write."""
    text = (stage_deps.REPO / "dvc.yaml").read_text()
    drifted = tmp_path / "dvc.yaml"
    drifted.write_text(text.replace("      - lib/z1/sandbox\n", "", 1))
    assert drifted.read_text() != text
    assert stage_deps.rewrite(drifted) == text
