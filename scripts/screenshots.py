"""Screenshots of the two explore notebooks in JupyterLab (headless Chromium), for the README.

    make screenshots            # the active profile (its models and generations must exist: dvc repro)

JupyterLab serves a scratch project (the notebooks copied, models/results/generations linked), so the
repository's notebooks are never autosaved with outputs. The playground runs one MATH-500 problem
on the fine-tuned model at the profile's windows; the browser opens a correct HumanEval sample of the
fine-tuned model (GPQA stays withheld). Writes results/screenshots/{playground,generations_browser}.png
and screenshots.json (profile, model, what was clicked, the code revision).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from z1 import config, provenance
from z1.explore import lab
from z1.explore.playground import problems

REPO = Path(__file__).resolve().parents[1]


def _scroll_to(driver, css: str) -> None:
    driver.execute_script(f"const e = document.querySelector({css!r}); if (e) e.scrollIntoView(true);")
    time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "screenshots")
    ap.add_argument("--model", default="sft")
    args = ap.parse_args(argv)
    profile = config.active_profile(REPO / "params.yaml")
    args.out.mkdir(parents=True, exist_ok=True)
    pick = next(label for label in problems() if label.startswith("math500"))
    with tempfile.TemporaryDirectory() as tmp:
        proj = lab.make_project(Path(tmp) / "proj", REPO)
        with lab.lab_server(proj, workdir=Path(tmp) / "jupyter", repo=REPO) as server, \
                lab.chromium(width=1400, height=1300) as driver:
            lab.open_notebook(driver, server, "notebooks/explore/playground.ipynb")
            lab.run_all(driver, server=server)
            lab.wait_for(driver, "button.jupyter-button", timeout=60, server=server, text="Generate")
            lab.select_option(driver, "model", args.model)
            lab.select_option(driver, "problem", pick)
            lab.click_button(driver, "Generate")
            cards = lab.wait_for(driver, ".z1-window", timeout=600, count=1, server=server)
            windows = [int(c.get_attribute("data-window")) for c in cards]
            _scroll_to(driver, ".jp-OutputArea-output .widget-vbox")
            driver.save_screenshot(str(args.out / "playground.png"))

            lab.open_notebook(driver, server, "notebooks/explore/generations_browser.ipynb")
            lab.run_all(driver, server=server)
            lab.wait_for(driver, ".z1-summary", timeout=120, server=server)
            lab.select_option(driver, "model", args.model)
            lab.select_option(driver, "benchmark", "humaneval")
            driver.find_element("xpath", "//button[normalize-space()='correct']").click()
            lab.wait_for(driver, ".z1-detail", timeout=120, server=server)
            _scroll_to(driver, ".jp-OutputArea-output")
            driver.save_screenshot(str(args.out / "generations_browser.png"))
    meta = {"profile": profile, "model": args.model, "playground": {"problem": pick, "method": "stw_corrected",
                                                                   "windows": windows},
            "browser": {"model": args.model, "benchmark": "humaneval", "verdict": "correct"},
            "code_revision": provenance.base(profile)["code_revision"]}
    (args.out / "screenshots.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out}/playground.png, generations_browser.png ({profile}, model {args.model})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
