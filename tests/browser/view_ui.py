"""Drive the process view of ``%%asubp`` in a real page.

A `ViewUI` wraps the output area of one ``%%asubp`` cell: its view while the
process runs, and the plain-text transcript that replaces the view when the
process ends.  Waits poll the page and fail with a message saying what was
awaited and what the page showed instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .jupyter_ui import CELL_TIMEOUT_MS, run_cell

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Locator, Page

VIEW_TIMEOUT_MS = 15_000
POLL_SECONDS = 0.05

# Button labels as shown on the view, in their order after the input box.
BUTTONS = ("EOF", "Interrupt", "Terminate", "Kill", "Stop")

# The text of each line of the pane, in order.
_PANE_LINES_JS = """(pane) => Array.from(
    pane.querySelectorAll(":scope > .asubp-line"),
    (line) => line.textContent,
)"""

# After an Enter is pressed, the milliseconds until ``text`` shows in the pane.
# The keydown time is recorded by a capture listener that `ViewUI` installs.
_REPLY_DELAY_JS = """(pane, [text, timeoutMs]) => new Promise((resolve, reject) => {
    const start = window.__asubpEnterAt;
    const done = () => {
        if (!pane.textContent.includes(text)) return false;
        observer.disconnect();
        clearTimeout(timer);
        resolve(performance.now() - start);
        return true;
    };
    const observer = new MutationObserver(done);
    const timer = setTimeout(() => {
        observer.disconnect();
        reject(new Error(`${text} not shown within ${timeoutMs} ms`));
    }, timeoutMs);
    if (!done()) observer.observe(pane, {childList: true, subtree: true,
                                         characterData: true});
})"""

_RECORD_ENTER_JS = """(input) => input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") window.__asubpEnterAt = performance.now();
}, {capture: true})"""

# WCAG contrast of an element's text against what is painted behind it: the
# first ancestor background that is not transparent, alpha-blended.
CONTRAST_JS = """(node) => {
    const parse = (css) => {
        const m = css.match(/rgba?\\(([^)]+)\\)/);
        if (!m) throw new Error(`cannot parse colour ${css}`);
        const parts = m[1].split(/[\\s,/]+/).filter(Boolean).map(Number);
        return {r: parts[0], g: parts[1], b: parts[2],
                a: parts.length > 3 ? parts[3] : 1};
    };
    const over = (top, bottom) => ({
        r: top.r * top.a + bottom.r * (1 - top.a),
        g: top.g * top.a + bottom.g * (1 - top.a),
        b: top.b * top.a + bottom.b * (1 - top.a),
        a: 1,
    });
    const layers = [];
    for (let el = node; el; el = el.parentElement) {
        const colour = parse(getComputedStyle(el).backgroundColor);
        if (colour.a > 0) layers.push(colour);
        if (colour.a >= 1) break;
    }
    let background = {r: 255, g: 255, b: 255, a: 1};
    for (const layer of layers.reverse()) background = over(layer, background);
    const text = over(parse(getComputedStyle(node).color), background);
    const luminance = ({r, g, b}) => {
        const lin = (v) => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    };
    const [high, low] = [luminance(text), luminance(background)].sort((x, y) => y - x);
    return (high + 0.05) / (low + 0.05);
}"""


def wait_until(
    check: Callable[[], Any],
    what: str,
    *,
    timeout_ms: float = VIEW_TIMEOUT_MS,
    seen: Callable[[], Any] | None = None,
) -> Any:
    """Poll ``check`` until it returns something true; return it.

    On timeout fail naming ``what`` and, if given, what ``seen`` returns then.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            shown = f"; the page shows {seen()!r}" if seen is not None else ""
            message = f"{what} did not happen within {timeout_ms / 1000} s{shown}"
            raise AssertionError(message)
        time.sleep(POLL_SECONDS)


@dataclass
class ViewUI:
    """The output area of one ``%%asubp`` cell and the view inside it."""

    page: Page
    output: Locator

    @property
    def view(self) -> Locator:
        return self.output.locator(".asubp-view")

    @property
    def pane(self) -> Locator:
        return self.view.locator(".asubp-pane")

    @property
    def input(self) -> Locator:
        return self.view.locator(".asubp-input")

    @property
    def note(self) -> Locator:
        return self.view.locator(".asubp-note")

    @property
    def badge(self) -> Locator:
        return self.view.locator(".asubp-badge")

    @property
    def details(self) -> Locator:
        return self.view.locator(".asubp-details")

    def button(self, label: str) -> Locator:
        """Return the button of the view whose visible label is ``label``."""
        return self.view.locator(".asubp-controls .asubp-button", has_text=label)

    def lines(self) -> list[str]:
        """Return the text of each line the pane shows, [] if there is no view."""
        try:
            lines: list[str] = self.pane.evaluate(_PANE_LINES_JS, timeout=1000)
        except PlaywrightTimeoutError:
            return []
        return lines

    def text(self) -> str:
        """Return the text of the whole output area, view or transcript."""
        try:
            return self.output.inner_text(timeout=1000)
        except PlaywrightTimeoutError:
            return "<no output area>"

    def wait_for_view(self, timeout_ms: float = VIEW_TIMEOUT_MS) -> None:
        """Wait until the view is shown with its pid."""
        wait_until(
            lambda: self.view.count() and "pid " in self.details.inner_text(),
            "the process view showing a pid",
            timeout_ms=timeout_ms,
            seen=self.text,
        )
        self.input.evaluate(_RECORD_ENTER_JS)

    def wait_for_line(self, text: str, timeout_ms: float = VIEW_TIMEOUT_MS) -> None:
        """Wait until a line of the pane contains ``text``."""
        wait_until(
            lambda: any(text in line for line in self.lines()),
            f"a line containing {text!r} in the view",
            timeout_ms=timeout_ms,
            seen=self.lines,
        )

    def wait_for_note(self, text: str, timeout_ms: float = VIEW_TIMEOUT_MS) -> None:
        """Wait until the view's note line contains ``text``."""
        wait_until(
            lambda: text in self.note.inner_text(),
            f"the note {text!r} in the view",
            timeout_ms=timeout_ms,
            seen=self.text,
        )

    def wait_for_transcript(
        self, text: str, timeout_ms: float = VIEW_TIMEOUT_MS
    ) -> str:
        """Wait until the view has become a transcript holding ``text``; return it."""
        transcript: str = wait_until(
            lambda: not self.view.count() and text in self.text() and self.text(),
            f"the transcript with {text!r} replacing the view",
            timeout_ms=timeout_ms,
            seen=self.text,
        )
        return transcript

    def type_line(self, text: str) -> None:
        """Type ``text`` into the input box and press Enter."""
        self.input.click()
        self.input.press_sequentially(text)
        self.input.press("Enter")

    def reply_delay_ms(self, text: str, timeout_ms: float = VIEW_TIMEOUT_MS) -> float:
        """Return the milliseconds from the last Enter until ``text`` shows."""
        delay: float = self.pane.evaluate(_REPLY_DELAY_JS, [text, timeout_ms])
        return delay

    def contrast(self, locator: Locator) -> float:
        """Return the contrast ratio of ``locator``'s text and its background."""
        ratio: float = locator.evaluate(CONTRAST_JS)
        return ratio


def load_extension(page: Page) -> None:
    """Load the extension in the current notebook's kernel."""
    run_cell(page, "%load_ext jupyter_asubp")


def start_view(
    page: Page,
    script: str,
    *,
    options: str = "",
    timeout_ms: float = CELL_TIMEOUT_MS,
) -> ViewUI:
    """Run ``script`` in a ``%%asubp`` cell and wait for its view to show."""
    output = run_cell(page, f"%%asubp {options}".rstrip() + "\n" + script)
    ui = ViewUI(page, output)
    ui.wait_for_view(timeout_ms)
    return ui
