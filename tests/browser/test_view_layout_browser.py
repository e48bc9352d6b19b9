"""The view's output pane, copying, themes and narrow layout in JupyterLab."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .view_ui import BUTTONS, start_view, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .jupyter_ui import JupyterServer
    from .view_ui import ViewUI

ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "test-artifacts"

# Each line read is a count of numbered rows to print, as one batch.
BATCHES = 'b=0; while read n; do b=$((b+1)); seq -f "batch $b row %g" 1 "$n"; done'

COPY_SOURCE = "printf 'alpha\\nbeta\\n'; sleep 0.3; echo gamma >&2; read wait"

THEMED = """\
echo "plain output line"
printf '\\033[31mred\\033[0m \\033[32mgreen\\033[0m \\033[1mbold\\033[0m\\n'
sleep 0.3
echo "an error line" >&2
read wait"""

LONG_COMMAND = (
    'echo ready; read answer; echo "answer: $answer"'
    + " # a comment that makes this command far too long for a narrow cell" * 3
)

NARROW_WIDTH = 500
MIN_CONTRAST = 4.5
THEME_TIMEOUT_MS = 15_000

_DARK_JS = """(pane) => {
    const [r, g, b] = getComputedStyle(pane).backgroundColor.match(/\\d+/g).map(Number);
    return r + g + b < 3 * 80;
}"""

_AT_END_JS = "(p) => p.scrollHeight - p.scrollTop - p.clientHeight < 4"


def _at_end(ui: ViewUI) -> bool:
    at_end: bool = ui.pane.evaluate(_AT_END_JS)
    return at_end


def test_pane_follows_output_until_scrolled_up(lab_page: Page) -> None:
    ui = start_view(lab_page, BATCHES)
    jump = ui.view.locator(".asubp-jump")

    ui.type_line("100")
    ui.wait_for_line("batch 1 row 100")
    assert ui.pane.evaluate("(p) => p.scrollHeight > p.clientHeight")
    wait_until(lambda: _at_end(ui), "the pane following the output")
    assert jump.is_hidden()

    # The user scrolls up: the jump control appears, and new output does not
    # move the pane.
    ui.pane.hover()
    lab_page.mouse.wheel(0, -5000)
    wait_until(lambda: ui.pane.evaluate("(p) => p.scrollTop") == 0, "scrolling up")
    wait_until(jump.is_visible, "the jump control appearing after scrolling up")
    ui.type_line("50")
    ui.wait_for_line("batch 2 row 50")
    assert ui.pane.evaluate("(p) => p.scrollTop") == 0
    assert jump.is_visible()

    jump.click()
    wait_until(lambda: _at_end(ui), "the jump control scrolling to the end")
    wait_until(jump.is_hidden, "the jump control hiding at the end")

    ui.type_line("50")
    ui.wait_for_line("batch 3 row 50")
    wait_until(lambda: _at_end(ui), "the pane following the output again")


def test_copy_all_and_selection(lab_page: Page, lab_server: JupyterServer) -> None:
    lab_page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=lab_server.url.rstrip("/")
    )
    ui = start_view(lab_page, COPY_SOURCE)
    ui.wait_for_line("gamma")

    copy = ui.view.get_by_role("button", name="Copy all the output shown")
    copy.click()
    ui.wait_for_note("copied")
    assert lab_page.evaluate("navigator.clipboard.readText()") == "alpha\nbeta\ngamma"

    # Text selected in the pane copies with the usual shortcut.
    ui.pane.locator(".asubp-line", has_text="beta").click(click_count=3)
    assert lab_page.evaluate("String(getSelection())").strip() == "beta"
    lab_page.keyboard.press("Control+c")
    wait_until(
        lambda: lab_page.evaluate("navigator.clipboard.readText()").strip() == "beta",
        "the selected text reaching the clipboard",
        seen=lambda: lab_page.evaluate("navigator.clipboard.readText()"),
    )


def _contrasts(ui: ViewUI) -> dict[str, float]:
    lines = ui.pane.locator(".asubp-line")
    return {
        "stdout": ui.contrast(lines.filter(has_text="plain output line")),
        "stderr": ui.contrast(lines.filter(has_text="an error line")),
        "red": ui.contrast(ui.pane.locator("span.asubp-fg-1")),
        "green": ui.contrast(ui.pane.locator("span.asubp-fg-2")),
        "input box": ui.contrast(ui.input),
        "details": ui.contrast(ui.details),
    }


def _set_theme(page: Page, theme: str, light: bool) -> None:
    page.evaluate(
        "(theme) => window.jupyterapp.commands.execute("
        "'apputils:change-theme', {theme})",
        theme,
    )
    try:
        page.wait_for_function(
            "([theme, light]) => document.body.dataset.jpThemeName === theme"
            " && document.body.dataset.jpThemeLight === String(light)",
            arg=[theme, light],
            timeout=THEME_TIMEOUT_MS,
        )
    except PlaywrightTimeoutError:
        message = f"the theme did not become {theme} within {THEME_TIMEOUT_MS} ms"
        raise AssertionError(message) from None


def test_light_and_dark_themes_are_readable(lab_page: Page) -> None:
    ui = start_view(lab_page, THEMED)
    ui.wait_for_line("an error line")
    ARTIFACTS_DIR.mkdir(exist_ok=True)

    stderr_line = ui.pane.locator(".asubp-stderr")
    marker = stderr_line.evaluate("(el) => getComputedStyle(el, '::before').content")
    assert marker == '"err"', "stderr lines have no marker besides colour"

    light = _contrasts(ui)
    ui.view.screenshot(path=str(ARTIFACTS_DIR / "view-light.png"))
    try:
        _set_theme(lab_page, "JupyterLab Dark", light=False)
        # The theme's stylesheet applies a little after the body changes.
        wait_until(
            lambda: ui.pane.evaluate(_DARK_JS),
            "the pane turning dark",
            seen=lambda: ui.pane.evaluate("(p) => getComputedStyle(p).backgroundColor"),
        )
        dark = _contrasts(ui)
        ui.view.screenshot(path=str(ARTIFACTS_DIR / "view-dark.png"))
    finally:
        # The choice is kept in the server's settings: restore it for later tests.
        with contextlib.suppress(AssertionError):
            _set_theme(lab_page, "JupyterLab Light", light=True)

    print(f"\ncontrast, light theme: { {k: round(v, 1) for k, v in light.items()} }")
    print(f"contrast, dark theme: { {k: round(v, 1) for k, v in dark.items()} }")
    for theme, ratios in (("light", light), ("dark", dark)):
        low = {name: ratio for name, ratio in ratios.items() if ratio < MIN_CONTRAST}
        assert not low, f"too little contrast in the {theme} theme: {low}"


def test_narrow_cell_and_long_command(lab_page: Page) -> None:
    lab_page.set_viewport_size({"width": NARROW_WIDTH, "height": 900})
    ui = start_view(lab_page, LONG_COMMAND)
    ui.wait_for_line("ready")
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    ui.view.screenshot(path=str(ARTIFACTS_DIR / "view-narrow.png"))

    command = ui.view.locator(".asubp-command")
    assert command.get_attribute("title") == LONG_COMMAND
    assert command.evaluate("(el) => el.scrollWidth > el.clientWidth"), (
        "the long command is not shortened"
    )

    view_box = ui.view.bounding_box()
    assert view_box is not None
    assert view_box["x"] + view_box["width"] <= NARROW_WIDTH
    controls = [command, ui.input, *(ui.button(label) for label in BUTTONS)]
    for control in controls:
        box = control.bounding_box()
        assert box is not None, f"{control} is not shown"
        assert box["x"] >= view_box["x"], f"{control} sticks out on the left"
        right = box["x"] + box["width"]
        assert right <= view_box["x"] + view_box["width"] + 0.5, (
            f"{control} sticks out on the right: {box} in {view_box}"
        )
    input_box = ui.input.bounding_box()
    assert input_box is not None
    assert input_box["width"] >= 100, f"the input box is too narrow: {input_box}"

    ui.type_line("yes")
    ui.wait_for_transcript("answer: yes")
