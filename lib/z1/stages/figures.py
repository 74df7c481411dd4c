"""Stage 05, figures: every table and figure, drawn only from the results the earlier stages wrote
(``dvc.yaml``: results/<profile>/figures and results/<profile>/tables).

    result = stages.figures.run(cfg, paths)
    stages.figures.show(result.shown["scaling"])   # in a notebook: the PNGs, tables and skip notes

``result.shown`` holds, per section of notebook 05 and in its order, what that section displays:
a saved ``.png`` or ``.md`` path, or a line saying why a figure was skipped (never hidden).
``result.written`` is every file written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from z1 import examples, generations, plots, stages, tables
from z1.paths import Paths

SECTIONS = ("tables", "scaling", "controls", "paired", "difficulty", "examples", "data")


@dataclass(frozen=True)
class Figures:
    caption: str                                  # profile, main window and method, which weights each model is
    shown: dict[str, list[Path | str]] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)


def _pngs(saved: list[Path]) -> list[Path]:
    return [p for p in saved if p.suffix == ".png"]


def run(cfg: Mapping, paths: Paths) -> Figures:
    fcfg = cfg["figures"]
    profile = cfg["name"]
    main_window = int(fcfg["main_window"])
    main_method = fcfg.get("main_method", "stw")       # the method of the scaling figures
    model_methods = fcfg.get("model_methods") or {}   # e.g. paper: r1_distill runs R1-style truncation
    finetuned = stages.finetuned_model(cfg)           # the paper's Z1-7B or ours
    models = stages.models_caption(cfg)
    caption = (f"profile {profile}: main window {main_window}, main method {main_method} {model_methods or ''}; "
               f"models: {models}")
    shown: dict[str, list[Path | str]] = {s: [] for s in SECTIONS}
    written: list[Path] = []
    results = paths.results

    # the main table (with the paper's numbers beside ours) and the fine-tuned model's test-time controls
    tidy = tables.metrics_rows(json.loads((paths.metrics / "evaluation.json").read_text()))
    paper = plots.read_paper_points()
    main_rows = tables.main_method_rows(tidy, main_method, model_methods)
    saved = tables.save(tables.with_paper(tables.main_table(main_rows, main_window), paper), results / "tables",
                        "main_table", profile=profile, models=models)
    saved += tables.save(tables.main_table(tidy[tidy["model"] == finetuned], main_window), results / "tables",
                         "test_time_controls", profile=profile, models=models,
                         title=f"Test-time controls of {finetuned}")
    written += saved
    shown["tables"] = [p for p in saved if p.suffix == ".md"]

    # test-time scaling and Figure 1b: each model's main method over the windows
    curves = pd.read_csv(results / "curves" / "scaling.csv")
    main_curves = tables.main_method_rows(curves, main_method, model_methods)
    saved = plots.save(plots.test_time_scaling(main_curves, paper, profile=profile, models=models), paths.figures,
                       "test_time_scaling")
    saved += plots.save(plots.figure_1b(main_curves, paper, profile=profile, models=models, main_window=main_window),
                        paths.figures, "figure_1b", data=plots.average_curve(main_curves))  # + figure_1b.csv
    written += saved
    shown["scaling"] = _pngs(saved)

    # the four test-time controls on the fine-tuned model, where the profile runs more than one method
    controls = curves[curves["model"] == finetuned]
    if controls["method"].nunique() < 2:
        shown["controls"] = [f"{finetuned} has {controls['method'].nunique()} method(s) in curves/scaling.csv "
                             f"({sorted(controls['method'].unique())}): nothing to compare, figure skipped"]
    else:
        saved = plots.save(plots.test_time_controls(curves, paper, model=finetuned, profile=profile, models=models),
                           paths.figures, "test_time_controls")
        written += saved
        shown["controls"] = _pngs(saved)

    # every paired difference (evaluation stage's paired.csv)
    comparisons = pd.read_csv(results / "paired.csv")
    saved = plots.save(plots.paired_differences(comparisons, main_method=main_method, main_window=main_window,
                                                profile=profile, models=models),
                       paths.figures, "paired_differences",
                       data=plots.paired_rows(comparisons, main_method=main_method, main_window=main_window))
    written += saved
    shown["paired"] = _pngs(saved)

    # dynamic reasoning: thinking tokens vs difficulty, with rho and its interval (evaluation's difficulty.csv)
    samples = pd.read_csv(results / "samples.csv")
    correlations = pd.read_csv(results / "difficulty.csv")
    saved = plots.save(plots.thinking_vs_difficulty(tables.main_method_rows(samples, main_method, model_methods),
                                                    window=main_window, profile=profile, models=models,
                                                    correlations=correlations),
                       paths.figures, "thinking_vs_difficulty")
    written += saved
    shown["difficulty"] = _pngs(saved)

    # simple vs complex: the fine-tuned model's shortest and longest finished samples
    try:
        chosen = examples.pick(samples, generations.read_generations(paths.generations / finetuned), model=finetuned,
                               method=main_method, window=main_window)
    except ValueError as e:  # e.g. every sample hit the window: said, not hidden
        shown["examples"] = [f"simple vs complex skipped: {e}"]
    else:
        md = examples.save_markdown(chosen, results / "tables" / "examples.md", profile=profile, model=finetuned,
                                    window=main_window, method=main_method)
        saved = plots.save(plots.generation_examples(chosen, profile=profile, models=models), paths.figures,
                           "generation_examples")
        written += [md, *saved]
        shown["examples"] = [md, *_pngs(saved)]

    # the dataset: the data stage's figures again, then the token-matched subsets of its report
    shown["data"] = sorted((results / "data").glob("*.png"))
    data_report = json.loads((paths.metrics / "data.json").read_text())
    if "token_matched_subsets" in data_report:
        saved = plots.save(plots.token_matched_subsets(data_report["token_matched_subsets"], profile=profile,
                                                       teacher=data_report.get("teacher", "n/a")),
                           paths.figures, "token_matched_subsets")
        written += saved
        shown["data"] += _pngs(saved)
    else:
        shown["data"].append("the data report has no token_matched_subsets: figure skipped")
    return Figures(caption, shown, written)


def show(items: list[Path | str]) -> None:
    """Display one section's items in a notebook: images, markdown tables, or the printed skip notes."""
    from IPython.display import Image, Markdown, display

    for item in items:
        if isinstance(item, str):
            print(item)
        elif item.suffix == ".md":
            display(Markdown(item.read_text()))
        else:
            display(Image(filename=str(item)))
