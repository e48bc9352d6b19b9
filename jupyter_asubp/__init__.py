"""Run and talk to processes from a notebook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._api import RunResult, run, start
from ._errors import (
    EndOfStreamError,
    ExpectTimeoutError,
    ProcessError,
    ProcessFailedError,
    ProcessInterruptedError,
    StartError,
    StdinClosedError,
)
from ._process import Process, processes
from ._screen import strip_ansi

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell


def load_ipython_extension(shell: InteractiveShell) -> None:
    """Give `shell` the ``%%asubp`` and ``%asubp`` magics (``%load_ext``)."""
    from ._magic import load

    load(shell)


def unload_ipython_extension(shell: InteractiveShell) -> None:
    """Remove the magics; processes already started go on."""
    from ._magic import unload

    unload(shell)


__all__ = [
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
