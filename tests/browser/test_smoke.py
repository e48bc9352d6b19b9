"""The browser fixtures reach a working kernel and render an anywidget."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .jupyter_ui import open_notebook, run_cell, wait_for_text

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .jupyter_ui import JupyterServer

WIDGET_CELL = '''\
import anywidget
import traitlets

class Probe(anywidget.AnyWidget):
    _esm = """
    export default {
      render({ model, el }) {
        const div = document.createElement("div");
        div.className = "smoke-probe";
        div.textContent = model.get("text");
        el.appendChild(div);
      }
    };
    """
    text = traitlets.Unicode("rendered by anywidget").tag(sync=True)

Probe()'''


def test_kernel_evaluates_cell(page: Page, lab_server: JupyterServer) -> None:
    open_notebook(page, lab_server, "smoke_kernel.ipynb")
    output = run_cell(page, "1+1")
    wait_for_text(output, "2")


def test_anywidget_renders(page: Page, lab_server: JupyterServer) -> None:
    open_notebook(page, lab_server, "smoke_widget.ipynb")
    output = run_cell(page, WIDGET_CELL)
    wait_for_text(output.locator(".smoke-probe"), "rendered by anywidget")
