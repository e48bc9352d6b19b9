"""Running a process in the foreground of a terminal, where there is no kernel.

Terminal IPython runs the loop only while a cell runs, so a process there cannot
go on in the background: it runs in the foreground instead, writing to the
terminal as it goes, reading the terminal's stdin, and stopping on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator

from ._errors import ProcessInterruptedError, StdinClosedError
from ._process import Process, run_in_background
from ._screen import STDOUT


async def run_in_foreground(
    process: Process, start: Callable[[], Awaitable[None]]
) -> None:
    """Run `process` with the terminal's streams until it ends; Ctrl-C stops it.

    `start` starts the process; output written before it returns is not missed.

    Raises
    ------
    ProcessInterruptedError
        If Ctrl-C stopped the process.
    """
    loop = asyncio.get_running_loop()
    interrupted = False

    def on_output(stream: str, text: str) -> None:
        terminal = sys.stdout if stream == STDOUT else sys.stderr
        terminal.write(text)
        terminal.flush()

    def on_interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        run_in_background(process.stop(interrupt=True))

    process._output_listeners.append(on_output)
    try:
        await start()
        with _sigint_handler(loop, on_interrupt), _stdin_to(process, loop):
            await process.wait_closed()
    finally:
        process._output_listeners.remove(on_output)

    if interrupted:
        raise ProcessInterruptedError(
            f"interrupted {process._described()}: {process.state}"
        )


async def _send_quietly(process: Process, data: bytes) -> None:
    # Typing after the process stopped reading is no error at a terminal.
    with contextlib.suppress(StdinClosedError):
        await process.send(data)


@contextlib.contextmanager
def _sigint_handler(
    loop: asyncio.AbstractEventLoop, handler: Callable[[], None]
) -> Iterator[None]:
    try:
        loop.add_signal_handler(signal.SIGINT, handler)
    except (RuntimeError, ValueError):
        # Not the main thread: Ctrl-C keeps its usual meaning.
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def _stdin_to(process: Process, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Pass what is typed on the terminal to the process while it runs."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return

    def on_readable() -> None:
        data = os.read(fd, 65536)
        if not data:
            loop.remove_reader(fd)
            run_in_background(process.close_stdin())
        elif process.stdin_open:
            run_in_background(_send_quietly(process, data))

    loop.add_reader(fd, on_readable)
    try:
        yield
    finally:
        loop.remove_reader(fd)
