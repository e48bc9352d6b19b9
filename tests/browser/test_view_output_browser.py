"""What a process prints, as the view and the saved notebook show it."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from .jupyter_ui import read_notebook, run_cell, save_notebook, wait_for_kernel_idle
from .view_ui import ViewUI, start_view, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .jupyter_ui import JupyterServer

# Field case E3: a progress bar on stderr, then \r\n and \r on stdout.  The
# process waits at the end so the view stays for inspection.
PROGRESS = """\
python3 -c "import sys,time
for i in range(0,101,10): sys.stderr.write('\\r%3d%%' % i); sys.stderr.flush(); \
time.sleep(0.15)
sys.stderr.write('\\n')"
printf 'one\\r\\ntwo\\r\\nabc\\rX\\n'
read wait"""

# Field case E4.
COLOUR = r"""printf '\033[31mred\033[0m plain\n'; read wait"""

HTML_LINE = (
    '<b>x</b> <img src=x onerror="window.asubpInjected=1"> '
    "<script>window.asubpInjected=2</script>"
)
HTML = f"printf '%s\\n' '{HTML_LINE}'; read wait"

ENDS_WITH_ERROR = "echo saved-line; echo oops >&2; exit 3"

# Records the pane's lines each time they change, from inside the page.
_RECORD_LINES_JS = """(pane) => {
    window.asubpSnapshots = [];
    const record = () => window.asubpSnapshots.push(Array.from(
        pane.querySelectorAll(":scope > .asubp-line"), (line) => line.textContent));
    record();
    new MutationObserver(record).observe(pane, {childList: true, subtree: true});
}"""

_ELEMENT_TAGS_JS = """(node) => Array.from(node.querySelectorAll("*"),
                                      (el) => el.tagName.toLowerCase())"""


def test_progress_bar_is_one_updating_line(lab_page: Page) -> None:
    """Field case E3 as seen on the page."""
    output = run_cell(lab_page, "%%asubp\n" + PROGRESS)
    ui = ViewUI(lab_page, output)
    ui.wait_for_view()
    ui.pane.evaluate(_RECORD_LINES_JS)
    ui.wait_for_line("Xbc")

    snapshots: list[list[str]] = lab_page.evaluate("window.asubpSnapshots")
    percentages = {line.strip() for lines in snapshots for line in lines if "%" in line}
    assert all(sum("%" in line for line in lines) <= 1 for lines in snapshots), (
        f"the progress bar took more than one line: {snapshots}"
    )
    assert len(percentages) >= 3, f"too few updates were seen: {percentages}"
    assert ui.lines() == ["100%", "one", "two", "Xbc"]
    assert "[33m" not in ui.pane.inner_text()


def test_colour_renders_as_colour(lab_page: Page) -> None:
    """Field case E4 as seen on the page."""
    ui = start_view(lab_page, COLOUR)
    ui.wait_for_line("red plain")

    red = ui.pane.locator("span", has_text=re.compile("^red$"))
    plain = ui.pane.locator("span", has_text=re.compile("^ plain$"))
    colour = "(el) => getComputedStyle(el).color"
    red_colour, plain_colour = red.evaluate(colour), plain.evaluate(colour)
    print(f"\nred span {red_colour}, plain span {plain_colour}")
    assert red_colour != plain_colour
    red_part, green, blue = (int(v) for v in re.findall(r"\d+", red_colour)[:3])
    assert red_part > green + 60, f"not red: {red_colour}"
    assert red_part > blue + 60, f"not red: {red_colour}"
    assert "[31m" not in ui.pane.inner_text()
    assert "[0m" not in ui.pane.inner_text()


def test_html_in_output_is_text(lab_page: Page) -> None:
    ui = start_view(lab_page, HTML)
    ui.wait_for_line("<b>x</b>")

    assert ui.lines() == [HTML_LINE]
    tags = set(ui.pane.evaluate(_ELEMENT_TAGS_JS))
    assert tags <= {"div", "span"}, f"output made elements: {tags}"
    assert lab_page.evaluate("window.asubpInjected") is None

    ui.input.click()
    ui.input.press("Enter")
    transcript = ui.wait_for_transcript("[exited with code 0]")

    assert HTML_LINE in transcript
    assert not ui.output.locator("b, img, script").count()
    assert lab_page.evaluate("window.asubpInjected") is None


def test_saved_notebook_reopens_with_transcript(
    lab_page: Page, lab_server: JupyterServer
) -> None:
    path = "test_saved_notebook_reopens_with_transcript.ipynb"
    ui = ViewUI(lab_page, run_cell(lab_page, "%%asubp\n" + ENDS_WITH_ERROR))
    ui.wait_for_transcript("[exited with code 3]")
    time.sleep(0.5)  # let the front end apply the display update before saving

    save_notebook(lab_page)
    saved = read_notebook(lab_server, path)
    outputs = saved["cells"][1]["outputs"]
    assert [sorted(output["data"]) for output in outputs] == [["text/plain"]]

    lab_page.reload()
    wait_for_kernel_idle(lab_page, path)
    output = lab_page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea")
    wait_until(
        lambda: "[exited with code 3]" in output.inner_text(),
        "the transcript after reopening",
        seen=output.inner_text,
    )
    text = output.inner_text()
    assert "saved-line" in text
    assert "[stderr] oops" in text
    assert "Error displaying widget" not in text
    assert not output.locator(".asubp-view").count()
