"""Talking to a process through its view in JupyterLab and Notebook 7."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from .jupyter_ui import (
    cell_locator,
    open_notebook,
    run_cell,
)
from .view_ui import load_extension, start_view, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .jupyter_ui import JupyterServer

# The tour's talk-to-a-process cell: answer a prompt.
ASK_NAME = 'printf "Name? "; read n; echo "hi $n"'

ECHO_LINES = 'while read l; do echo "got:$l"; done'

LATENCY_LINES = 10


def test_tour_prompt_reply_and_transcript(lab_page: Page) -> None:
    ui = start_view(lab_page, ASK_NAME)

    # The prompt shows before any input, with no newline after it.
    ui.wait_for_line("Name? ")
    assert ui.lines() == ["Name? "]

    ui.type_line("abc")
    transcript = ui.wait_for_transcript("hi abc")

    assert transcript.splitlines() == [
        f"$ {ASK_NAME}",
        "Name? abc",
        "hi abc",
        "[exited with code 0]",
    ]


def test_notebook7_prompt_and_reply(page: Page, notebook_server: JupyterServer) -> None:
    open_notebook(page, notebook_server, "notebook7_typing.ipynb")
    load_extension(page)
    ui = start_view(page, ASK_NAME)

    ui.wait_for_line("Name? ")
    ui.type_line("abc")

    assert "hi abc" in ui.wait_for_transcript("[exited with code 0]")


def test_lines_typed_while_another_cell_awaits(lab_page: Page) -> None:
    """Field case I6: each line shows within 1 s while another cell awaits."""
    ui = start_view(lab_page, ECHO_LINES)
    run_cell(lab_page, "import asyncio\nawait asyncio.sleep(8)", wait=False)
    other = cell_locator(lab_page, 2).locator(".jp-InputPrompt")
    wait_until(lambda: "*" in other.inner_text(), "the sleeping cell starting")

    delays = {}
    for word in ("one", "two", "three"):
        ui.type_line(word)
        delays[word] = ui.reply_delay_ms(f"got:{word}", timeout_ms=1000)
    assert "*" in other.inner_text(), "the other cell ended before the lines were sent"
    wait_until(lambda: "*" not in other.inner_text(), "the sleeping cell ending")
    ui.type_line("four")
    delays["four"] = ui.reply_delay_ms("got:four", timeout_ms=1000)

    got = [line for line in ui.lines() if line.startswith("got:")]
    assert got == ["got:one", "got:two", "got:three", "got:four"]
    print(f"\nI6 reply delays (ms): {delays}")


def test_reply_latency(lab_page: Page) -> None:
    """Measure Enter to the echoed reply in the page, over several lines."""
    ui = start_view(lab_page, ECHO_LINES)
    delays = []
    for index in range(LATENCY_LINES):
        ui.type_line(f"line{index}")
        delays.append(ui.reply_delay_ms(f"got:line{index}"))

    p50 = statistics.median(delays)
    print(
        f"\nEnter to reply visible: p50 {p50:.0f} ms, "
        f"max {max(delays):.0f} ms over {LATENCY_LINES} lines"
    )
    assert p50 < 1000
