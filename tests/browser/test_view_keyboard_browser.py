"""The view's input box, keyboard shortcuts and buttons in JupyterLab."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .view_ui import BUTTONS, start_view, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .view_ui import ViewUI

# Answers each line with its length, so a hidden line never shows.
LENGTHS = 'while read l; do echo "len:${#l}"; done'

SORT = "sort"

# Each SIGINT is caught and reported; the loop goes on.
CATCH_INTERRUPT = "trap 'echo caught' INT; echo ready; while :; do sleep 0.1; done"

IGNORE_TERMINATE = "trap '' TERM; echo ready; while :; do sleep 0.1; done"

CAT_THEN_WAIT = 'cat; echo "stdin closed"; sleep 30'

# How long a signal that should do nothing is given to show an effect.
NO_EFFECT_SECONDS = 1.0


def _count(ui: ViewUI, text: str) -> int:
    return sum(line == text for line in ui.lines())


def test_enter_sends_and_history_recalls(lab_page: Page) -> None:
    ui = start_view(lab_page, LENGTHS)

    ui.type_line("first")
    assert ui.input.input_value() == "", "Enter did not clear the input box"
    ui.wait_for_line("len:5")
    ui.type_line("second")
    ui.wait_for_line("len:6")
    echoes = ui.pane.locator(".asubp-input-echo").all_inner_texts()
    assert echoes == ["first", "second"]

    recalled = []
    for key in ("ArrowUp", "ArrowUp", "ArrowUp", "ArrowDown", "ArrowDown"):
        ui.input.press(key)
        recalled.append(ui.input.input_value())
    assert recalled == ["second", "first", "first", "second", ""]

    # Password mode: the line is sent, but neither shown nor kept for recall.
    ui.view.get_by_label("password mode").check()
    wait_until(
        lambda: ui.input.get_attribute("type") == "password",
        "the input box turning into a password box",
    )
    ui.type_line("hunter2")
    ui.wait_for_line("len:7")
    assert "hunter2" not in ui.pane.inner_text()
    ui.input.press("ArrowUp")
    assert ui.input.input_value() == "second"

    # An empty line is a line too.
    ui.view.get_by_label("password mode").uncheck()
    ui.input.fill("")
    ui.input.press("Enter")
    ui.wait_for_line("len:0")


def test_ctrl_d_ends_input(lab_page: Page) -> None:
    """Field case I1, sort: two lines and end of input by Ctrl-D."""
    ui = start_view(lab_page, SORT)

    ui.type_line("b")
    ui.type_line("a")
    ui.input.press("Control+d")

    transcript = ui.wait_for_transcript("[exited with code 0]")
    assert transcript.splitlines()[-3:] == ["a", "b", "[exited with code 0]"]


def test_ctrl_c_interrupt_and_terminate(lab_page: Page) -> None:
    ui = start_view(lab_page, CATCH_INTERRUPT)
    ui.wait_for_line("ready")

    ui.input.click()
    ui.input.press("Control+c")
    ui.wait_for_line("caught")
    ui.wait_for_note("sent SIGINT")

    # With text selected in the box, Ctrl-C copies it and sends no signal.
    ui.input.fill("abc")
    ui.input.press("Control+a")
    ui.input.press("Control+c")
    time.sleep(NO_EFFECT_SECONDS)
    assert _count(ui, "caught") == 1, "Ctrl-C with a selection interrupted"
    assert ui.input.input_value() == "abc"

    ui.button("Interrupt").click()
    wait_until(lambda: _count(ui, "caught") == 2, "a second SIGINT being caught")

    ui.button("Terminate").click()
    ui.wait_for_transcript("[killed by signal SIGTERM]")


def test_kill_after_ignored_terminate(lab_page: Page) -> None:
    ui = start_view(lab_page, IGNORE_TERMINATE)
    ui.wait_for_line("ready")

    ui.button("Terminate").click()
    ui.wait_for_note("sent SIGTERM")
    time.sleep(NO_EFFECT_SECONDS)
    assert ui.badge.inner_text() == "running"

    ui.button("Kill").click()
    ui.wait_for_transcript("[killed by signal SIGKILL]")


def test_eof_then_stop_buttons(lab_page: Page) -> None:
    ui = start_view(lab_page, CAT_THEN_WAIT)
    ui.type_line("x")
    wait_until(lambda: _count(ui, "x") == 2, "the line and cat's copy of it")

    ui.button("EOF").click()
    ui.wait_for_line("stdin closed")
    wait_until(ui.input.is_disabled, "the input box being disabled")
    assert ui.button("EOF").is_disabled()
    assert ui.input.get_attribute("placeholder") == "stdin is closed"
    assert ui.badge.inner_text() == "running"

    ui.button("Stop").click()
    ui.wait_for_transcript("[killed by signal SIGTERM]")


def test_controls_are_labelled_and_in_focus_order(lab_page: Page) -> None:
    ui = start_view(lab_page, LENGTHS)

    controls = ui.view.locator("button, input")
    unlabelled = [
        controls.nth(i).evaluate("(el) => el.outerHTML")
        for i in range(controls.count())
        if not (controls.nth(i).get_attribute("aria-label") or "").strip()
    ]
    assert not unlabelled, f"controls without aria-label: {unlabelled}"

    # Each shortcut is shown in a tooltip.
    tip = ui.input.get_attribute("title") or ""
    for shortcut in ("Enter", "↑", "↓", "Ctrl-D", "Ctrl-C"):
        assert shortcut in tip, f"{shortcut} is not in the input box's tooltip {tip!r}"
    assert "Ctrl-D" in (ui.button("EOF").get_attribute("title") or "")
    assert "Ctrl-C" in (ui.button("Interrupt").get_attribute("title") or "")
    for label in BUTTONS:
        assert ui.button(label).get_attribute("title"), f"{label} has no tooltip"

    # Tab goes from the input box through the buttons, in order.
    ui.input.focus()
    focused = []
    for _ in BUTTONS:
        lab_page.keyboard.press("Tab")
        focused.append(lab_page.evaluate("document.activeElement.textContent"))
    assert focused == list(BUTTONS)
