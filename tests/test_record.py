"""StreamRecord: every byte of a stream kept, and decoded incrementally."""

from __future__ import annotations

import asyncio
import os
import random
import sys

import pytest

import jupyter_asubp
from jupyter_asubp._record import StreamRecord

SAMPLE = (
    "ascii line\n"
    "caf\u00e9 \u20ac \U0001f600 \u4e2d\u6587\n"
    "\x1b[31mred\x1b[0m\r\n" + "x" * 5000 + "\n"
).encode() + b"bad \xff\xfe here \xe2\x82 cut\n"


def feed_in_chunks(record: StreamRecord, data: bytes, rng: random.Random) -> str:
    text = ""
    position = 0
    while position < len(data):
        size = rng.choice([1, 2, 3, rng.randint(1, 64), rng.randint(1, 9000)])
        text += record.feed(data[position : position + size])
        position += size
    return text + record.finish()


def open_temp_files() -> list[str]:
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        # An unlinked temporary file (O_TMPFILE has no name, only "(deleted)").
        if target.endswith("(deleted)"):
            targets.append(target)
    return targets


@pytest.mark.parametrize("seed", range(20))
def test_random_chunking_gives_identical_bytes_and_text(seed: int) -> None:
    rng = random.Random(seed)
    data = SAMPLE * 3 + rng.randbytes(3000)
    expected = data.decode("utf-8", errors="replace")
    record = StreamRecord(memory_limit=rng.choice([100, 10_000, 1 << 20]))
    published = feed_in_chunks(record, data, rng)
    assert record.read_bytes() == data
    assert published == expected
    assert record.text() == expected
    record.close()


def test_a_character_split_at_every_position_decodes_whole() -> None:
    data = "a\u00e9\u20ac\U0001f600\u4e2d\n".encode()
    for split in range(len(data) + 1):
        record = StreamRecord()
        text = record.feed(data[:split]) + record.feed(data[split:]) + record.finish()
        assert text == "a\u00e9\u20ac\U0001f600\u4e2d\n", split
        assert "\ufffd" not in record.text()


def test_a_character_split_in_three_reads_decodes_whole() -> None:
    record = StreamRecord()
    pieces = [record.feed(b"\xf0\x9f"), record.feed(b"\x98"), record.feed(b"\x80!")]
    assert pieces == ["", "", "\U0001f600!"]


def test_a_truncated_character_at_the_end_is_one_replacement() -> None:
    record = StreamRecord()
    assert record.feed(b"ok \xe2\x82") == "ok "
    assert record.finish() == "\ufffd"
    assert record.finish() == ""
    assert record.text() == "ok \ufffd"
    assert record.read_bytes() == b"ok \xe2\x82"


def test_undecodable_bytes_become_replacement_characters() -> None:
    record = StreamRecord()
    text = record.feed(b"caf\xe9 ok\n") + record.finish()
    assert text == "caf\ufffd ok\n"


def test_latin_1() -> None:
    record = StreamRecord("latin-1")
    text = record.feed(b"caf\xe9 ") + record.feed(bytes(range(256))) + record.finish()
    assert text == "caf\u00e9 " + bytes(range(256)).decode("latin-1")
    assert record.encoding == "iso8859-1"


def test_spill_to_a_file_keeps_every_byte_and_the_file_goes_on_close() -> None:
    rng = random.Random(7)
    data = rng.randbytes(300_000) + "\u20ac end".encode()
    record = StreamRecord(memory_limit=50_000)
    before = open_temp_files()
    published = feed_in_chunks(record, data, rng)
    assert len(open_temp_files()) == len(before) + 1
    assert record.size == len(data)
    assert record.read_bytes() == data
    assert record.read_bytes(1000, 1010) == data[1000:1010]
    assert published == record.text() == data.decode("utf-8", errors="replace")
    record.close()
    assert open_temp_files() == before


def test_text_past_the_memory_limit_holds_back_an_unfinished_character() -> None:
    record = StreamRecord(memory_limit=10)
    record.feed(b"x" * 20 + b"\xe2\x82")
    assert record.text() == "x" * 20
    record.feed(b"\xac")
    assert record.text() == "x" * 20 + "\u20ac"
    record.close()


def test_max_bytes_keeps_the_first_bytes_and_counts_the_rest() -> None:
    record = StreamRecord(max_bytes=10)
    record.feed(b"0123456")
    record.feed(b"789abcdef")
    record.finish()
    assert record.read_bytes() == b"0123456789"
    assert record.dropped_bytes == 6


CHATTY = f"{sys.executable!r} -c \"import sys; sys.stdout.write('y' * 5000)\""


def test_max_bytes_drop_is_reported_in_the_process_text() -> None:
    async def main() -> jupyter_asubp.Process:
        proc = await jupyter_asubp.start(CHATTY, max_bytes=1000)
        await proc.wait_closed(timeout=30)
        return proc

    proc = asyncio.run(main())
    assert proc.stdout_bytes == b"y" * 1000
    assert proc.stdout.startswith("y" * 1000 + "\n")
    assert "4000 more bytes were dropped" in proc.stdout
    assert "max_bytes=1000" in proc.stdout
    assert proc.stderr == ""
