"""The two ipywidgets apps (one call per notebook). All logic is in ``playground``, ``samples`` and
``html``; this module only wires widgets to it. Each app keeps its widgets as attributes, so tests
(and users) can drive it from code: set values, then ``app.generate()`` / ``app.refresh()``."""

from __future__ import annotations

import time
from pathlib import Path

import ipywidgets as w

from z1.explore import html
from z1.explore.playground import METHOD_LABELS, METHODS, Playground, problems, question_of
from z1.explore.samples import BrowserError, SampleTable, summary
from z1.paths import project_root

OWN = "(your own question)"
ANY = "any"


class PlaygroundApp:
    """Model, problem (or your own question), method, windows and max tokens; Generate runs one sweep."""

    def __init__(self, pg: Playground, *, picks: dict | None = None, windows: str | None = None):
        self.pg = pg
        self.picks = problems() if picks is None else dict(picks)
        self.model = w.Dropdown(options=list(pg.model_dirs), description="model")
        self.problem = w.Dropdown(options=[OWN, *self.picks], description="problem", layout=w.Layout(width="60%"))
        self.question = w.Textarea(placeholder="Type a question, or pick a problem above", description="question",
                                   layout=w.Layout(width="95%", height="140px"))
        self.method = w.Dropdown(options=[(METHOD_LABELS[k], k) for k in METHODS], description="method",
                                 layout=w.Layout(width="60%"))
        self.windows = w.Text(value=windows or ", ".join(map(str, pg.windows)), description="windows W", placeholder="e.g. 16, 32, 64")
        self.max_tokens = w.BoundedIntText(value=pg.max_tokens, min=1, max=32768, description="max tokens")
        self.button = w.Button(description="Generate", button_style="primary", icon="play")
        self.status = w.HTML()
        self.log = w.Output()  # the engine's progress bars
        self.output = w.HTML()
        self.problem.observe(self._on_problem, names="value")
        self.button.on_click(lambda _: self.generate())
        self.widget = w.VBox([w.HBox([self.model, self.method]), self.problem, self.question,
                              w.HBox([self.windows, self.max_tokens, self.button]), self.status, self.log, self.output])

    def _on_problem(self, change) -> None:
        if change["new"] in self.picks:
            self.question.value = question_of(self.picks[change["new"]])

    def _problem(self):
        """The picked problem when its question is unchanged (then the answer is graded), else None."""
        p = self.picks.get(self.problem.value)
        return p if p is not None and self.question.value == question_of(p) else None

    def generate(self) -> None:
        model, problem = self.model.value, self._problem()
        self.button.disabled = True
        self.output.value = ""
        t0 = time.perf_counter()
        try:
            if model not in self.pg.engines:
                self.status.value = f"loading model <b>{model}</b> …"
                self.pg.engine(model)
            self.status.value = f"generating with <b>{model}</b>, W = {self.windows.value} …"
            self.log.clear_output()
            outcome: dict = {}
            with self.log:  # the engine's progress bars show here (an Output swallows exceptions: keep them)
                try:
                    outcome["results"] = self.pg.run(model, self.question.value, method=self.method.value,
                                                     windows=self.windows.value, max_tokens=self.max_tokens.value,
                                                     problem=problem, progress=True)
                except Exception as e:  # shown below, whatever it is
                    outcome["error"] = e
            if "error" in outcome:
                raise outcome["error"]
            results = outcome["results"]
            self.log.clear_output()
            self.output.value = html.sweep_html(results, model=model)
            graded = "graded by its benchmark's grader" if problem is not None else \
                "not graded (your own or an edited question)"
            self.status.value = f"done in {time.perf_counter() - t0:.1f} s · {graded}"
        except Exception as e:  # an app shows every error (missing model, bad input) and stays usable
            self.status.value = ""
            self.output.value = html.error_html(f"{type(e).__name__}: {e}")
        finally:
            self.button.disabled = False

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


class BrowserApp:
    """Filters over a profile's samples, a list of the matching samples, their summary, and one sample."""

    def __init__(self, table: SampleTable):
        self.table = table
        s = table.samples

        def choice(column: str, label: str):
            return w.Dropdown(options=[ANY, *table.options(column)], description=label)

        self.model, self.benchmark = choice("model", "model"), choice("benchmark", "benchmark")
        self.method, self.window = choice("method", "method"), choice("window", "window")
        small = {"button_width": "70px"}
        self.correct = w.ToggleButtons(options=[ANY, "correct", "wrong"], description="verdict", style=small)
        self.window_hit = w.ToggleButtons(options=[ANY, "hit", "not hit"], description="window", style=small)
        self.show_restricted = w.Checkbox(value=False, description="show GPQA text (on your screen only)",
                                          style={"description_width": "initial"}, layout=w.Layout(width="auto"))
        self.samples = w.Select(options=[], rows=12, layout=w.Layout(width="95%"))
        self.samples.add_class("z1-mono")  # aligned columns (html.STYLE)
        self.summary = w.HTML()
        self.detail = w.HTML()
        note = "" if table.has_generations else \
            ("<i>Trajectories are not on disk: only verdicts and token counts can be shown. Run `dvc repro` on "
             f"profile {table.profile} (or `dvc pull` from a configured remote) to read them.</i>")
        self.note = w.HTML(html.STYLE + note)
        for c in (self.model, self.benchmark, self.method, self.window, self.correct, self.window_hit):
            c.observe(lambda _: self.refresh(), names="value")
        self.samples.observe(lambda _: self.open(), names="value")
        self.show_restricted.observe(lambda _: self.open(), names="value")
        self.widget = w.VBox([self.note, w.HBox([self.model, self.benchmark]), w.HBox([self.method, self.window]),
                              w.HBox([self.correct, self.window_hit]), self.summary, self.samples, self.show_restricted,
                              self.detail])
        self._rows = s.iloc[0:0]
        self.refresh()

    def criteria(self) -> dict:
        def value(c):
            return None if c.value == ANY else c.value

        flag = {ANY: None, "correct": True, "wrong": False, "hit": True, "not hit": False}
        return {"model": value(self.model), "benchmark": value(self.benchmark), "method": value(self.method),
                "window": value(self.window), "correct": flag[self.correct.value],
                "window_hit": flag[self.window_hit.value]}

    def refresh(self) -> None:
        self._rows = self.table.filter(**self.criteria())
        self.summary.value = html.summary_html(summary(self._rows), profile=self.table.profile)
        self.samples.options = [(self._label(r), i) for i, r in self._rows.iterrows()]
        if len(self._rows):
            self.samples.value = self._rows.index[0]
        self.open()

    @staticmethod
    def _label(r) -> str:
        mark = "✓" if bool(r["correct"]) else "✗"
        hit = "hit" if bool(r["window_hit"]) else "   "
        return (f"{mark} {r['model']:<6} {r['benchmark']:<13} {str(r['problem_id'])[:40]:<40} {r['method']:<10} "
                f"W={int(r['window']):<5} {int(r['thinking_tokens']):>5} tok {hit}")

    def open(self) -> None:
        if self.samples.value is None or self.samples.value not in self._rows.index:
            self.detail.value = ""
            return
        row = self._rows.loc[self.samples.value]
        try:
            self.detail.value = html.detail_html(self.table.detail(row, show_restricted=self.show_restricted.value))
        except (BrowserError, ValueError) as e:
            self.detail.value = html.error_html(f"{type(e).__name__}: {e}")

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def playground(profile: str | None = None, *, backend: str = "transformers", root: Path | None = None) -> PlaygroundApp:
    """The playground on a profile's models (default: the active profile of the project's params.yaml;
    the project is found from the working directory upwards)."""
    root = project_root(root)
    return PlaygroundApp(Playground.for_profile(profile, backend=backend, root=root, params_path=root / "params.yaml"))


def browser(profile: str | None = None, *, root: Path | None = None) -> BrowserApp:
    """The generations browser on a profile's results (default: the active profile)."""
    from z1 import config

    root = project_root(root)
    return BrowserApp(SampleTable.load(profile or config.active_profile(root / "params.yaml"), root=root))
