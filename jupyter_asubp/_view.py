"""The live view of a process in a notebook, and its plain-text transcript."""

from __future__ import annotations

import asyncio
import logging
import pathlib
import signal
import time
import uuid
from typing import Any

import anywidget
import traitlets
from IPython.display import display, update_display

from ._errors import StdinClosedError
from ._process import Process, run_in_background
from ._screen import STDERR, STDOUT, Screen

logger = logging.getLogger(__name__)

_STATIC = pathlib.Path(__file__).parent / "static"

#: Seconds between two updates of a view, at the least.
UPDATE_INTERVAL = 0.2

#: Seconds after the exit by which the transcript shows, even if a background
#: process of the child still holds its output open.
TRANSCRIPT_DELAY = 1.0

_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

_SIGNALS = {
    "SIGINT": signal.SIGINT,
    "SIGTERM": signal.SIGTERM,
    "SIGKILL": signal.SIGKILL,
}


class Limits:
    """How much of the output a view and a transcript keep: the last lines."""

    max_lines = 2000
    max_chars = 1_000_000


class ProcessView(anywidget.AnyWidget):
    """The widget showing one process live; input comes as custom messages."""

    _esm = _STATIC / "view.js"
    _css = _STATIC / "view.css"

    command = traitlets.Unicode("").tag(sync=True)
    name = traitlets.Unicode("").tag(sync=True)
    pid = traitlets.Int(0).tag(sync=True)
    state = traitlets.Unicode("starting").tag(sync=True)
    ended = traitlets.Bool(False).tag(sync=True)
    stdin_open = traitlets.Bool(True).tag(sync=True)
    elapsed = traitlets.Float(0.0).tag(sync=True)
    lines: traitlets.List[Any] = traitlets.List().tag(sync=True)
    hidden_lines = traitlets.Int(0).tag(sync=True)
    bytes_stdout = traitlets.Int(0).tag(sync=True)
    bytes_stderr = traitlets.Int(0).tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)
    password = traitlets.Bool(False).tag(sync=True)


class View:
    """Connects a `Process` to its widget and to the displays showing it.

    Output is fed to a `Screen` as it arrives, and the widget is updated at most
    every `UPDATE_INTERVAL` seconds with the screen's bounded tail. When the
    process has ended, every display of it gets the plain-text transcript, which
    is what a saved notebook keeps.
    """

    def __init__(self, process: Process, max_lines: int, max_chars: int) -> None:
        self.process = process
        self.screen = Screen(max_lines, max_chars)
        self.widget = ProcessView(
            command=process.command,
            name=process.name or "",
            state=process.state,
        )
        self.widget.on_msg(self._on_message)
        self._display_ids: list[str] = []
        self._emptied_display_ids: list[str] = []
        self._update: asyncio.TimerHandle | None = None
        self._last_update = 0.0
        self._finished = False
        self._early_transcript: asyncio.TimerHandle | None = None
        # A handle first shown after it started: show what it wrote before.
        for stream, record in process._records.items():
            if record.size:
                self.screen.feed(stream, record.text())
        process._output_listeners.append(self._on_output)
        process._state_listeners.append(self._on_state)
        self._on_state()

    # From the process

    def _on_output(self, stream: str, text: str) -> None:
        self.screen.feed(stream, text)
        self._schedule_update()

    def _on_state(self) -> None:
        process = self.process
        for stream, record in process._records.items():
            if record.closed:
                self.screen.finish(stream)
        self._schedule_update()
        if process.returncode is not None or process.start_error is not None:
            self._update_now()

    def _schedule_update(self) -> None:
        if self._update is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._update_now()
            return
        delay = max(self._last_update + UPDATE_INTERVAL - time.monotonic(), 0.005)
        self._update = loop.call_later(delay, self._update_now)

    def _update_now(self) -> None:
        if self._update is not None:
            self._update.cancel()
            self._update = None
        self._last_update = time.monotonic()

        process = self.process
        ended = process.returncode is not None or process.start_error is not None
        with self.widget.hold_sync():
            self.widget.pid = process.pid or 0
            self.widget.state = process.state
            self.widget.ended = ended
            self.widget.stdin_open = process.stdin_open
            self.widget.elapsed = process.elapsed
            if self.screen.changed:
                self.widget.lines = self.screen.render()
            self.widget.hidden_lines = self.screen.hidden_lines
            self.widget.bytes_stdout = process._records[STDOUT].size
            self.widget.bytes_stderr = process._records[STDERR].size
        # The transcript waits for the end of the output too: a background
        # process of the child may still be writing to its pipes. If it goes
        # on, a transcript is shown a little after the exit and again at the end.
        if ended and not self._finished:
            if process._output_closed.is_set():
                self._finished = True
                self.show_transcript()
            elif self._early_transcript is None:
                loop = asyncio.get_event_loop()
                self._early_transcript = loop.call_later(
                    TRANSCRIPT_DELAY, self.show_transcript
                )

    # From the front end

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        try:
            self._act(content)
        except Exception:
            # Only the action: the content may hold a password.
            action = content.get("action") if isinstance(content, dict) else None
            logger.exception("view of %r could not handle %r", self.process, action)

    def _act(self, content: dict[str, Any]) -> None:
        action = content.get("action")
        process = self.process
        if action == "send":
            text = content.get("text", "")
            if not isinstance(text, str):
                self._tell(f"not sent: the view sent {type(text).__name__}, not text")
                return
            self._send(text + "\n", echo=not self.widget.password)
        elif action == "eof":
            if not process.stdin_open:
                self._tell(f"stdin is already closed ({process.state})")
            else:
                run_in_background(process.close_stdin())
                self._tell("")
        elif action == "signal":
            name = str(content.get("signal"))
            if not process.running:
                self._tell(f"not sent {name}: the process has ended ({process.state})")
            elif name in _SIGNALS:
                process.send_signal(_SIGNALS[name])
                self._tell(f"sent {name}")
            else:
                self._tell(f"not sent {name}: only {', '.join(_SIGNALS)} are sent")
        elif action == "stop":
            if not process.running:
                self._tell(f"nothing to stop: the process has ended ({process.state})")
            else:
                run_in_background(process.stop())
                self._tell("stopping: SIGTERM, then SIGKILL if it is ignored")
        elif action == "password":
            self.widget.password = content.get("on") is True
        else:
            self._tell(f"unknown action {action!r} from the view")

    def _send(self, text: str, echo: bool) -> None:
        process = self.process
        if not process.stdin_open:
            self._tell(f"not sent: the process's stdin is closed ({process.state})")
            return
        try:
            data = text.encode(process.encoding)
        except UnicodeEncodeError as error:
            character = error.object[error.start]
            self._tell(f"not sent: {character!r} cannot be written in {error.encoding}")
            return
        if echo:
            self.screen.echo(text)
            self._schedule_update()
        self._tell("")

        async def send() -> None:
            try:
                await process.send(data)
            except StdinClosedError:
                self._tell("not all of the input was read: the process's stdin closed")

        run_in_background(send())

    def _tell(self, note: str) -> None:
        self.widget.note = note

    # Displays and the transcript

    def mimebundle(self) -> dict[str, Any]:
        """Return the display bundle: the widget, and the transcript as plain text."""
        return {
            _WIDGET_MIME: {
                "version_major": 2,
                "version_minor": 1,
                "model_id": self.widget.model_id,
            },
            "text/plain": self.transcript(),
        }

    def display(self, *, transcript_after: bool = False) -> None:
        """Show the view in the current cell; it becomes the transcript when done.

        With `transcript_after`, for a cell that waits for the process, the view
        has no text of its own and becomes empty: the cell shows the transcript
        after it as a new output (`show_transcript_after`). A saved notebook
        then holds what a notebook checker such as nbval sees when it runs the
        cell again, since those see no updates of earlier outputs.
        """
        display_id = uuid.uuid4().hex
        if transcript_after:
            self._emptied_display_ids.append(display_id)
            bundle = {**self.mimebundle(), "text/plain": ""}
        else:
            self._display_ids.append(display_id)
            bundle = self.mimebundle()
        if self._finished:
            bundle = self._final_bundle(transcript_after)
        display(bundle, raw=True, display_id=display_id)

    def show_transcript(self) -> None:
        """Replace every display of the view with the transcript as it is now."""
        if self._early_transcript is not None:
            self._early_transcript.cancel()
        for display_ids, emptied in (
            (self._display_ids, False),
            (self._emptied_display_ids, True),
        ):
            bundle = self._final_bundle(emptied)
            for display_id in display_ids:
                update_display(bundle, raw=True, display_id=display_id)

    def show_transcript_after(self) -> None:
        """Empty the view's displays and show the transcript as a new output."""
        self.show_transcript()
        display({"text/plain": self.transcript()}, raw=True)

    def _final_bundle(self, emptied: bool) -> dict[str, str]:
        return {"text/plain": "" if emptied else self.transcript()}

    def transcript(self) -> str:
        """Return what the view shows as plain text, with stderr marked."""
        process = self.process
        lines = ["$ " + "\n> ".join(process.command.splitlines())]
        if self.screen.hidden_lines:
            lines.append(
                f"[... {self.screen.hidden_lines} earlier lines not shown; "
                "the process's stdout and stderr have them all ...]"
            )
        for stream, text in self.screen.plain_lines():
            lines.append(f"[stderr] {text}" if stream == STDERR else text)
        lines.append(f"[{process.state}]")
        return "\n".join(lines)


def view_of(process: Process) -> View:
    """Return the one view of `process`, making it on first use."""
    view = process._view
    if view is None:
        view = process._view = View(process, Limits.max_lines, Limits.max_chars)
    assert isinstance(view, View)
    return view
