"""The public surface: exported names, typing marker, documented examples."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import jupyter_asubp
from jupyter_asubp import Process

PUBLIC_NAMES = [
    "EndOfStreamError",
    "ExpectTimeoutError",
    "Process",
    "ProcessError",
    "ProcessFailedError",
    "ProcessInterruptedError",
    "RunResult",
    "StartError",
    "StdinClosedError",
    "load_ipython_extension",
    "processes",
    "run",
    "start",
    "strip_ansi",
    "unload_ipython_extension",
]

# Names whose docstrings must show an example.
WITH_EXAMPLES = ["start", "run", "processes", "strip_ansi", "Process"]
PROCESS_METHODS_WITH_EXAMPLES = [
    "send",
    "send_line",
    "close_stdin",
    "interrupt",
    "terminate",
    "kill",
    "send_signal",
    "stop",
    "wait",
    "wait_closed",
    "check",
    "expect",
    "lines",
    "aclose",
]


def test_all_is_pinned() -> None:
    assert sorted(jupyter_asubp.__all__) == PUBLIC_NAMES
    for name in PUBLIC_NAMES:
        assert hasattr(jupyter_asubp, name), name


def test_package_ships_py_typed() -> None:
    assert (Path(jupyter_asubp.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_public_name_has_docstring(name: str) -> None:
    doc = inspect.getdoc(getattr(jupyter_asubp, name))
    assert doc, f"{name} has no docstring"


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_public_name_has_examples(name: str) -> None:
    doc = inspect.getdoc(getattr(jupyter_asubp, name)) or ""
    assert "Examples\n--------" in doc, f"{name}'s docstring has no Examples section"


@pytest.mark.parametrize("name", PROCESS_METHODS_WITH_EXAMPLES)
def test_process_method_has_examples(name: str) -> None:
    doc = inspect.getdoc(getattr(Process, name)) or ""
    assert "Examples\n--------" in doc, (
        f"Process.{name}'s docstring has no Examples section"
    )


def test_docstring_examples_that_run_without_a_process_are_right() -> None:
    """Examples in raw docstrings once carried doubled backslashes."""
    import doctest

    from jupyter_asubp import _api, _process, _screen

    for module in (_screen, _process, _api):
        failed, _ = doctest.testmod(module)
        assert failed == 0, f"a docstring example in {module.__name__} fails"
