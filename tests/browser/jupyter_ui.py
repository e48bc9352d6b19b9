"""Drive a real JupyterLab or Notebook 7 from Playwright.

Every server runs on 127.0.0.1 with its own root, config, runtime, IPython,
settings and workspaces directories, so no state leaks between runs or from the
user's home.  Labextensions are still found in ``sys.prefix/share/jupyter``
because the data directory is left alone.  The pages are reached through
``window.jupyterapp``, which the servers expose for this purpose.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import psutil
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 60.0
SERVER_STOP_TIMEOUT = 10.0
KERNEL_IDLE_TIMEOUT_MS = 60_000
CELL_TIMEOUT_MS = 30_000

ServerKind = Literal["lab", "notebook"]

# JupyterLab asks on first start whether to fetch news and check for updates;
# the toast can cover the notebook, so both are answered up front.  Windowing
# is off so every cell is in the DOM whatever the scroll position.
USER_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}

_KERNEL_READY_JS = """(path) => {
    const widget = window.jupyterapp?.shell?.currentWidget;
    const kernel = widget?.sessionContext?.session?.kernel;
    return Boolean(
        widget?.content?.widgets && widget.context?.isReady
        && widget.context.path === path && kernel
        && kernel.status === "idle" && kernel.connectionStatus === "connected"
    );
}"""

_CURRENT_ID_JS = """() => window.jupyterapp.shell.currentWidget.id"""

_LAST_CELL_JS = """() => {
    const notebook = window.jupyterapp.shell.currentWidget.content;
    const index = notebook.widgets.length - 1;
    const cell = notebook.widgets[index];
    return {
        index,
        type: cell.model.type,
        source: cell.model.sharedModel.getSource(),
    };
}"""

_CELL_SOURCE_JS = """(index) => {
    const notebook = window.jupyterapp.shell.currentWidget.content;
    return notebook.widgets[index].model.sharedModel.getSource();
}"""

_SAVE_JS = """() => window.jupyterapp.commands.execute("docmanager:save")"""

_IS_DIRTY_JS = """() => window.jupyterapp.shell.currentWidget.context.model.dirty"""


@dataclass(frozen=True)
class JupyterServer:
    """A running ``jupyter lab`` or ``jupyter notebook`` server."""

    kind: ServerKind
    url: str
    token: str
    root_dir: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    def notebook_url(self, path: str) -> str:
        """Return the address that opens the notebook at ``path`` in the UI."""
        # ``reset`` stops JupyterLab from reopening the tabs of an earlier page.
        if self.kind == "lab":
            return f"{self.url}lab/tree/{path}?reset&token={self.token}"
        return f"{self.url}notebooks/{path}?token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the server's log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no server log>"
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_user_settings(settings_dir: Path) -> None:
    for plugin, values in USER_SETTINGS.items():
        package, name = plugin.rsplit("/", 1)
        target = settings_dir / package / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))


def _status_answers(url: str, token: str) -> bool:
    request = urllib.request.Request(
        f"{url}api/status", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_server(kind: ServerKind, base_dir: Path) -> JupyterServer:
    """Start a Jupyter server of ``kind`` under ``base_dir`` and wait for it.

    ``base_dir`` receives the server's root directory (``root``), its config,
    runtime, IPython, settings and workspaces directories and its log.  Stop the
    server with :func:`stop_server`.
    """
    dirs = {
        name: base_dir / name
        for name in ("root", "config", "runtime", "ipython", "settings", "workspaces")
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    _write_user_settings(dirs["settings"])

    port = _free_port()
    token = secrets.token_hex(16)
    app = "LabApp" if kind == "lab" else "JupyterNotebookApp"
    module = "jupyterlab" if kind == "lab" else "notebook"
    command = [
        sys.executable,
        "-m",
        module,
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.allow_root=True",
        f"--ServerApp.root_dir={dirs['root']}",
        f"--IdentityProvider.token={token}",
        f"--{app}.user_settings_dir={dirs['settings']}",
        f"--{app}.workspaces_dir={dirs['workspaces']}",
        f"--{app}.expose_app_in_browser=True",
        # Keep the notebook-signing key and database out of the user's home.
        f"--NotebookNotary.data_dir={dirs['config']}",
    ]
    if kind == "lab":
        command += [
            "--LabApp.news_url=None",
            "--LabApp.extension_manager=readonly",
            "--LabApp.check_for_updates_class="
            "jupyterlab.handlers.announcements.NeverCheckForUpdate",
        ]
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": str(dirs["ipython"]),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("JPY_SESSION_NAME", None)

    log_path = base_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=dirs["root"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = JupyterServer(
        kind=kind,
        url=f"http://127.0.0.1:{port}/",
        token=token,
        root_dir=dirs["root"],
        port=port,
        log_path=log_path,
        process=process,
    )

    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not _status_answers(server.url, token):
        if process.poll() is not None:
            message = (
                f"jupyter {kind} exited with code {process.returncode} before "
                f"answering /api/status on port {port}\n{server.log_tail()}"
            )
            raise RuntimeError(message)
        if time.monotonic() > deadline:
            stop_server(server)
            message = (
                f"jupyter {kind} did not answer /api/status on port {port} within "
                f"{SERVER_START_TIMEOUT:.0f} s\n{server.log_tail()}"
            )
            raise RuntimeError(message)
        time.sleep(0.2)
    return server


def stop_server(server: JupyterServer) -> None:
    """Terminate the server and every process it started, kernels included."""
    try:
        parent = psutil.Process(server.process.pid)
        # Descendants are collected before the server dies, since they are
        # reparented afterwards and could no longer be found from its pid.
        processes = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        processes = []

    end_processes(processes, server.process)


def end_processes(
    processes: list[psutil.Process], popen: subprocess.Popen[bytes]
) -> None:
    """Terminate `processes`, kill what is left, and reap the server's `popen`."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=SERVER_STOP_TIMEOUT)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=SERVER_STOP_TIMEOUT)

    # Reap the Popen object so no ResourceWarning is raised for it.
    try:
        popen.wait(timeout=SERVER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


def _api(server: JupyterServer, method: str, route: str) -> Any:
    request = urllib.request.Request(
        f"{server.url}api/{route}",
        method=method,
        headers={"Authorization": f"token {server.token}"},
    )
    with urllib.request.urlopen(request, timeout=SERVER_STOP_TIMEOUT) as response:
        body = response.read()
    return json.loads(body) if body else None


def shutdown_kernels(server: JupyterServer) -> None:
    """Shut down every session and kernel of ``server`` through its REST API."""
    for session in _api(server, "GET", "sessions"):
        with contextlib.suppress(urllib.error.HTTPError):
            _api(server, "DELETE", f"sessions/{session['id']}")
    for kernel in _api(server, "GET", "kernels"):
        with contextlib.suppress(urllib.error.HTTPError):
            _api(server, "DELETE", f"kernels/{kernel['id']}")


def server_descendants(server: JupyterServer) -> list[psutil.Process]:
    """Return the processes the server started (kernels and their children)."""
    try:
        return list(psutil.Process(server.process.pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def write_notebook(
    server: JupyterServer, path: str, cells: list[str] | None = None
) -> Path:
    """Write a Python 3 notebook with code ``cells`` under the server's root."""
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
            },
            "language_info": {"name": "python"},
        },
        "cells": [
            {
                "cell_type": "code",
                "id": f"cell-{index}",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": source,
            }
            for index, source in enumerate(cells or [""])
        ],
    }
    target = server.root_dir / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(notebook, indent=1))
    return target


def open_notebook(
    page: Page,
    server: JupyterServer,
    path: str,
    *,
    create: bool = True,
    timeout_ms: float = KERNEL_IDLE_TIMEOUT_MS,
) -> None:
    """Open the notebook at ``path`` and wait until its kernel is idle.

    With ``create`` an empty notebook is written first unless ``path`` exists.
    """
    if create and not (server.root_dir / path).exists():
        write_notebook(server, path)
    page.goto(server.notebook_url(path))
    wait_for_kernel_idle(page, path, timeout_ms=timeout_ms)


def wait_for_kernel_idle(
    page: Page, path: str, *, timeout_ms: float = KERNEL_IDLE_TIMEOUT_MS
) -> None:
    """Wait until the notebook at ``path`` is current, loaded and idle.

    Use it again after ``page.reload()``.
    """
    try:
        page.wait_for_function(_KERNEL_READY_JS, arg=path, timeout=timeout_ms)
    except PlaywrightTimeoutError:
        message = (
            f"notebook {path} was not current with a connected, idle kernel "
            f"within {timeout_ms / 1000} s"
        )
        raise AssertionError(message) from None


def notebook_locator(page: Page) -> Locator:
    """Return the current notebook, leaving out notebooks in other tabs."""
    panel_id = page.evaluate(_CURRENT_ID_JS)
    return page.locator(f'[id="{panel_id}"] .jp-Notebook')


def cell_locator(page: Page, index: int) -> Locator:
    """Return the cell at ``index`` of the current notebook."""
    return notebook_locator(page).locator(".jp-Cell").nth(index)


def run_cell(
    page: Page,
    code: str,
    *,
    wait: bool = True,
    timeout_ms: float = CELL_TIMEOUT_MS,
) -> Locator:
    """Run ``code`` in a cell at the end of the notebook; return its output area.

    The last cell is reused when it is an empty code cell, otherwise a cell is
    appended.  With ``wait`` this returns once the cell's execution finished.
    """
    last = page.evaluate(_LAST_CELL_JS)
    if last["type"] != "code" or last["source"]:
        cell_locator(page, last["index"]).click()
        page.keyboard.press("Escape")
        page.keyboard.press("b")
        index = last["index"] + 1
    else:
        index = last["index"]

    cell = cell_locator(page, index)
    editor = cell.locator(".jp-InputArea-editor .cm-content")
    editor.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(code)
    source = page.evaluate(_CELL_SOURCE_JS, index)
    if source != code:
        message = f"cell {index} holds {source!r} instead of {code!r}"
        raise AssertionError(message)
    page.keyboard.press("Shift+Enter")

    if wait:
        prompt = cell.locator(".jp-InputPrompt")
        try:
            prompt.filter(has_text=re.compile(r"\[\d+\]")).wait_for(timeout=timeout_ms)
        except PlaywrightTimeoutError:
            message = (
                f"cell {index} did not finish within {timeout_ms / 1000} s; "
                f"prompt is {prompt.inner_text()!r}"
            )
            raise AssertionError(message) from None
    return cell.locator(".jp-OutputArea")


def wait_for_text(
    locator: Locator, text: str, timeout_ms: float = CELL_TIMEOUT_MS
) -> None:
    """Wait until ``locator`` contains ``text``; fail naming what was seen."""
    deadline = time.monotonic() + timeout_ms / 1000
    seen = ""
    while True:
        try:
            seen = locator.inner_text(timeout=1000)
        except PlaywrightTimeoutError:
            seen = "<element not found>"
        if text in seen:
            return
        if time.monotonic() > deadline:
            message = (
                f"{text!r} did not appear within {timeout_ms / 1000} s in "
                f"{locator}; it shows {seen!r}"
            )
            raise AssertionError(message)
        time.sleep(0.1)


def save_notebook(page: Page, timeout_ms: float = CELL_TIMEOUT_MS) -> None:
    """Save the current notebook with the save command; wait until it is clean."""
    page.evaluate(_SAVE_JS)
    try:
        page.wait_for_function(f"() => !({_IS_DIRTY_JS})()", timeout=timeout_ms)
    except PlaywrightTimeoutError:
        message = f"notebook was still unsaved after {timeout_ms / 1000} s"
        raise AssertionError(message) from None


def read_notebook(server: JupyterServer, path: str) -> dict[str, Any]:
    """Return the notebook at ``path`` as saved on disk."""
    data: dict[str, Any] = json.loads((server.root_dir / path).read_text())
    return data
