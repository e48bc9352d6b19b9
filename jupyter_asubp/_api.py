"""The entry points: `start` a process, or `run` one to its end."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Coroutine, Generator, Sequence
from typing import Any

from ._errors import StdinClosedError
from ._process import Process


class _Starting(Coroutine[Any, Any, Process]):
    """What `start` returns: await it for the process, or use it in `async with`.

    It is a coroutine, so `asyncio.create_task` and task groups take it too.
    """

    def __init__(self, process: Process) -> None:
        self._process = process
        self._coroutine: Coroutine[Any, Any, Process] | None = None

    def _run(self) -> Coroutine[Any, Any, Process]:
        # Made on first use: one never awaited (`async with`) must not warn.
        if self._coroutine is None:
            self._coroutine = self._started()
        return self._coroutine

    def __await__(self) -> Generator[Any, None, Process]:
        return self._run().__await__()

    def send(self, value: Any) -> Any:
        return self._run().send(value)

    def throw(self, *args: Any) -> Any:
        return self._run().throw(*args)

    def close(self) -> None:
        if self._coroutine is not None:
            self._coroutine.close()

    async def _started(self) -> Process:
        await self._process._start()
        return self._process

    async def __aenter__(self) -> Process:
        return await self._started()

    async def __aexit__(self, *exc_info: object) -> None:
        await self._process.aclose()


def start(
    command: str | Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    shell: str = "/bin/sh",
    encoding: str = "utf-8",
    timeout: float | None = None,
    merge_stderr: bool = False,
    max_bytes: int | None = None,
    name: str | None = None,
) -> _Starting:
    """Start a process on the running loop; await the result for its `Process`.

    Parameters
    ----------
    command : str or list of str
        A string runs as a script in `shell`; a list is run directly.
    cwd : str or path, optional
        The working directory.
    env : dict, optional
        Variables added to (or replacing ones in) the kernel's environment.
        ``PYTHONUNBUFFERED=1`` is set unless the environment sets it.
    shell : str
        The shell that runs a string command.
    encoding : str
        How to decode the output; what cannot be decoded shows as U+FFFD.
    timeout : float, optional
        Stop the process (see `Process.stop`) after this many seconds.
    merge_stderr : bool
        Send the child's stderr into its stdout pipe, keeping their exact order.
    max_bytes : int, optional
        Keep at most this many bytes of each stream; the text says how many were
        dropped. By default everything is kept (spilling to a temporary file).
    name : str, optional
        A name shown in the view and in ``%asubp --list``.

    Returns
    -------
    awaitable of Process
        Also an async context manager that stops the process on leaving.

    Raises
    ------
    StartError
        If the process cannot start; the message says why and what to do.

    Examples
    --------
    >>> proc = await start("echo hi")  # doctest: +SKIP
    >>> async with start(["cat"]) as cat:  # doctest: +SKIP
    ...     await cat.send_line("echo")
    """
    return _Starting(
        Process(
            command,
            cwd=cwd,
            env=env,
            shell=shell,
            encoding=encoding,
            timeout=timeout,
            merge_stderr=merge_stderr,
            max_bytes=max_bytes,
            name=name,
        )
    )


class RunResult:
    """What `run` returns: the exit status and all the text of a finished process."""

    def __init__(self, process: Process) -> None:
        assert process.returncode is not None
        self.process = process
        self.returncode: int = process.returncode
        self.stdout = process.stdout
        self.stderr = process.stderr

    def __repr__(self) -> str:
        return f"<RunResult returncode={self.returncode} {self.process.command!r}>"


async def run(
    command: str | Sequence[str],
    input: str | bytes | None = None,
    timeout: float | None = None,
    check: bool = False,
    **options: Any,
) -> RunResult:
    r"""Run a process to its end: start it, send `input`, close stdin, wait.

    Parameters
    ----------
    command : str or list of str
        As for `start`.
    input : str or bytes, optional
        Sent to stdin, which is then closed (it is closed at once without input).
    timeout : float, optional
        Stop the process after this many seconds and raise `TimeoutError`.
    check : bool
        Raise `ProcessFailedError`, with the end of stderr, on a non-zero status.
    **options
        Passed on to `start`.

    Examples
    --------
    >>> result = await run("tr a-z A-Z", input="shout\n")  # doctest: +SKIP
    >>> result.stdout  # doctest: +SKIP
    'SHOUT\n'
    """
    async with start(command, timeout=timeout, **options) as process:
        if input:
            with contextlib.suppress(StdinClosedError):
                await process.send(input)
        await process.close_stdin()
        # The error shows the end of stderr: wait for all of it first.
        await process.wait_closed()
        if check:
            await process.check()
    if process.timed_out:
        raise TimeoutError(f"{process._described()} {process.state}")
    return RunResult(process)
