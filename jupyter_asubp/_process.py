"""A process run on the running asyncio loop, with every byte it writes kept."""

from __future__ import annotations

import asyncio
import atexit
import codecs
import contextlib
import contextvars
import fcntl
import logging
import os
import re
import shlex
import shutil
import signal
import sys
import time
import warnings
import weakref
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Sequence,
)
from typing import Any

from ._errors import (
    EndOfStreamError,
    ExpectTimeoutError,
    ProcessFailedError,
    ProcessInterruptedError,
    StartError,
    StdinClosedError,
)
from ._record import StreamRecord
from ._screen import STDERR, STDOUT
from ._tree import alive, process_tree, signal_all, wait_gone

logger = logging.getLogger(__name__)

#: Seconds `Process.stop` waits after each polite signal before the next one.
DEFAULT_GRACE = 2.0

# While a process runs, the loop is woken this often. An interrupt of a cell that
# awaits is only acted on when something wakes the loop (ipykernel sets a future
# from the signal handler without writing to the loop's self-pipe).
_WAKE_INTERVAL = 0.1

# The child gets SIGKILL if the kernel dies without cleaning up (on Linux).
# Setting this through `preexec_fn` would force a full fork of the kernel, about
# ten times slower than the spawn Python uses otherwise; setpriv sets it and
# execs the command, keeping the pid. Its full path: the child's PATH may not
# have it.
_SETPRIV = shutil.which("setpriv") if sys.platform == "linux" else None
_DIE_WITH_PARENT = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []

_STREAM_OF_FD = {1: STDOUT, 2: STDERR}

_PIPE_SIZE = 1 << 20
_READ_SIZE = 128 * 1024

Pattern = str | re.Pattern[str]

_all_processes: list[Process] = []
_cell_task: weakref.ReferenceType[asyncio.Task[Any]] | None = None


def processes() -> list[Process]:
    """Return every process started in this interpreter, running or ended.

    Examples
    --------
    >>> [p.pid for p in processes() if p.returncode is None]  # doctest: +SKIP
    [4242]
    """
    return list(_all_processes)


def mark_cell_task(task: asyncio.Task[Any] | None) -> None:
    """Remember the task running the current cell, so its interrupt stops a wait."""
    global _cell_task
    _cell_task = weakref.ref(task) if task is not None else None


def _is_cell_task(task: asyncio.Task[Any] | None) -> bool:
    return task is not None and _cell_task is not None and _cell_task() is task


class Process:
    r"""A process started by jupyter_asubp: its streams, its state and its controls.

    Create one with `start` (or the ``%%asubp`` magic), not directly. Everything
    the process writes is kept: `stdout` and `stderr` give the text so far,
    `stdout_bytes` and `stderr_bytes` the raw bytes. In a notebook, a cell whose
    value is a process shows its live view.

    Examples
    --------
    >>> proc = await start("read name; echo hi $name")  # doctest: +SKIP
    >>> await proc.send_line("Ada")  # doctest: +SKIP
    >>> await proc.wait()  # doctest: +SKIP
    0
    >>> proc.stdout  # doctest: +SKIP
    'hi Ada\n'
    """

    def __init__(
        self,
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
    ) -> None:
        if isinstance(command, str):
            self.args = [shell, "-c", command]
            self.command = command.strip()
        else:
            self.args = [os.fspath(arg) for arg in command]
            if not self.args:
                raise StartError("the command is empty: give a program to run")
            self.command = shlex.join(self.args)
        if timeout is not None and timeout <= 0:
            raise StartError(f"timeout must be positive, not {timeout}")
        try:
            codec = codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise StartError(f"unknown encoding {encoding!r}: try 'utf-8'") from None
        if not codec._is_text_encoding:
            # rot13, base64, zlib...: their decoders do not turn bytes into text.
            raise StartError(f"{encoding!r} is not a text encoding: try 'utf-8'")
        self.encoding = codec.name
        for key, value in (env or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise StartError(
                    f"env must map names to strings, not {key!r}: {value!r}"
                )

        self.name = name
        self.cwd = os.fspath(cwd) if cwd is not None else None
        self.env = dict(env or {})
        self.timeout = timeout
        self.merge_stderr = merge_stderr
        self.pid: int | None = None
        self.returncode: int | None = None
        self.start_error: str | None = None
        self.timed_out = False
        self.started_at = time.time()
        self.ended_at: float | None = None

        self._records = {
            STDOUT: StreamRecord(encoding, max_bytes),
            STDERR: StreamRecord(encoding, max_bytes),
        }
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._stdin_paused = False
        self._stdin_waiters: list[asyncio.Future[None]] = []
        self._exited = asyncio.Event()
        self._output_closed = asyncio.Event()
        self._change_waiters: list[asyncio.Future[None]] = []
        self._output_listeners: list[Callable[[str, str], None]] = []
        self._state_listeners: list[Callable[[], None]] = []
        self._expect_readers: dict[str, _TextReader] = {}
        self._stopping: asyncio.Task[int] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._view: Any = None
        if merge_stderr:
            self._records[STDERR].finish()
        _all_processes.append(self)

    # The life of the process

    async def _start(self) -> None:
        """Start the process on the running loop; raise `StartError` if it cannot."""
        loop = asyncio.get_running_loop()
        try:
            self._check_can_start()
        except StartError as error:
            self._fail_to_start(str(error))
            raise

        spawn: asyncio.Task[Any] | None = None
        try:
            # One spawn at a time: each blocks the loop for milliseconds, and a
            # hundred in one turn of the loop would hold up every cell and widget
            # message behind them.
            async with _spawn_lock(loop):
                spawn = loop.create_task(self._spawn(loop))
                await asyncio.shield(spawn)
        except (OSError, ValueError) as error:
            self._fail_to_start(_start_error_message(self, error))
            raise StartError(self.start_error) from None
        except asyncio.CancelledError:
            # Cancelling subprocess_exec itself can leave it waiting for ever on
            # pipes that never connected (CPython 3.11): let the spawn finish,
            # then stop what it started.
            if spawn is not None:
                with contextlib.suppress(Exception):
                    await spawn
            if self.pid is None:
                self._fail_to_start("cancelled before it started")
            else:
                run_in_background(self.stop())
            raise

        if self.timeout is not None:
            self._timer = loop.call_later(self.timeout, self._time_out)
        _keep_loop_awake(loop)
        logger.debug("started %r", self)
        self._changed()

    async def _spawn(self, loop: asyncio.AbstractEventLoop) -> None:
        await loop.subprocess_exec(
            lambda: _PipeProtocol(self),
            *_DIE_WITH_PARENT,
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=(
                asyncio.subprocess.STDOUT
                if self.merge_stderr
                else asyncio.subprocess.PIPE
            ),
            cwd=self.cwd,
            env=self._child_environment(),
            start_new_session=True,
        )

    def _check_can_start(self) -> None:
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise StartError(
                f"working directory {self.cwd!r} does not exist: "
                "give an existing directory"
            )

        # The program is looked up here, not left to exec: behind the
        # parent-death wrapper a missing program would only show as exit 127.
        program = self.args[0]
        if os.sep in program:
            path = os.path.join(self.cwd or "", program)
            if not os.path.exists(path):
                raise StartError(f"command not found: {program!r}; check the path")
        else:
            search = self._child_environment().get("PATH", os.defpath)
            path = shutil.which(program, mode=os.F_OK, path=search) or ""
            if not path:
                raise StartError(
                    f"command not found: {program!r}; check the name and PATH"
                )
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise StartError(
                f"permission denied running {program!r}; is it executable?"
            )

    def _child_environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        # A Python child writing to a pipe block-buffers; unless the user says
        # otherwise, make it write as it goes.
        environment.setdefault("PYTHONUNBUFFERED", "1")
        environment.update(self.env)
        return environment

    def _fail_to_start(self, message: str) -> None:
        self.start_error = message
        self.ended_at = time.time()
        for record in self._records.values():
            record.finish()
        self._exited.set()
        self._output_closed.set()
        self._changed()

    def _connected(self, transport: asyncio.SubprocessTransport) -> None:
        self._transport = transport
        self.pid = transport.get_pid()
        self._stdin = transport.get_pipe_transport(0)  # type: ignore[assignment]
        for fd in (1, 2):
            _widen_pipe(transport.get_pipe_transport(fd))

    def _received(self, fd: int, data: bytes) -> None:
        stream = _STREAM_OF_FD[fd]
        text = self._records[stream].feed(data)
        self._publish(stream, text)

    def _pipe_closed(self, fd: int) -> None:
        if fd == 0:
            self._stdin = None
            self._wake_stdin_waiters()
            return
        stream = _STREAM_OF_FD[fd]
        self._publish(stream, self._records[stream].finish())
        if all(record.closed for record in self._records.values()):
            self._output_closed.set()
            self._close_transport_if_done()
        self._changed()

    def _process_exited(self) -> None:
        assert self._transport is not None
        self.returncode = self._transport.get_returncode()
        self.ended_at = time.time()
        if self._timer is not None:
            self._timer.cancel()
        # Nobody reads stdin any more; keeping it open would only hide that.
        if self._stdin is not None and not self._stdin.is_closing():
            self._stdin.abort()
        self._exited.set()
        logger.debug("%r ended", self)
        self._close_transport_if_done()
        self._changed()

    def _close_transport_if_done(self) -> None:
        if self._exited.is_set() and self._output_closed.is_set() and self._transport:
            self._transport.close()

    def _publish(self, stream: str, text: str) -> None:
        if text:
            for listener in list(self._output_listeners):
                listener(stream, text)
        self._wake_change_waiters()

    def _changed(self) -> None:
        for listener in list(self._state_listeners):
            listener()
        self._wake_change_waiters()

    def _wake_change_waiters(self) -> None:
        waiters, self._change_waiters = self._change_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _next_change(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._change_waiters.append(waiter)
        await waiter

    # What the process has written

    @property
    def stdout(self) -> str:
        """All the text the process wrote to stdout so far, escapes included."""
        return self._text(STDOUT)

    @property
    def stderr(self) -> str:
        """All the text the process wrote to stderr so far, escapes included."""
        return self._text(STDERR)

    @property
    def stdout_bytes(self) -> bytes:
        """All the bytes the process wrote to stdout so far."""
        return self._records[STDOUT].read_bytes()

    @property
    def stderr_bytes(self) -> bytes:
        """All the bytes the process wrote to stderr so far."""
        return self._records[STDERR].read_bytes()

    def _text(self, stream: str) -> str:
        record = self._records[stream]
        text = record.text()
        if record.dropped_bytes:
            text += (
                f"\n[jupyter_asubp: {record.dropped_bytes} more bytes were dropped "
                f"past max_bytes={record.max_bytes}]\n"
            )
        return text

    # State

    @property
    def running(self) -> bool:
        """Whether the process has started and not yet exited."""
        return self.pid is not None and self.returncode is None

    @property
    def state(self) -> str:
        """How the process stands, in words: running, exited with code N, and so on."""
        if self.start_error is not None:
            return f"failed to start: {self.start_error}"
        if self.pid is None:
            return "starting"
        if self.returncode is None:
            return "stopping" if self._stopping else "running"
        if self.returncode < 0:
            ended = f"killed by signal {_signal_name(-self.returncode)}"
        else:
            ended = f"exited with code {self.returncode}"
            if self.returncode == 127 and self.args[1:2] == ["-c"]:
                ended += " (command not found)"
            elif self.returncode == 126 and self.args[1:2] == ["-c"]:
                ended += " (permission denied)"
        if self.timed_out:
            return f"timed out after {self.timeout:g} s; {ended}"
        return ended

    @property
    def elapsed(self) -> float:
        """Seconds from the start to the end, or to now while it runs."""
        return (self.ended_at or time.time()) - self.started_at

    def __repr__(self) -> str:
        command = self.command if len(self.command) <= 60 else self.command[:57] + "..."
        return f"<Process pid={self.pid} {self.state} {command!r}>"

    # Talking to the process

    async def send(self, data: str | bytes) -> None:
        """Send `data` to the process's stdin; `str` is encoded with `encoding`.

        Returns once the data is handed to the pipe, or is waiting behind at most a
        pipe's worth of earlier data; it never waits for the process to read it all.

        Raises
        ------
        StdinClosedError
            If stdin was closed or the process has ended.

        Examples
        --------
        >>> await proc.send("yes")  # doctest: +SKIP
        """
        if isinstance(data, str):
            data = data.encode(self.encoding)
        elif not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"send takes str or bytes, not {type(data).__name__}")
        stdin = self._open_stdin()
        stdin.write(data)
        while self._stdin_paused and self._stdin is not None:
            waiter = asyncio.get_running_loop().create_future()
            self._stdin_waiters.append(waiter)
            await waiter
        if self._stdin is None and self.returncode is not None:
            raise StdinClosedError(
                f"{self._described()} ended before reading its input"
            )

    async def send_line(self, text: str) -> None:
        """Send `text` and a newline to the process's stdin.

        Examples
        --------
        >>> await proc.send_line("1 + 1")  # doctest: +SKIP
        """
        await self.send(text + "\n")

    async def close_stdin(self) -> None:
        """Close the process's stdin once what was sent is written (end of input).

        Examples
        --------
        >>> await proc.close_stdin()  # doctest: +SKIP
        """
        if self._stdin is not None:
            stdin, self._stdin = self._stdin, None
            stdin.close()
            self._changed()

    @property
    def stdin_open(self) -> bool:
        """Whether data can still be sent to the process."""
        return self._stdin is not None and self.returncode is None

    def _open_stdin(self) -> asyncio.WriteTransport:
        if self.pid is None and self.start_error is None:
            raise StdinClosedError(f"{self._described()} has not started yet")
        if self.returncode is not None or self.start_error is not None:
            raise StdinClosedError(f"{self._described()} has ended: {self.state}")
        if self._stdin is None or self._stdin.is_closing():
            raise StdinClosedError(f"stdin of {self._described()} is closed")
        return self._stdin

    def _pause_stdin(self) -> None:
        self._stdin_paused = True

    def _resume_stdin(self) -> None:
        self._stdin_paused = False
        self._wake_stdin_waiters()

    def _wake_stdin_waiters(self) -> None:
        waiters, self._stdin_waiters = self._stdin_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # Signals and stopping

    def send_signal(self, signum: int) -> None:
        """Send `signum` to the process's whole process group.

        Does nothing once the process and its group are gone, like
        `subprocess.Popen.send_signal`.

        Examples
        --------
        >>> proc.send_signal(signal.SIGUSR1)  # doctest: +SKIP
        """
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            # The child leads its own session, so its pid is its group id; the
            # group stays reserved while any member lives, even after a reap.
            os.killpg(self.pid, signum)

    def interrupt(self) -> None:
        """Send SIGINT to the process group, as Ctrl-C in a terminal would.

        Examples
        --------
        >>> proc.interrupt()  # doctest: +SKIP
        """
        self.send_signal(signal.SIGINT)

    def terminate(self) -> None:
        """Send SIGTERM to the process group.

        Examples
        --------
        >>> proc.terminate()  # doctest: +SKIP
        """
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Send SIGKILL to the process group.

        Examples
        --------
        >>> proc.kill()  # doctest: +SKIP
        """
        self.send_signal(signal.SIGKILL)

    async def stop(
        self, grace: float = DEFAULT_GRACE, *, interrupt: bool = False
    ) -> int:
        """Stop the whole process tree and return the exit status.

        Sends SIGINT first if `interrupt` is true, then SIGTERM, each followed by up
        to `grace` seconds for the tree to end; what is left is killed with SIGKILL
        and a `RuntimeWarning` names the process. The process is always reaped.

        Examples
        --------
        >>> await proc.stop(grace=1)  # doctest: +SKIP
        -15
        """
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop_tree(grace, interrupt))
            self._changed()
        return await asyncio.shield(self._stopping)

    async def _stop_tree(self, grace: float, interrupt: bool) -> int:
        while self.pid is None and self.start_error is None:
            await self._next_change()
        if self.pid is None:
            return -1

        tree = process_tree(self.pid)
        signals = [signal.SIGINT, signal.SIGTERM] if interrupt else [signal.SIGTERM]
        for signum in signals:
            self.send_signal(signum)
            signal_all(tree, signum)
            if await wait_gone(tree, self._exited, grace):
                break
        else:
            warnings.warn(
                f"{self!r} ignored {signals[-1].name} for {grace:g} s; killing it",
                RuntimeWarning,
                stacklevel=2,
            )
            self.kill()
            signal_all(tree, signal.SIGKILL)

        await self._exited.wait()
        assert self.returncode is not None
        return self.returncode

    def _time_out(self) -> None:
        self.timed_out = True
        run_in_background(self.stop())

    # Waiting

    async def wait(self, timeout: float | None = None) -> int:
        """Wait until the process exits and return its exit status.

        It does not wait for the output pipes to close: a child that leaves a
        background process holding stdout still returns here; use `wait_closed`
        to wait for the end of the output too. If the kernel interrupts the cell
        that waits, the process is stopped and `ProcessInterruptedError` raised.

        Raises
        ------
        TimeoutError
            If `timeout` seconds pass first; the process keeps running.

        Examples
        --------
        >>> await proc.wait(timeout=10)  # doctest: +SKIP
        0
        """
        await self._wait_for(self._exited.wait(), timeout, "to exit")
        if self.start_error is not None:
            raise StartError(self.start_error)
        assert self.returncode is not None
        return self.returncode

    async def wait_closed(self, timeout: float | None = None) -> int:
        """Wait until the process exits and its stdout and stderr are closed.

        Examples
        --------
        >>> await proc.wait_closed()  # doctest: +SKIP
        0
        """
        code = await self.wait(timeout)
        await self._wait_for(self._output_closed.wait(), timeout, "to close its output")
        return code

    async def _wait_for(
        self, event: Awaitable[Any], timeout: float | None, what: str
    ) -> None:
        try:
            await asyncio.wait_for(event, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"{self._described()} did not {what.removeprefix('to ')} "
                f"within {timeout:g} s"
            ) from None
        except asyncio.CancelledError:
            if not _is_cell_task(asyncio.current_task()):
                raise
            # The kernel cancels the cell's task when the user interrupts it: the
            # process goes too, and the cell ends with an error, not as a success.
            run_in_background(self.stop())
            raise ProcessInterruptedError(
                f"interrupted while waiting for {self._described()}; stopping it"
            ) from None

    async def check(self, timeout: float | None = None) -> int:
        """Wait for the exit, raising `ProcessFailedError` unless it succeeded.

        Examples
        --------
        >>> await (await start("exit 3")).check()  # doctest: +SKIP
        Traceback (most recent call last):
        ProcessFailedError: 'exit 3' exited with code 3
        """
        code = await self.wait(timeout)
        if code != 0:
            tail = "".join(self.stderr.splitlines(keepends=True)[-5:])
            raise ProcessFailedError(
                f"{self.command!r} {self.state}" + (f"\n{tail}" if tail else ""),
                code,
                self.command,
                tail,
            )
        return code

    # Scripting

    async def expect(
        self,
        pattern: Pattern | Sequence[Pattern],
        timeout: float | None = 30.0,
        stream: str = STDOUT,
    ) -> re.Match[str]:
        r"""Wait until the unread text of `stream` matches `pattern`; return the match.

        `pattern` is a regular expression (text or compiled) or a list of them;
        the earliest match wins and ``match.re`` tells which. Text up to the end
        of the match counts as read and is not searched again.

        Raises
        ------
        ExpectTimeoutError
            If nothing matches within `timeout` seconds; it shows the last text seen.
        EndOfStreamError
            If the stream closes first.

        Examples
        --------
        >>> proc = await start(["python3", "-i", "-q"])  # doctest: +SKIP
        >>> await proc.send_line("6*7")  # doctest: +SKIP
        >>> (await proc.expect(r"\d+")).group()  # doctest: +SKIP
        '42'
        """
        _check_stream(stream)
        patterns = [pattern] if isinstance(pattern, str | re.Pattern) else pattern
        compiled = [re.compile(p) if isinstance(p, str) else p for p in patterns]
        reader = self._expect_readers.setdefault(
            stream, _TextReader(self._records[stream])
        )
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            reader.pull()
            found = [m for m in (p.search(reader.text) for p in compiled) if m]
            if found:
                match = min(found, key=lambda m: m.start())
                reader.text = reader.text[match.end() :]
                return match

            seen = reader.text[-300:]
            if reader.ended:
                raise EndOfStreamError(
                    f"{stream} of {self._described()} ended before matching "
                    f"{_describe_patterns(compiled)}; last text: {seen!r}",
                    seen,
                )
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise ExpectTimeoutError(
                    f"no match for {_describe_patterns(compiled)} on {stream} of "
                    f"{self._described()} within {timeout:g} s; last text: {seen!r}",
                    seen,
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._next_change(), remaining)

    async def lines(
        self, stream: str = STDOUT, *, from_start: bool = True
    ) -> AsyncIterator[str]:
        """Yield each line of `stream` once, without its line end, as it arrives.

        Starts at the first line (or, with ``from_start=False``, at what comes
        next) and ends when the stream closes, the unterminated last line
        included. Each call reads on its own: two loops each get every line.

        Examples
        --------
        >>> async for line in proc.lines():  # doctest: +SKIP
        ...     print(line.upper())
        """
        _check_stream(stream)
        record = self._records[stream]
        reader = _TextReader(record, start=0 if from_start else record.size)
        while True:
            reader.pull()
            *complete, reader.text = reader.text.split("\n")
            for line in complete:
                yield line.removesuffix("\r")
            if reader.ended:
                if reader.text:
                    yield reader.text
                return
            await self._next_change()

    # Resources

    async def __aenter__(self) -> Process:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the process if it runs, then release its temporary files.

        Examples
        --------
        >>> await proc.aclose()  # doctest: +SKIP
        """
        if self.running:
            await self.stop()
        for record in self._records.values():
            record.close()

    def _described(self) -> str:
        command = self.command if len(self.command) <= 40 else self.command[:37] + "..."
        return f"process {self.pid} ({command!r})"

    # Display

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        from ._view import view_of

        return view_of(self).mimebundle()


class _TextReader:
    """Reads one stream's record from a byte offset, decoding on its own."""

    def __init__(self, record: StreamRecord, start: int = 0) -> None:
        self.record = record
        self.offset = start
        self.text = ""
        self.ended = False
        self._decoder = codecs.getincrementaldecoder(record.encoding)(errors="replace")

    def pull(self) -> None:
        closed = self.record.closed
        data = self.record.read_bytes(self.offset)
        self.offset += len(data)
        self.text += self._decoder.decode(data, final=closed)
        self.ended = closed


class _PipeProtocol(asyncio.SubprocessProtocol):
    """Hands what the pipes deliver straight to the process: no reader tasks."""

    def __init__(self, process: Process) -> None:
        self._process = process
        # The exit is reported from the child watcher's thread, whose context
        # lacks the cell's parent header: run it in the starting cell's context.
        self._context = contextvars.copy_context()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._process._connected(transport)

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        self._process._received(fd, data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._process._pipe_closed(fd)

    def process_exited(self) -> None:
        self._context.run(self._process._process_exited)

    def pause_writing(self) -> None:
        self._process._pause_stdin()

    def resume_writing(self) -> None:
        self._process._resume_stdin()


def _start_error_message(process: Process, error: Exception) -> str:
    program = process.args[0]
    if isinstance(error, StartError):
        return str(error)
    if isinstance(error, FileNotFoundError):
        if error.filename == process.cwd:
            return f"working directory {process.cwd!r} does not exist"
        return f"command not found: {program!r}; check the name and PATH"
    if isinstance(error, PermissionError):
        return f"permission denied running {program!r}; is it executable?"
    if isinstance(error, ValueError):
        return f"invalid argument: {error}"
    reason = error.strerror if isinstance(error, OSError) else None
    return f"cannot run {program!r}: {reason or error}"


def _check_stream(stream: str) -> None:
    if stream not in (STDOUT, STDERR):
        raise ValueError(f"stream must be 'stdout' or 'stderr', not {stream!r}")


def _describe_patterns(patterns: Sequence[re.Pattern[str]]) -> str:
    return " or ".join(repr(p.pattern) for p in patterns)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


_background: set[asyncio.Future[Any]] = set()


def run_in_background(work: Awaitable[Any]) -> asyncio.Future[Any]:
    """Run `work` on the running loop, keep it alive, and log it if it fails."""
    future = asyncio.ensure_future(work)
    _background.add(future)
    future.add_done_callback(_background.discard)
    future.add_done_callback(_log_failure)
    return future


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("background work failed", exc_info=future.exception())


def _widen_pipe(pipe: asyncio.BaseTransport | None) -> None:
    """Let a pipe from the process hold 1 MiB, and read it 128 KiB at a time.

    A pipe holds 64 KiB by default, so a fast writer stalls and wakes the loop
    for every 64 KiB. asyncio reads up to 256 KiB per wake-up; 128 KiB keeps
    ingest above half of cat's speed while a turn of the loop spent on four
    flooding processes stays short enough for other cells (measured: 1+1 p50
    16 ms against 171 ms with 1 MiB reads).
    """
    if pipe is None or not hasattr(fcntl, "F_SETPIPE_SZ"):
        return
    # A process that ends at once may have closed the pipe already.
    with contextlib.suppress(OSError, AttributeError, ValueError):
        fcntl.fcntl(
            pipe.get_extra_info("pipe").fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE
        )
        pipe.max_size = _READ_SIZE  # type: ignore[attr-defined]


_spawn_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _spawn_lock(loop: asyncio.AbstractEventLoop) -> asyncio.Lock:
    return _spawn_locks.setdefault(loop, asyncio.Lock())


# Loops that are kept awake while processes run on them.
_awake_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def _keep_loop_awake(loop: asyncio.AbstractEventLoop) -> None:
    if loop in _awake_loops:
        return
    _awake_loops.add(loop)

    def wake() -> None:
        if any(p.running for p in _all_processes):
            loop.call_later(_WAKE_INTERVAL, wake)
        else:
            _awake_loops.discard(loop)

    loop.call_later(_WAKE_INTERVAL, wake)


def stop_all_now(grace: float = 1.0) -> None:
    """End every running process's tree without the loop: for interpreter exit."""
    trees = [
        tree
        for process in _all_processes
        if process.running and process.pid is not None
        for tree in [process_tree(process.pid)]
    ]
    for tree in trees:
        signal_all(tree, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(
        alive(member) for tree in trees for member in tree
    ):
        time.sleep(0.02)
    for process in _all_processes:
        if process.running:
            process.kill()
    for tree in trees:
        signal_all(tree, signal.SIGKILL)


atexit.register(stop_all_now)
