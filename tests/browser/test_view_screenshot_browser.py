"""The README's picture of the view, taken from a real JupyterLab.

With ``UPDATE_SCREENSHOTS=1`` in the environment the picture is (re)written to
``docs/view.png``; otherwise it goes to ``test-artifacts/`` and the test only
checks that the view renders as pictured.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .jupyter_ui import cell_locator
from .view_ui import start_view

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
README_PICTURE = ROOT / "docs" / "view.png"
ARTIFACT_PICTURE = ROOT / "test-artifacts" / "view-readme.png"

DEMO = r"""printf '\033[1mbuilding\033[0m the site\n'
for step in fetch compile bundle; do
  printf '  \033[32m✔\033[0m %s\n' "$step"; sleep 0.2
done
printf '\033[33mwarning:\033[0m 2 images are over 1 MB\n' >&2
printf 'Your name? '; read name
printf 'Hello, \033[36m%s\033[0m!\n' "$name"
printf 'Deploy to production? [y/N] '; read answer"""


def test_readme_picture(lab_page: Page) -> None:
    lab_page.set_viewport_size({"width": 1100, "height": 800})
    ui = start_view(lab_page, DEMO, options="--name deploy")
    ui.wait_for_line("Your name? ")
    ui.type_line("Ada")
    ui.wait_for_line("Deploy to production? [y/N] ")
    ui.input.press_sequentially("y")

    assert ui.lines() == [
        "building the site",
        "  ✔ fetch",
        "  ✔ compile",
        "  ✔ bundle",
        "warning: 2 images are over 1 MB",
        "Your name? Ada",
        "Hello, Ada!",
        "Deploy to production? [y/N] ",
    ]
    assert ui.pane.locator(".asubp-stderr").count() == 1

    update = os.environ.get("UPDATE_SCREENSHOTS") == "1"
    target = README_PICTURE if update else ARTIFACT_PICTURE
    target.parent.mkdir(exist_ok=True)
    cell_locator(lab_page, 1).screenshot(path=str(target), animations="disabled")
