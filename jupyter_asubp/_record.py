"""The complete record of one stream of a process: bytes and their decoded text."""

from __future__ import annotations

import codecs
import os
import tempfile
from typing import BinaryIO

#: Bytes kept in memory per stream before the record moves to a temporary file.
MEMORY_LIMIT = 8 * 1024 * 1024


class StreamRecord:
    """Every byte a process wrote to one stream, in arrival order.

    The first `memory_limit` bytes stay in memory together with their decoded
    text; past that, the bytes move to an unlinked temporary file, so memory stays
    bounded however much the process writes and the file disappears with the
    record or the kernel.

    Parameters
    ----------
    encoding : str
        How to decode the bytes; what cannot be decoded becomes U+FFFD.
    max_bytes : int or None
        Keep at most this many bytes and drop the rest, counting what was dropped;
        None keeps everything.
    memory_limit : int
        Bytes kept in memory before moving to a temporary file.
    """

    def __init__(
        self,
        encoding: str = "utf-8",
        max_bytes: int | None = None,
        memory_limit: int = MEMORY_LIMIT,
    ) -> None:
        self.encoding = codecs.lookup(encoding).name
        self.max_bytes = max_bytes
        self.dropped_bytes = 0
        self.closed = False
        self._decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        self._memory_limit = memory_limit
        self._memory = bytearray()
        self._text_parts: list[str] = []
        self._file: BinaryIO | None = None
        self._size = 0

    @property
    def size(self) -> int:
        """Bytes kept so far."""
        return self._size

    def feed(self, data: bytes) -> str:
        """Keep `data` and return the text it completes."""
        if self.max_bytes is not None and self._size + len(data) > self.max_bytes:
            room = max(self.max_bytes - self._size, 0)
            self.dropped_bytes += len(data) - room
            data = data[:room]
        if not data:
            return ""

        self._size += len(data)
        text = self._decoder.decode(data)
        if self._file is not None:
            self._file.write(data)
        elif len(self._memory) + len(data) > self._memory_limit:
            self._move_to_file(data)
        else:
            self._memory += data
            self._text_parts.append(text)
        return text

    def finish(self) -> str:
        """Mark the end of the stream and return the decoder's last text.

        A character cut short at the end becomes one U+FFFD. Calling it again
        returns an empty string.
        """
        if self.closed:
            return ""
        self.closed = True
        text = self._decoder.decode(b"", final=True)
        if self._file is None:
            self._text_parts.append(text)
        return text

    def read_bytes(self, start: int = 0, end: int | None = None) -> bytes:
        """Return the kept bytes from `start` to `end` (the end of what is kept)."""
        end = self._size if end is None else min(end, self._size)
        if start >= end:
            return b""
        if self._file is None:
            return bytes(self._memory[start:end])
        self._file.flush()
        return os.pread(self._file.fileno(), end - start, start)

    def text(self) -> str:
        """Return all the text decoded so far."""
        if self._file is None:
            if len(self._text_parts) > 1:
                self._text_parts = ["".join(self._text_parts)]
            return self._text_parts[0] if self._text_parts else ""

        # The decoder's state is not kept for the file: decode it again whole,
        # leaving out a character still incomplete at its end unless the stream
        # has ended.
        data = self.read_bytes()
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        return decoder.decode(data, final=self.closed)

    def close(self) -> None:
        """Release the temporary file, if any; the memory part stays readable."""
        if self._file is not None:
            self._file.close()

    def _move_to_file(self, data: bytes) -> None:
        # Open for the record's whole life; `close` releases it.
        self._file = tempfile.TemporaryFile(prefix="jupyter_asubp-")  # noqa: SIM115
        self._file.write(self._memory)
        self._file.write(data)
        self._memory = bytearray()
        self._text_parts = []
