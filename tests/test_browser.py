"""The two explore notebooks in a real browser: `make lab` serves a scratch project (profile `ci`),
headless Chromium (Debian's chromium + chromium-driver, through selenium) opens each notebook, runs
it with JupyterLab's own "run all cells" command and uses the widgets like a person would.

Playground: pick a MATH-500 problem, Generate at the profile's windows, change W by typing, Generate
again; every card's window, thinking-token count, window-hit flag and answer text must equal what
the same request gives in this process (greedy decoding on the same model, same thread count).
Browser: the committed `mini` per-sample table (copied in as the scratch project's results), its
summary, a filter that changes it, and the note that trajectories are not on disk."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from z1.explore import lab

pytestmark = pytest.mark.slow

if lab.chromium_paths() is None:
    pytest.skip("Chromium is not installed: `make setup` installs Debian's chromium + chromium-driver where it runs "
                "as root with apt-get (or: apt-get install chromium chromium-driver)", allow_module_level=True)
if shutil.which("make") is None:
    pytest.skip("`make lab` needs make", allow_module_level=True)


@pytest.fixture
def project(tmp_path, repo_root, ci_model_dir):
    """A scratch project: profile ci active, the ci models linked, mini's samples.csv as its results."""
    proj = lab.make_project(tmp_path / "proj", repo_root, profile="ci", links=("models",))
    (proj / "results" / "ci").mkdir(parents=True)
    shutil.copy2(repo_root / "results" / "mini" / "samples.csv", proj / "results" / "ci" / "samples.csv")
    return proj


def _cards(driver) -> list[dict]:
    out = []
    for card in driver.find_elements("css selector", ".z1-window"):
        out.append({"window": int(card.get_attribute("data-window")),
                    "thinking_tokens": int(card.get_attribute("data-thinking-tokens")),
                    "window_hit": card.get_attribute("data-window-hit") == "true",
                    "tokens_shown": card.find_element("css selector", ".z1-tokens").text,
                    "answer": card.find_element("css selector", ".z1-answer").get_attribute("textContent")})
    return out


def _expected(results) -> list[dict]:
    return [{"window": r.window, "thinking_tokens": r.thinking_tokens, "window_hit": r.window_hit,
             "tokens_shown": str(r.thinking_tokens), "answer": r.answer or "(empty)"} for r in results]


def test_playground_and_browser_in_jupyterlab(project, tmp_path, repo_root):
    from z1.explore.playground import Playground, problems, question_of

    pick = next(label for label in problems() if label.startswith("math500"))
    problem = problems()[pick]
    with lab.lab_server(project, workdir=tmp_path / "jupyter", repo=repo_root) as server, lab.chromium() as driver:
        try:
            lab.open_notebook(driver, server, "notebooks/explore/playground.ipynb")
            lab.run_all(driver, server=server)
            lab.wait_for(driver, "button.jupyter-button", timeout=180, server=server, text="Generate")
            lab.select_option(driver, "problem", pick)
            lab.click_button(driver, "Generate")
            first = lab.wait_for(driver, ".z1-window", timeout=180, count=2, server=server)
            assert [int(c.get_attribute("data-window")) for c in first] == [16, 32]  # ci's windows
            lab.set_text(driver, "windows W", "8, 24")
            lab.click_button(driver, "Generate")
            lab.wait_for(driver, '.z1-window[data-window="24"]', timeout=180, server=server)
            shown = _cards(driver)
            status = " ".join(e.text for e in driver.find_elements("css selector", ".widget-html-content"))
            driver.save_screenshot(str(tmp_path / "playground.png"))

            lab.open_notebook(driver, server, "notebooks/explore/generations_browser.ipynb")
            lab.run_all(driver, server=server)
            # on its own: the playground's kernel is shut down, its notebook not restored next to this one
            assert [s["path"] for s in lab.sessions(server)] == ["notebooks/explore/generations_browser.ipynb"]
            table = lab.wait_for(driver, ".z1-summary", timeout=180, server=server)[0]
            samples = pd.read_csv(project / "results" / "ci" / "samples.csv")
            assert int(table.get_attribute("data-samples")) == len(samples)
            assert float(table.get_attribute("data-pass1")) == pytest.approx(samples["correct"].mean(), abs=1e-4)
            lab.select_option(driver, "benchmark", "math500")
            math = samples[samples["benchmark"] == "math500"]
            lab.wait_for(driver, f'.z1-summary[data-samples="{len(math)}"]', timeout=30, server=server)
            lab.wait_for(driver, ".z1-missing", timeout=30, server=server, text="dvc repro")
            driver.save_screenshot(str(tmp_path / "browser.png"))
        except Exception:
            driver.save_screenshot(str(tmp_path / "failure.png"))
            raise

    # the same request in this process: the page shows exactly what the library computes
    pg = Playground.for_profile("ci", root=project, params_path=project / "params.yaml")
    expected = pg.run("base", question_of(problem), windows=[8, 24], problem=problem)
    pg.close()
    assert shown == _expected(expected)
    assert "graded by its benchmark's grader" in status

