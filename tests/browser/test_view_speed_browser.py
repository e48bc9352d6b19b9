"""A flood of output reaches the page quickly and keeps the page responsive."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .jupyter_ui import run_cell
from .view_ui import ViewUI

if TYPE_CHECKING:
    from playwright.sync_api import Page

LINE_COUNT = 200_000
# 79 digits and a newline: 80 characters a line, 16 MB in all.
FLOOD = f"seq -f '%079.0f' 1 {LINE_COUNT}; read wait"
LAST_LINE = f"{LINE_COUNT:079d}"

# The bound from the field notes is generous: last line visible within 10 s.
LAST_LINE_BOUND_S = 10.0
GIVE_UP_MS = 60_000

_WATCH_LONG_TASKS_JS = """() => {
    window.asubpLongTasks = [];
    new PerformanceObserver((list) => {
        for (const task of list.getEntries()) window.asubpLongTasks.push(task.duration);
    }).observe({type: "longtask"});
}"""

_LAST_LINE_SHOWN_JS = """(text) => {
    const lines = document.querySelectorAll(".asubp-pane > .asubp-line");
    return lines.length > 0 && lines[lines.length - 1].textContent === text;
}"""


def test_flood_of_lines_shows_last_line_quickly(lab_page: Page) -> None:
    lab_page.evaluate(_WATCH_LONG_TASKS_JS)

    started = time.monotonic()
    output = run_cell(lab_page, "%%asubp\n" + FLOOD, wait=False)
    try:
        lab_page.wait_for_function(
            _LAST_LINE_SHOWN_JS, arg=LAST_LINE, timeout=GIVE_UP_MS
        )
    except PlaywrightTimeoutError:
        shown = ViewUI(lab_page, output).lines()[-3:]
        message = f"the last of {LINE_COUNT} lines was not shown; the end is {shown}"
        raise AssertionError(message) from None
    elapsed = time.monotonic() - started
    long_tasks: list[float] = lab_page.evaluate("window.asubpLongTasks")

    ui = ViewUI(lab_page, output)
    hidden = ui.view.locator(".asubp-hidden").inner_text()
    print(
        f"\n{LINE_COUNT} lines of 80 characters: last line visible after "
        f"{elapsed:.1f} s; longest main-thread task {max(long_tasks, default=0):.0f} ms"
        f" ({len(long_tasks)} tasks over 50 ms); pane: {hidden!r}"
    )
    assert elapsed < LAST_LINE_BOUND_S
    assert "earlier lines not shown" in hidden
