"""Interactive exploration in JupyterLab: the logic behind ``notebooks/playground.ipynb`` and
``notebooks/generations_browser.ipynb`` (neither is a DVC stage).

* ``playground``: run one problem through a test-time method at several windows on a profile's
  model and split each result into thinking, the text appended at the window, and the answer.
* ``samples``: filter a profile's per-sample results, summarise a filter, and look up one sample's
  trajectory and its grader's reasons.
* ``html``: both as HTML (with ``data-*`` attributes the browser test reads).
* ``widgets``: the ipywidgets apps the two notebooks show (one call each).

Everything but ``widgets`` works without ipywidgets and is unit-tested on the fake engine.
"""
