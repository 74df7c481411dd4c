"""Drive JupyterLab in a real browser: ``make lab`` (the project's command) and headless Chromium
(Debian's ``chromium`` + ``chromium-driver``, through selenium). Used by the browser test and by
``scripts/screenshots.py``; both need nothing from outside the registries.

    with lab_server(project_dir, workdir=tmp) as server, chromium() as driver:
        open_notebook(driver, server, "notebooks/explore/playground.ipynb")
        run_all(driver)
        wait_for(driver, ".z1-window", timeout=120)

The server is started with ``LabApp.expose_app_in_browser`` so the page can run JupyterLab commands
(``window.jupyterapp.commands``: run all cells, close the document) instead of clicking menus.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 60


class LabError(RuntimeError):
    """JupyterLab or the browser did not do what was asked in time; the message holds the server log tail."""


def make_project(dst: Path, repo: Path, *, profile: str | None = None,
                 links: tuple[str, ...] = ("models", "results", "generations")) -> Path:
    """A scratch project for JupyterLab to serve: the explore notebooks copied (Lab autosaves outputs
    into them, which must not touch the repository's), ``params.yaml`` copied with ``profile``
    active, and ``dvc.yaml`` plus ``links`` (where they exist) as symlinks into ``repo``."""
    from z1 import config

    dst = Path(dst)
    (dst / "notebooks" / "explore").mkdir(parents=True, exist_ok=True)
    for nb in sorted((repo / "notebooks" / "explore").glob("*.ipynb")):
        shutil.copy2(nb, dst / "notebooks" / "explore" / nb.name)
    shutil.copy2(repo / "params.yaml", dst / "params.yaml")
    if profile:
        config.set_profile(profile, dst / "params.yaml")
    for name in ("dvc.yaml", *links):
        if (repo / name).exists():
            (dst / name).symlink_to((repo / name).resolve())
    return dst


def chromium_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver) executables, or None where they are not installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@dataclass(frozen=True)
class LabServer:
    url: str
    token: str
    log: Path
    port: int
    proc: subprocess.Popen  # `make lab` (its own process group: the server and its kernels)

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


def _wait_for_server(runtime: Path, proc: subprocess.Popen, log: Path) -> dict:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"make lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        for path in runtime.glob("jpserver-*.json"):
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:  # still being written
                pass
        time.sleep(0.2)
    raise LabError(f"no JupyterLab server after {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


@contextmanager
def lab_server(root_dir: Path, *, workdir: Path, repo: Path, expose_app: bool = True) -> Iterator[LabServer]:
    """``make lab`` of ``repo`` serving ``root_dir`` on 127.0.0.1 (a free port, a fresh token), with
    Jupyter's config, data and runtime directories under ``workdir`` (the user's stay untouched).
    The server and its kernels are one process group, terminated on exit whatever happened."""
    token = secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(workdir / "config"), "JUPYTER_DATA_DIR": str(workdir / "data"),
           "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"), "IPYTHONDIR": str(workdir / "ipython"),
           "JUPYTER_PLATFORM_DIRS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    (workdir / "runtime").mkdir(parents=True, exist_ok=True)
    news = workdir / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True, exist_ok=True)  # no "get notified about Jupyter news?" pop-up over the page
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    log = workdir / "lab.log"
    args = (f"--port=0 --ServerApp.port_retries=0 --IdentityProvider.token={token} "
            + (" --LabApp.expose_app_in_browser=True" if expose_app else ""))
    with open(log, "w") as out:
        proc = subprocess.Popen(["make", "-s", "-C", str(repo), "lab", f"LAB_ARGS={args}",
                                 f"LAB_DIR={Path(root_dir).resolve()}"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        info = _wait_for_server(workdir / "runtime", proc, log)
        port = int(info["port"])
        yield LabServer(f"http://127.0.0.1:{port}", token, log, port, proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


@contextmanager
def chromium(*, width: int = 1400, height: int = 1100):
    """A headless Chromium session (selenium's webdriver), closed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    if paths is None:
        raise LabError("chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = paths[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--hide-scrollbars"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(paths[1]), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, css: str, *, timeout: float, count: int = 1, server: LabServer | None = None, text: str = ""):
    """The elements matching ``css`` once at least ``count`` are displayed (and contain ``text``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in driver.find_elements("css selector", css) if e.is_displayed() and text in e.text]
        if len(found) >= count:
            return found
        time.sleep(0.3)
    tail = f"\nserver log:\n{server.tail()}" if server else ""
    raise LabError(f"{count} x {css!r}{f' with {text!r}' if text else ''} not shown within {timeout} s{tail}")


def open_notebook(driver, server: LabServer, path: str, *, timeout: float = 90) -> None:
    """Open ``path`` (relative to the server's root) on its own and wait until its kernel is idle.

    Its own: the kernels of notebooks opened before are shut down (they would take CPU and memory
    from this one), and it opens in a new workspace, so JupyterLab does not restore the notebooks
    opened before next to it (with them restored, the notebook in front was a race)."""
    driver.get("about:blank")
    shutdown_sessions(server)
    workspace = f"z1-{next(_workspaces)}"
    driver.get(f"{server.url}/lab/workspaces/{workspace}/tree/{path}?token={server.token}")
    wait_for(driver, ".jp-Notebook", timeout=timeout, server=server)
    script = ("const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
              "return w && w.context ? w.context.path : null;")
    deadline = time.monotonic() + timeout
    while (front := driver.execute_script(script)) != path:
        if time.monotonic() > deadline:
            raise LabError(f"{path} is not the notebook in front (that is {front!r})\nserver log:\n{server.tail()}")
        time.sleep(0.3)
    _wait_kernel_idle(driver, max(1.0, deadline - time.monotonic()), server)


_workspaces = itertools.count(1)  # each open_notebook takes a new workspace


def _api(server: LabServer, method: str, route: str):
    import urllib.request

    req = urllib.request.Request(f"{server.url}/api/{route}", method=method,
                                 headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = resp.read()
    return json.loads(body) if body else None


def sessions(server: LabServer) -> list[dict]:
    """The server's notebook sessions (Jupyter's REST API: ``path``, ``kernel``, ...)."""
    return _api(server, "GET", "sessions")


def shutdown_sessions(server: LabServer) -> int:
    """Shut down every notebook session of ``server`` (and so its kernel); the number shut down."""
    running = sessions(server)
    for s in running:
        _api(server, "DELETE", f"sessions/{s['id']}")
    return len(running)


def _wait_kernel_idle(driver, timeout: float, server: LabServer) -> None:
    script = ("const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
              "return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel ?"
              " w.sessionContext.session.kernel.status : null;")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.execute_script(script) == "idle":
            return
        time.sleep(0.3)
    raise LabError(f"the notebook's kernel was not idle within {timeout} s\nserver log:\n{server.tail()}")


def run_all(driver, *, timeout: float = 180, server: LabServer) -> None:
    """Run every cell of the current notebook (JupyterLab's own command) and wait until each code
    cell has run and the kernel is idle. A command sent while the new kernel is still connecting
    can be dropped: then it is sent again."""
    prompts = ("const w = window.jupyterapp.shell.currentWidget;"
               "return w && w.content && w.content.widgets ? w.content.widgets.filter(c => c.model.type === 'code')"
               ".map(c => c.promptNode ? c.promptNode.textContent.trim() : '[ ]') : [];")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
        started = time.monotonic()
        while time.monotonic() - started < 10:
            shown = driver.execute_script(prompts) or []
            if shown and all(re.search(r"\[[0-9*]+\]", p) for p in shown):
                _wait_kernel_idle(driver, max(1.0, deadline - time.monotonic()), server)
                if all(re.search(r"\[[0-9]+\]", p) for p in driver.execute_script(prompts)):
                    return
            time.sleep(0.3)
    raise LabError(f"the notebook's cells did not all run within {timeout} s\nserver log:\n{server.tail()}")


def _labelled(driver, label: str):
    """The ipywidgets row whose description is ``label``."""
    for box in driver.find_elements("css selector", ".widget-inline-hbox"):
        labels = box.find_elements("css selector", "label")
        if labels and labels[0].text.strip() == label:
            return box
    raise LabError(f"no widget labelled {label!r}")


def set_text(driver, label: str, value: str) -> None:
    """Type ``value`` into the ipywidgets text field whose description is ``label``."""
    field = _labelled(driver, label).find_element("css selector", "input, textarea")
    field.clear()
    field.send_keys(value)
    field.send_keys("\t")  # ipywidgets sync a Text's value on change / blur


def select_option(driver, label: str, text: str) -> None:
    """Choose the option whose text starts with ``text`` in the ipywidgets dropdown labelled ``label``."""
    from selenium.webdriver.support.ui import Select

    select = Select(_labelled(driver, label).find_element("css selector", "select"))
    for option in select.options:
        if option.text.startswith(text):
            select.select_by_visible_text(option.text)
            return
    raise LabError(f"dropdown {label!r} has no option starting with {text!r}")


def click_button(driver, text: str) -> None:
    for b in driver.find_elements("css selector", "button.jupyter-button"):
        if b.text.strip() == text:
            b.click()
            return
    raise LabError(f"no button {text!r}")
