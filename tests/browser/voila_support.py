"""Start and stop a real Voila server for browser tests.

The server serves a directory tree on 127.0.0.1; a test writes a notebook into
its root and opens ``render_url(name)``, which makes Voila start a kernel, run
every cell and show the outputs.  The server keeps its config, runtime and
IPython directories under the test's temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psutil

from .jupyter_ui import SERVER_START_TIMEOUT, _free_port, end_processes

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class VoilaServer:
    """A running ``voila`` server serving the notebooks under ``root_dir``."""

    url: str
    root_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def render_url(self, path: str) -> str:
        """Return the address that runs and shows the notebook at ``path``."""
        return f"{self.url}voila/render/{path}"

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the server's log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no server log>"
        return "\n".join(text.splitlines()[-lines:])


def _tree_answers(url: str) -> bool:
    # The tree page answers without starting a kernel, unlike a render page.
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_voila(base_dir: Path) -> VoilaServer:
    """Start Voila on the tree ``base_dir/root`` and wait until it answers."""
    dirs = {name: base_dir / name for name in ("root", "config", "runtime", "ipython")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)

    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "voila",
        str(dirs["root"]),
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--Voila.port={port}",
        "--Voila.port_retries=0",
        "--VoilaConfiguration.show_tracebacks=True",
    ]
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": str(dirs["ipython"]),
    }
    env.pop("JPY_SESSION_NAME", None)

    log_path = base_dir / "voila.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=dirs["root"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = VoilaServer(
        url=f"http://127.0.0.1:{port}/",
        root_dir=dirs["root"],
        log_path=log_path,
        process=process,
    )

    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not _tree_answers(server.url):
        if process.poll() is not None:
            message = (
                f"voila exited with code {process.returncode} before answering "
                f"on port {port}\n{server.log_tail()}"
            )
            raise RuntimeError(message)
        if time.monotonic() > deadline:
            stop_voila(server)
            message = (
                f"voila did not answer on port {port} within "
                f"{SERVER_START_TIMEOUT:.0f} s\n{server.log_tail()}"
            )
            raise RuntimeError(message)
        time.sleep(0.2)
    return server


def voila_descendants(server: VoilaServer) -> list[psutil.Process]:
    """Return the processes the server started (kernels and their children)."""
    try:
        return list(psutil.Process(server.process.pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def stop_voila(server: VoilaServer) -> None:
    """Terminate the server and every process it started, kernels included."""
    # Descendants are collected before the server dies, since they are
    # reparented afterwards and could no longer be found from its pid.
    processes = voila_descendants(server)
    with contextlib.suppress(psutil.NoSuchProcess):
        processes.insert(0, psutil.Process(server.process.pid))

    end_processes(processes, server.process)
