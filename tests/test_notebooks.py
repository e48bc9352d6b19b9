"""The teaching notebooks: saved outputs that nbval can check, and quick to run.

They are executed by ``pytest --nbval notebooks/`` (``./dev test``) and again in a
fresh Binder environment (test_binder.py); here they are checked as files.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = [
    "01-tour.ipynb",
    "02-talking-to-programs.ipynb",
    "03-many-processes.ipynb",
    "04-pipes-and-buffering.ipynb",
    "05-scripting.ipynb",
]
NOTEBOOK_SECONDS = 30.0
IGNORE_TAG = "nbval-ignore-output"
PID_LIKE = re.compile(r"\bpid\b|process \d{3,}")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _load(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS_DIR / name, as_version=4)


def _text(output: nbformat.NotebookNode) -> str:
    if "text" in output:
        return str(output["text"])
    return str(output.get("data", {}).get("text/plain", ""))


def test_the_five_lessons_are_there() -> None:
    assert sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_valid_and_was_run(name: str) -> None:
    notebook = _load(name)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code, f"{name} has no code"
    assert all(c.execution_count is not None for c in code), (
        f"{name} has cells never run: nbval would not compare their output"
    )


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_saved_no_errors(name: str) -> None:
    for cell in _load(name).cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", (
                f"{name}: {cell.source[:60]!r} saved an error: {output.get('evalue')}"
            )


@pytest.mark.parametrize("name", EXPECTED)
def test_compared_outputs_show_no_pids(name: str) -> None:
    for cell in _load(name).cells:
        if cell.cell_type != "code" or IGNORE_TAG in cell.metadata.get("tags", []):
            continue
        for output in cell.outputs:
            assert not PID_LIKE.search(_text(output)), (
                f"{name}: {cell.source[:60]!r} shows a pid, which changes every run"
            )


@pytest.mark.parametrize("name", EXPECTED)
def test_waiting_cells_are_compared(name: str) -> None:
    """A --wait cell ends with its transcript as an output nbval can compare."""
    for cell in _load(name).cells:
        if cell.cell_type == "code" and "--wait" in cell.source.partition("\n")[0]:
            assert IGNORE_TAG not in cell.metadata.get("tags", []), (
                f"{name}: {cell.source[:60]!r} waits for its process; compare it"
            )
            last = _text(cell.outputs[-1]) if cell.outputs else ""
            assert last.startswith("$ "), (
                f"{name}: {cell.source[:60]!r} saved no transcript: {last!r}"
            )


@pytest.mark.parametrize("name", EXPECTED)
def test_ignored_cells_are_live(name: str) -> None:
    """Output is ignored only for a view left running, or for pids and times."""
    for cell in _load(name).cells:
        if cell.cell_type != "code" or IGNORE_TAG not in cell.metadata.get("tags", []):
            continue
        assert any(
            _text(output).endswith(("[starting]", "[running]"))
            or PID_LIKE.search(_text(output))
            for output in cell.outputs
        ), f"{name}: {cell.source[:60]!r} is ignored but its output is not live"


@pytest.mark.parametrize("name", EXPECTED)
def test_saved_outputs_name_no_widget(name: str) -> None:
    """Opened before running, a saved view said "model not found"; now text."""
    for cell in _load(name).cells:
        for output in cell.get("outputs", []):
            assert WIDGET_VIEW not in output.get("data", {}), (
                f"{name}: {cell.source[:60]!r} saved a widget view: keep its text"
            )


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_keeps_no_widget_state(name: str) -> None:
    assert "widgets" not in _load(name).metadata, (
        f"{name} saved widget state: strip it after running"
    )


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_ends_with_something_to_try(name: str) -> None:
    last = _load(name).cells[-1]
    assert last.cell_type == "markdown"
    assert "## Try this" in last.source


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_ran_in_under_30_seconds(name: str) -> None:
    """From the first cell's start to the last cell's end, as recorded when run."""
    times = [
        datetime.fromisoformat(cell.metadata.execution[key].replace("Z", "+00:00"))
        for cell in _load(name).cells
        if cell.cell_type == "code" and "execution" in cell.metadata
        for key in ("iopub.execute_input", "shell.execute_reply")
    ]
    assert times, f"{name} has no recorded timing: run it with nbconvert --execute"
    took = (max(times) - min(times)).total_seconds()
    assert took < NOTEBOOK_SECONDS, f"{name} took {took:.1f} s"
