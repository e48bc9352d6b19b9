r"""What a terminal would show of a process's output, one line at a time.

The screen keeps the last lines of both streams in arrival order. Within a line
it does what a terminal does: ``\r`` returns to the start, ``\b`` steps back,
``ESC [ K`` erases, and SGR codes set the colour and style of what follows.
Other escape sequences (cursor movement, titles) are dropped, never shown.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

STDOUT = "stdout"
STDERR = "stderr"

#: The style of input echoed into the screen, told apart from any SGR style.
INPUT_STYLE = "in"

# One token of terminal output: a CSI sequence, an OSC sequence, another escape,
# a control character, or a run of ordinary text.
_TOKEN = re.compile(
    r"\x1b\[(?P<csi_params>[0-?]*)[ -/]*(?P<csi_final>[@-~])"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[ -/]*[0-~]"
    r"|(?P<control>[\x00-\x08\x0a-\x1a\x1c-\x1f\x7f])"
    r"|(?P<text>[^\x00-\x08\x0a-\x1f\x7f]+)"
)

# An escape sequence cut off at the end of a chunk: kept until the rest arrives.
_UNFINISHED_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?|[ -/]*)?\Z")

_ANY_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]"
)

# Control characters a terminal shows as nothing (NUL, bell, shift codes...);
# BEL stays, as it ends an OSC sequence.
_IGNORED = re.compile(r"[\x00-\x06\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]+")

# Characters that need the slow path, one by one: a search for one character
# runs at memory speed, a search for a character class some fifty times slower.
_CONTROLS = [chr(code) for code in [*range(0x09), *range(0x0B, 0x20), 0x7F]]


def _has_controls(text: str) -> bool:
    """Whether `text` has a character other than newline and tab below space."""
    return any(control in text for control in _CONTROLS)


# An SGR sequence, as `_TOKEN` finds it: colours set by output that is skipped.
_SGR = re.compile(r"\x1b\[([0-?]*)[ -/]*m")

# A character a text token would write.
_SHOWN = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]")

# An unfinished escape sequence longer than this is not one: it is shown.
_MAX_ESCAPE = 4096

# Earlier line ends tried for a cut that skips output, before giving up.
_CUTS_TRIED = 8


def strip_ansi(text: str) -> str:
    r"""Remove ANSI escape sequences (colours, cursor moves, titles) from `text`.

    Examples
    --------
    >>> strip_ansi("\x1b[31mred\x1b[0m plain")
    'red plain'
    """
    return _ANY_ESCAPE.sub("", text)


class Line:
    r"""One line of the screen: its stream, its text and the style of each character.

    `styles` is None while the whole line has the one style `style`; a style is a
    normalised SGR parameter string such as ``"1;31"`` (empty for the default).
    `cut` counts the characters dropped from the start of a very long line;
    `continued` tells that the line's start is no longer kept (it is counted in
    `Screen.hidden_lines` already).

    A line written over in place (``\r``, ``\b``, cursor moves) keeps its
    characters in a list until its text is read, so each overwrite costs the
    length of what is written, not of the line.
    """

    __slots__ = (
        "_chars",
        "_runs",
        "_text",
        "continued",
        "cut",
        "stream",
        "style",
        "styles",
    )

    def __init__(
        self, stream: str, text: str = "", style: str = "", continued: bool = False
    ) -> None:
        self.stream = stream
        self.style = style
        self.styles: list[str] | None = None
        self.cut = 0
        self.continued = continued
        self._text = text
        self._chars: list[str] | None = None
        self._runs: list[list[str]] | None = None

    @property
    def text(self) -> str:
        """The characters of the line."""
        if self._chars is not None:
            self._text = "".join(self._chars)
            self._chars = None
        return self._text

    @text.setter
    def text(self, value: str) -> None:
        self._text = value
        self._chars = None
        self._runs = None

    def __len__(self) -> int:
        return len(self._chars) if self._chars is not None else len(self._text)

    def write(self, column: int, text: str, style: str) -> int:
        """Write `text` at `column` over what is there; return the new column."""
        self._runs = None
        end = column + len(text)
        uniform = self.styles is None and style == self.style
        if uniform and self._chars is None and column == len(self._text):
            self._text += text
            return end

        if self._chars is None:
            self._chars = list(self._text)
        chars = self._chars
        if not uniform and self.styles is None:
            self.styles = [self.style] * len(chars)
        if column > len(chars):
            padding = column - len(chars)
            chars += " " * padding
            if self.styles is not None:
                self.styles += [""] * padding
        chars[column:end] = text
        if self.styles is not None:
            self.styles[column:end] = [style] * len(text)
        return end

    def erase(self, start: int, end: int | None = None) -> None:
        """Erase from `start` to `end` (the end of the line when None)."""
        self._runs = None
        if end is None:
            self.text = self.text[:start]
            if self.styles is not None:
                del self.styles[start:]
            return
        end = min(end, len(self))
        if start < end:
            self.write(start, " " * (end - start), "")

    def runs(self) -> list[list[str]]:
        """Return the line as [text, style] runs (kept until the line changes)."""
        if self._runs is None:
            self._runs = self._make_runs()
        return self._runs

    def _make_runs(self) -> list[list[str]]:
        text = self.text
        if self.styles is None:
            return [[text, self.style]] if text else []
        styles = self.styles
        runs: list[list[str]] = []
        start = 0
        for index in range(1, len(text) + 1):
            if index == len(text) or styles[index] != styles[start]:
                runs.append([text[start:index], styles[start]])
                start = index
        return runs


class _Cursor:
    """Where one stream writes next, and with which style."""

    def __init__(self) -> None:
        self.line: Line | None = None
        # Whether the line being written is no longer kept (its next text then
        # starts a new line, and its end adds none).
        self.hidden = False
        self.column = 0
        self.style = Style()
        self.unfinished = ""


class Style:
    """The SGR state of a stream: colours and attributes, as a parameter string."""

    def __init__(self) -> None:
        self.attributes: set[int] = set()
        self.foreground = ""
        self.background = ""
        #: The normalised SGR parameters, empty for the default style.
        self.key = ""

    def _update_key(self) -> None:
        parts = [str(attribute) for attribute in sorted(self.attributes)]
        parts += [part for part in (self.foreground, self.background) if part]
        self.key = ";".join(parts)

    def apply(self, parameters: str) -> None:
        """Apply the parameters of one SGR sequence (``ESC [ ... m``)."""
        codes = [_number(code) for code in parameters.split(";")]
        index = 0
        while index < len(codes):
            code = codes[index]
            if code == 0:
                self.__init__()  # type: ignore[misc]
            elif code in (1, 2, 3, 4, 5, 7, 8, 9):
                self.attributes.add(code)
            elif code == 22:
                self.attributes -= {1, 2}
            elif 23 <= code <= 29:
                self.attributes.discard(code - 20)
            elif 30 <= code <= 37 or 90 <= code <= 97:
                self.foreground = str(code)
            elif code == 39:
                self.foreground = ""
            elif 40 <= code <= 47 or 100 <= code <= 107:
                self.background = str(code)
            elif code == 49:
                self.background = ""
            elif code in (38, 48):
                # Extended colour: 5;N (256 colours) or 2;R;G;B (true colour).
                size = {5: 2, 2: 4}.get(
                    codes[index + 1] if index + 1 < len(codes) else 0
                )
                if size is None:
                    break
                colour = ";".join(
                    map(str, [code, *codes[index + 1 : index + 1 + size]])
                )
                if code == 38:
                    self.foreground = colour
                else:
                    self.background = colour
                index += size
            index += 1
        self._update_key()


class Screen:
    """The last lines of a process's output as a terminal would show them.

    Output is kept as it comes and worked out when it is read (`render`,
    `plain_lines`, `hidden_lines`), or once much of it is waiting. Lines that
    will not be kept are then skipped over, keeping only their count and the
    style they leave, so a flood costs little more than counting its newlines.

    Parameters
    ----------
    max_lines : int
        Lines kept; earlier ones are counted in `hidden_lines`.
    max_chars : int
        Characters kept over all lines; a longer single line keeps its end.
    """

    def __init__(self, max_lines: int = 2000, max_chars: int = 1_000_000) -> None:
        self.max_lines = max_lines
        self.max_chars = max_chars
        self.lines: deque[Line] = deque()
        self._hidden_lines = 0
        self._chars = 0
        self._cursors = {STDOUT: _Cursor(), STDERR: _Cursor()}
        self._pending: list[tuple[str, str]] = []
        self._dirty = False
        self._pending_chars = 0
        # Enough waiting output to skip a screenful at a time, little enough that
        # working it out never holds the loop for long.
        self._pending_limit = max(max_chars, 1 << 16)

    @property
    def hidden_lines(self) -> int:
        """Lines no longer kept: earlier than the last `max_lines`, or cut for size."""
        self._flush()
        return self._hidden_lines

    def feed(self, stream: str, text: str) -> None:
        """Show `text` written by the process to `stream`."""
        cursor = self._cursors[stream]
        if cursor.unfinished:
            text = cursor.unfinished + text
            cursor.unfinished = ""
        unfinished = _UNFINISHED_ESCAPE.search(text)
        if unfinished and len(text) - unfinished.start() <= _MAX_ESCAPE:
            cursor.unfinished = unfinished.group()
            text = text[: unfinished.start()]
        if _has_controls(text):
            text = _IGNORED.sub("", text)
        if text:
            self._dirty = True
            self._pending.append((stream, text))
            self._pending_chars += len(text)
            if self._pending_chars > self._pending_limit:
                self._flush()

    def echo(self, text: str) -> None:
        """Show input sent to the process where stdout's cursor is, as a terminal does.

        The input is shown in the style ``"in"``; a newline in it ends the line.
        """
        self._flush()
        self._dirty = True
        cursor = self._cursors[STDOUT]
        *lines, last = text.split("\n")
        for line in lines:
            self._write(STDOUT, cursor, line, INPUT_STYLE)
            self._end_line(STDOUT, cursor)
        self._write(STDOUT, cursor, last, INPUT_STYLE)
        self._trim()

    def finish(self, stream: str) -> None:
        """Show whatever escape sequence the stream left unfinished, as text."""
        self._flush()
        cursor = self._cursors[stream]
        if cursor.unfinished:
            self._dirty = True
            leftover, cursor.unfinished = cursor.unfinished, ""
            self._write(stream, cursor, leftover.replace("\x1b", "^["))
            self._trim()

    def _flush(self) -> None:
        if not self._pending:
            return
        pending = self._skip_hidden(self._pending)
        self._pending = []
        self._pending_chars = 0
        for stream, text in pending:
            cursor = self._cursors[stream]
            if _has_controls(text):
                self._feed_terminal(stream, cursor, text)
            else:
                self._feed_plain(stream, cursor, text)
            self._trim()

    def _skip_hidden(self, pending: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Skip the output before the last `max_lines` line ends; return the rest.

        No line of the skipped output can be kept, so it only counts its lines
        and sets the style each stream has after it. The cut is at the end of a
        line of one stream while the other is at the start of a line (or in a
        line already hidden), so nothing after it lands in a line begun before.
        """
        needed = self.max_lines + 1
        for index in range(len(pending) - 1, -1, -1):
            stream, text = pending[index]
            count = text.count("\n")
            if count < needed:
                needed -= count
                continue
            cut = len(text)
            for _ in range(needed):
                cut = text.rindex("\n", 0, cut)
            for _ in range(_CUTS_TRIED):
                if self._at_line_starts(pending[:index], stream):
                    skipped = [*pending[:index], (stream, text[: cut + 1])]
                    kept = [(stream, text[cut + 1 :]), *pending[index + 1 :]]
                    self._skip(skipped)
                    return [(name, piece) for name, piece in kept if piece]
                # Try the last line end of an earlier read.
                index -= 1
                while index >= 0 and "\n" not in pending[index][1]:
                    index -= 1
                if index < 0:
                    break
                stream, text = pending[index]
                cut = text.rindex("\n")
            break
        return pending

    def _at_line_starts(self, before: list[tuple[str, str]], stream: str) -> bool:
        """Whether the streams but `stream` are at a line start after `before`."""
        for other, cursor in self._cursors.items():
            if other == stream:
                continue
            tail = ""
            ended = False
            for name, piece in reversed(before):
                if name == other:
                    end = piece.rfind("\n")
                    tail = piece[end + 1 :] + tail
                    if end >= 0:
                        ended = True
                        break
            if _SGR.sub("", tail) or (not ended and cursor.line is not None):
                return False
        return True

    def _skip(self, skipped: list[tuple[str, str]]) -> None:
        self._hide_all()
        for stream, cursor in self._cursors.items():
            pieces = [piece for name, piece in skipped if name == stream]
            _apply_styles(cursor.style, pieces)
            ended = sum(piece.count("\n") for piece in pieces)
            tail = ""
            for piece in reversed(pieces):
                end = piece.rfind("\n")
                tail = piece[end + 1 :] + tail
                if end >= 0:
                    break
            tail_shown = _SHOWN.search(strip_ansi(tail)) is not None
            # A line the stream had begun is counted already.
            on_line = cursor.hidden
            if ended:
                self._hidden_lines += ended - on_line + tail_shown
                cursor.hidden = tail_shown
            else:
                self._hidden_lines += tail_shown and not on_line
                cursor.hidden = on_line or tail_shown

    def _feed_plain(self, stream: str, cursor: _Cursor, text: str) -> None:
        first_end = text.find("\n")
        if first_end < 0:
            self._write(stream, cursor, text)
            return
        self._write(stream, cursor, text[:first_end])
        self._end_line(stream, cursor)

        # Only the last `max_lines` whole lines can be kept: find where they
        # start before splitting, so a flood is not cut into strings to drop.
        last_end = text.rfind("\n")
        start = first_end + 1
        if last_end > first_end:
            whole = text.count("\n", start, last_end) + 1
            if whole > self.max_lines:
                self._hide_all()
                self._hidden_lines += whole - self.max_lines
                start = _start_of_last_lines(text, last_end, self.max_lines)
            style = cursor.style.key
            for piece in text[start:last_end].split("\n"):
                self.lines.append(Line(stream, piece, style))
                self._chars += len(piece)
        self._write(stream, cursor, text[last_end + 1 :])

    def _feed_terminal(self, stream: str, cursor: _Cursor, text: str) -> None:
        for token in _TOKEN.finditer(text):
            kind = token.lastgroup
            if kind == "text":
                self._write(stream, cursor, token.group(kind))
            elif kind == "control":
                character = token.group(kind)
                if character == "\n":
                    self._end_line(stream, cursor)
                elif character == "\r":
                    cursor.column = 0
                elif character == "\b":
                    cursor.column = max(cursor.column - 1, 0)
            elif kind == "csi_final":
                self._csi(cursor, token.group("csi_params"), token.group(kind))

    def _hide_all(self) -> None:
        """Hide every kept line; a stream's unfinished line goes on off screen."""
        self._hidden_lines += sum(not line.continued for line in self.lines)
        self.lines.clear()
        self._chars = 0
        for cursor in self._cursors.values():
            cursor.hidden = cursor.hidden or cursor.line is not None
            cursor.line = None
            cursor.column = 0

    def _end_line(self, stream: str, cursor: _Cursor) -> None:
        """End the cursor's line, which exists even when nothing was written on it."""
        if cursor.line is None and not cursor.hidden:
            self.lines.append(Line(stream, style=cursor.style.key))
        cursor.line = None
        cursor.hidden = False
        cursor.column = 0

    def _csi(self, cursor: _Cursor, parameters: str, final: str) -> None:
        count = _number(parameters)
        if final == "m":
            cursor.style.apply(parameters)
        elif final == "K" and cursor.line is not None:
            before = len(cursor.line)
            if count == 0:
                cursor.line.erase(cursor.column)
            elif count == 1:
                cursor.line.erase(0, cursor.column + 1)
            else:
                cursor.line.erase(0)
            self._chars += len(cursor.line) - before
        elif final == "D":
            cursor.column = max(cursor.column - max(count, 1), 0)
        elif final == "C":
            # The right margin is at `max_chars`, as a terminal's is at its width:
            # moves past it would only make lines of spaces to be cut again.
            cursor.column = min(cursor.column + max(count, 1), self.max_chars)
        elif final == "G":
            cursor.column = max(min(count, self.max_chars) - 1, 0)

    def _write(
        self, stream: str, cursor: _Cursor, text: str, style: str | None = None
    ) -> None:
        if not text:
            return
        style = cursor.style.key if style is None else style
        line = cursor.line
        if line is None:
            line = cursor.line = Line(stream, style=style, continued=cursor.hidden)
            cursor.hidden = False
            self.lines.append(line)
        before = len(line)
        cursor.column = line.write(cursor.column, text, style)
        if len(line) > 2 * self.max_chars:
            # Only the end of so long a line is shown: drop its start, now and
            # then, so that it stays bounded and appending to it stays cheap.
            cut = len(line) - self.max_chars
            line.cut += cut
            line.text = line.text[cut:]
            if line.styles is not None:
                del line.styles[:cut]
            cursor.column = max(cursor.column - cut, 0)
        self._chars += len(line) - before

    def _trim(self) -> None:
        while len(self.lines) > 1 and (
            len(self.lines) > self.max_lines or self._chars > self.max_chars
        ):
            line = self.lines.popleft()
            self._chars -= len(line)
            self._hidden_lines += not line.continued
            for cursor in self._cursors.values():
                if cursor.line is line:
                    # The line goes on off screen; its next text starts a new one.
                    cursor.line = None
                    cursor.hidden = True
                    cursor.column = 0

    def render(self) -> list[list[Any]]:
        """Return the kept lines as [stream, runs], each at most `max_chars` long.

        Each run is [text, style]; lists, ready to be sent as JSON.
        """
        self._flush()
        self._dirty = False
        rendered: list[list[Any]] = []
        for line in self.lines:
            runs = line.runs()
            if line.cut or len(line) > self.max_chars:
                runs = _last_chars(runs, self.max_chars)
            rendered.append([line.stream, runs])
        return rendered

    @property
    def changed(self) -> bool:
        """Whether there is anything new since the last `render`."""
        return self._dirty

    def plain_lines(self) -> list[tuple[str, str]]:
        """Return the kept lines as (stream, text) without colours.

        A line longer than `max_chars` keeps its end, after a "…".
        """
        self._flush()
        return [
            (
                line.stream,
                line.text
                if not line.cut and len(line.text) <= self.max_chars
                else "\u2026" + line.text[-self.max_chars :],
            )
            for line in self.lines
        ]


def _number(parameter: str) -> int:
    """Return the number an escape sequence's parameter gives (0 if none).

    One with more than nine digits gives 10**9: `int` refuses very long ones.
    """
    if not parameter.isdigit():
        return 0
    digits = parameter.lstrip("0")
    return int(digits or "0") if len(digits) <= 9 else 10**9


def _apply_styles(style: Style, pieces: list[str]) -> None:
    """Apply the SGR sequences in `pieces`, from the last full reset on."""
    # Most output has no escapes: a plain search rules a piece out at memory speed.
    pieces = [piece for piece in pieces if "\x1b" in piece]
    for index in range(len(pieces) - 1, -1, -1):
        piece = pieces[index]
        reset = max(piece.rfind("\x1b[0m"), piece.rfind("\x1b[m"))
        if reset >= 0:
            pieces = [piece[reset:], *pieces[index + 1 :]]
            break
    for piece in pieces:
        for sgr in _SGR.finditer(piece):
            style.apply(sgr.group(1))


def _start_of_last_lines(text: str, end: int, count: int) -> int:
    """Where the last `count` lines of `text` before the line end at `end` begin."""
    position = end
    for _ in range(count):
        position = text.rfind("\n", 0, position)
    return position + 1


def _last_chars(runs: list[list[str]], count: int) -> list[list[str]]:
    kept: list[list[str]] = []
    for text, style in reversed(runs):
        if count <= 0:
            break
        kept.append([text[-count:], style])
        count -= len(text)
    kept.reverse()
    return [["\u2026", ""], *kept]
