"""A ``%%asubp`` cell renders a working view in a Voila dashboard."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import nbformat

from .jupyter_ui import KERNEL_IDLE_TIMEOUT_MS
from .view_ui import ViewUI
from .voila_support import voila_descendants

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .voila_support import VoilaServer

# Voila runs every cell before it shows the outputs, so the process asks for a
# line and then stays alive long enough for the page to talk to it.
GREETER_CELL = """\
%%asubp
printf "Name? "; read n; echo "hi $n"; sleep 30"""


def write_dashboard(server: VoilaServer, path: str, cells: list[str]) -> None:
    """Write a Python 3 notebook of code ``cells`` under the server's root."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(notebook, server.root_dir / path)


def test_view_works_in_voila(page: Page, voila_server: VoilaServer) -> None:
    write_dashboard(
        voila_server, "greeter.ipynb", ["%load_ext jupyter_asubp", GREETER_CELL]
    )
    started = time.monotonic()
    page.goto(voila_server.render_url("greeter.ipynb"), timeout=KERNEL_IDLE_TIMEOUT_MS)
    ui = ViewUI(page, page.locator("body"))
    try:
        ui.wait_for_view(timeout_ms=KERNEL_IDLE_TIMEOUT_MS)
    except AssertionError as error:
        message = f"{error}\nvoila log:\n{voila_server.log_tail()}"
        raise AssertionError(message) from None
    print(f"\nvoila: view visible {time.monotonic() - started:.1f} s after opening")

    # The view belongs to a process of the dashboard's own kernel.
    match = re.search(r"pid (\d+)", ui.details.inner_text())
    assert match, ui.details.inner_text()
    pids = {process.pid for process in voila_descendants(voila_server)}
    assert int(match[1]) in pids

    ui.wait_for_line("Name? ")
    ui.type_line("abc")
    ui.wait_for_line("hi abc")
    assert "running" in ui.badge.inner_text()
