"""The exceptions a user of jupyter_asubp can catch."""

from __future__ import annotations


class ProcessError(Exception):
    """Base class of every error jupyter_asubp raises about a process."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the message says it all.
        return [f"{type(self).__name__}: {self}"]


class StartError(ProcessError):
    """The process could not be started (missing command, directory, permission)."""


class StdinClosedError(ProcessError, BrokenPipeError):
    """Data was sent to a process whose stdin is closed or that has ended.

    It is also a `BrokenPipeError`, so code written for pipes catches it too.
    """


class ProcessFailedError(ProcessError):
    """A process awaited with ``check`` ended with a non-zero status or a signal.

    Attributes
    ----------
    returncode : int
        The exit status; negative for a signal, as in `subprocess`.
    command : str
        The command line, as shown in the view.
    stderr_tail : str
        The last lines the process wrote to stderr.
    """

    def __init__(self, message: str, returncode: int, command: str, stderr_tail: str):
        super().__init__(message)
        self.returncode = returncode
        self.command = command
        self.stderr_tail = stderr_tail


class ProcessInterruptedError(ProcessError):
    """The cell waiting for a process was interrupted; the process is being stopped."""


class ExpectTimeoutError(ProcessError, TimeoutError):
    """`Process.expect` saw no match in time; the message shows the last text seen."""

    def __init__(self, message: str, seen: str):
        super().__init__(message)
        self.seen = seen


class EndOfStreamError(ProcessError, EOFError):
    """`Process.expect` reached the end of the stream without a match."""

    def __init__(self, message: str, seen: str):
        super().__init__(message)
        self.seen = seen
