"""Z1 companion library: data construction, SFT, shifted-window inference, evaluation, figures.

Import the submodules you need, e.g. ``from z1 import config, thinking``.
"""

__version__ = "0.1.0"


def _text_progress_bars() -> None:
    """Under a pipeline stage (``z1.notebook`` sets ``Z1_PROGRESS=text`` for the papermill kernel),
    tqdm.auto gives text bars: an executed notebook keeps a text bar in its final state, while an
    ipywidgets bar is saved as its first frame ("0%"), papermill having no frontend to update it.
    In JupyterLab the variable is unset and bars are widgets. Runs before transformers / vLLM import
    tqdm.auto, since every stage notebook imports z1 first."""
    import os

    if os.environ.get("Z1_PROGRESS") == "text":
        import tqdm.auto
        import tqdm.std

        tqdm.auto.tqdm = tqdm.std.tqdm
        tqdm.auto.trange = tqdm.std.trange


_text_progress_bars()
