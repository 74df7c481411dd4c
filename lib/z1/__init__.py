"""Z1 companion library: data construction, SFT, shifted-window inference, evaluation, figures.

Import the submodules you need, e.g. ``from z1 import config, thinking``.
"""

__version__ = "0.1.0"



def site_roots() -> list[str]:
    """This interpreter's site-packages directories, longest first (a nested one matches before its parent)."""
    import site

    return sorted({*site.getsitepackages(), site.getusersitepackages()}, key=len, reverse=True)


def _stage_kernel() -> None:
    """Settings for a pipeline stage's kernel (``z1.notebook`` sets ``Z1_STAGE_KERNEL=1`` for papermill;
    in JupyterLab it is unset and nothing changes). Runs when a stage notebook imports z1, before
    transformers or vLLM import tqdm.auto:

    * tqdm.auto gives text bars: an executed notebook keeps a text bar in its final state, while an
      ipywidgets bar is saved as its first frame ("0%"), papermill having no frontend to update it;
    * warnings name their file relative to the project (``lib/z1/sft/examples.py``) or to site-packages
      (``<site-packages>/vllm/...``), so committed executed notebooks carry no machine's absolute paths.
    """
    import os

    if os.environ.get("Z1_STAGE_KERNEL") != "1":
        return
    import linecache
    import warnings

    import tqdm.auto
    import tqdm.std

    tqdm.auto.tqdm = tqdm.std.tqdm
    tqdm.auto.trange = tqdm.std.trange

    cwd = os.getcwd()
    roots = site_roots()
    plain = warnings.formatwarning

    def relative(filename: str) -> str:
        for root in roots:
            if filename.startswith(root + os.sep):
                return "<site-packages>/" + os.path.relpath(filename, root)
        return os.path.relpath(filename, cwd) if filename.startswith(cwd + os.sep) else filename

    def formatwarning(message, category, filename, lineno, line=None):
        if line is None:
            line = linecache.getline(filename, lineno)
        return plain(message, category, relative(filename), lineno, line)

    warnings.formatwarning = formatwarning


_stage_kernel()
