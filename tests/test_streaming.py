"""Output of real children: whole, decoded, rendered like a terminal, kept bounded.

The first part drives `jupyter_asubp.start` under `asyncio.run`; the second runs
``%%asubp`` in a real kernel and reads the view's state and the transcript.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psutil
import pytest
from kernel_harness import ExecutionResult, KernelSession

import jupyter_asubp

PY = sys.executable
T = TypeVar("T")

# Children whose output broke other tools, as commands.
S1_LONG_LINE = (
    f"{PY} -c \"import sys,time; sys.stdout.write('x'*70000+'\\n'); "
    "sys.stdout.write('y'*200000); sys.stdout.flush(); time.sleep(0.5); "
    "print('END')\""
)
S2_NO_NEWLINE = (
    f'{PY} -c "import sys,time\n'
    "for i in range(5): sys.stdout.write('.'); sys.stdout.flush(); time.sleep(0.5)\n"
    "print(' done')\""
)
S3_BUFFERED = f"{PY} -c \"import time; print('first'); time.sleep(3); print('second')\""
S4_INTERLEAVED = (
    "sh -c 'echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2; sleep 0.2; "
    "echo err2 >&2'"
)
S4_NO_SLEEPS = (
    "sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do echo out$i; echo err$i >&2; done'"
)
S5_SEQ = "seq 1 100000"
S5_TAIL = "sh -c 'printf tail-no-newline'"
S6_FLOOD = "seq 1 2000000"
E1_LATIN = "printf 'caf\\351 ok\\n'"
E2_SPLIT_CHAR = (
    f"{PY} -c \"import sys,time; o=sys.stdout.buffer; o.write(b'\\xe2\\x82'); "
    "o.flush(); time.sleep(0.3); o.write(b'\\xac\\n'); o.flush()\""
)
E3_BAR = (
    f'{PY} -c "import sys,time\n'
    "for i in range(0,101,10): sys.stderr.write('\\r%3d%%' % i); "
    "sys.stderr.flush(); time.sleep(0.15)\n"
    "sys.stderr.write('\\n')\""
)
E4_COLOUR = "printf '\\033[31mred\\033[0m plain\\n'"

# Writes every byte of a text in its own write() call, flushed.
ONE_BYTE_WRITER = (
    f'{PY} -c "import os,sys\n'
    "data = ''.join(f'line {i} caf\\u00e9 \\u20ac\\n' for i in range(300)).encode()\n"
    "for b in data: os.write(1, bytes([b]))\n"
    'print(len(data), file=sys.stderr)"'
)
ONE_BYTE_EXPECTED = "".join(f"line {i} caf\u00e9 \u20ac\n" for i in range(300))

# 1 GB of random bytes on stdout in 1 MiB writes; their sha256 on stderr.
GIGABYTE = 1 << 30
RANDOM_GIGABYTE = (
    f'{PY} -c "import hashlib,os,sys\n'
    "h = hashlib.sha256(); out = sys.stdout.buffer\n"
    f"for _ in range({GIGABYTE >> 20}):\n"
    "    b = os.urandom(1 << 20); h.update(b); out.write(b)\n"
    'out.flush(); print(h.hexdigest(), file=sys.stderr)"'
)

# 20 MB of random bytes, for a view: shown as what a terminal would make of it.
RANDOM_20MB = (
    f'{PY} -c "import os,sys\n'
    'for _ in range(20): sys.stdout.buffer.write(os.urandom(1 << 20))"'
)

HTML_PAYLOAD = "<b>bold</b> <img src=x onerror=alert(1)> <script>alert(2)</script>"


def run(main: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(main())


async def finished(command: str, **options: Any) -> jupyter_asubp.Process:
    proc = await jupyter_asubp.start(command, **options)
    await proc.wait_closed(timeout=60)
    return proc


def direct(command: str) -> bytes:
    return subprocess.run(command, shell=True, capture_output=True, check=True).stdout


def unbuffered_removed() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


# With start() under asyncio.run


def test_s1_line_longer_than_64k_arrives_whole() -> None:
    proc = run(lambda: finished(S1_LONG_LINE))
    expected = b"x" * 70000 + b"\n" + b"y" * 200000 + b"END\n"
    assert proc.returncode == 0
    assert proc.stdout_bytes == expected
    assert hashlib.sha256(proc.stdout_bytes).digest() == (
        hashlib.sha256(direct(S1_LONG_LINE)).digest()
    )
    assert proc.stdout == expected.decode()
    assert proc.stderr == ""


def test_s2_output_without_newline_arrives_as_written() -> None:
    async def main() -> tuple[float, int, jupyter_asubp.Process]:
        proc = await jupyter_asubp.start(S2_NO_NEWLINE)
        started = time.monotonic()
        await proc.expect(r"\.", timeout=5)
        first = time.monotonic() - started
        await proc.expect(r"\.\.\.", timeout=5)
        dots_before_done = proc.stdout.count(".") if "done" not in proc.stdout else 0
        await proc.wait_closed(timeout=10)
        return first, dots_before_done, proc

    first, dots, proc = run(main)
    assert first < 1.0, f"first dot after {first:.2f} s"
    assert dots >= 3
    assert proc.stdout == "..... done\n"


def test_s3_python_child_does_not_block_buffer() -> None:
    async def main() -> tuple[float, float, jupyter_asubp.Process]:
        saved = os.environ.pop("PYTHONUNBUFFERED", None)
        try:
            proc = await jupyter_asubp.start(S3_BUFFERED)
        finally:
            if saved is not None:
                os.environ["PYTHONUNBUFFERED"] = saved
        started = time.monotonic()
        await proc.expect("first", timeout=5)
        first = time.monotonic() - started
        await proc.expect("second", timeout=10)
        second = time.monotonic() - started
        await proc.wait_closed(timeout=10)
        return first, second, proc

    first, second, proc = run(main)
    assert first < 1.0, f"'first' after {first:.2f} s: the child block-buffers"
    assert 2.5 < second < 5.0
    assert proc.stdout == "first\nsecond\n"


def test_s3_the_users_pythonunbuffered_is_kept() -> None:
    show = f"{PY} -c \"import os; print(repr(os.environ.get('PYTHONUNBUFFERED')))\""
    proc = run(lambda: finished(show, env={"PYTHONUNBUFFERED": ""}))
    assert proc.stdout == "''\n"
    saved = os.environ.pop("PYTHONUNBUFFERED", None)
    try:
        proc = run(lambda: finished(show))
    finally:
        if saved is not None:
            os.environ["PYTHONUNBUFFERED"] = saved
    assert proc.stdout == "'1'\n"


def test_s4_each_stream_in_order() -> None:
    proc = run(lambda: finished(S4_INTERLEAVED))
    assert proc.stdout == "out1\nout2\n"
    assert proc.stderr == "err1\nerr2\n"


def test_merge_stderr_keeps_exact_order() -> None:
    proc = run(lambda: finished(S4_NO_SLEEPS, merge_stderr=True))
    assert proc.stdout == "".join(f"out{i}\nerr{i}\n" for i in range(1, 11))
    assert proc.stderr == ""
    assert proc.stderr_bytes == b""


def test_s5_nothing_lost_at_the_end() -> None:
    proc = run(lambda: finished(S5_SEQ))
    lines = proc.stdout.splitlines()
    assert len(lines) == 100000
    assert lines[-1] == "100000"
    assert hashlib.sha256(proc.stdout_bytes).digest() == (
        hashlib.sha256(direct(S5_SEQ)).digest()
    )
    proc = run(lambda: finished(S5_TAIL))
    assert proc.stdout == "tail-no-newline"


def test_e1_undecodable_bytes_and_latin_1() -> None:
    proc = run(lambda: finished(E1_LATIN))
    assert proc.returncode == 0
    assert proc.stdout == "caf\ufffd ok\n"
    assert proc.stdout_bytes == b"caf\xe9 ok\n"
    proc = run(lambda: finished(E1_LATIN, encoding="latin-1"))
    assert proc.stdout == "caf\u00e9 ok\n"
    assert proc.stdout_bytes == b"caf\xe9 ok\n"


def test_e2_character_split_across_reads() -> None:
    proc = run(lambda: finished(E2_SPLIT_CHAR))
    assert proc.stdout == "\u20ac\n"


def test_e4_handle_keeps_escapes_and_strip_ansi_removes_them() -> None:
    proc = run(lambda: finished(E4_COLOUR))
    assert proc.stdout == "\x1b[31mred\x1b[0m plain\n"
    assert jupyter_asubp.strip_ansi(proc.stdout) == "red plain\n"
    proc = run(lambda: finished("echo hi | grep --color=auto hi"))
    assert proc.stdout == "hi\n"


def test_child_writing_one_byte_at_a_time() -> None:
    proc = run(lambda: finished(ONE_BYTE_WRITER))
    assert proc.stdout == ONE_BYTE_EXPECTED
    assert proc.stdout_bytes == ONE_BYTE_EXPECTED.encode()
    assert proc.stderr == f"{len(ONE_BYTE_EXPECTED.encode())}\n"


# In a real kernel


@pytest.fixture(scope="module")
def asubp(shared_kernel: KernelSession) -> KernelSession:
    shared_kernel.load_extension()
    shared_kernel.execute("import jupyter_asubp, os, hashlib")
    return shared_kernel


def view_lines(state: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (stream, "".join(run[0] for run in runs)) for stream, runs in state["lines"]
    ]


def cell(kernel: KernelSession, code: str, timeout: float = 30.0) -> ExecutionResult:
    result = kernel.execute(code, timeout)
    assert result.status == "ok", f"{code!r} failed: {result.error}"
    return result


def run_cell(
    kernel: KernelSession, code: str, timeout: float = 30.0
) -> tuple[str, dict[str, Any], str]:
    """Run a waiting %%asubp cell; return its view's id, end state, transcript."""
    result = cell(kernel, code, timeout)
    model_id = kernel.view_model_id(result.msg_id)
    state = kernel.wait_for_widget_state(
        model_id, lambda s: s["ended"], 10, "the view's end"
    )
    return model_id, state, kernel.transcript(result.msg_id)


def test_kernel_s4_combined_view_is_in_arrival_order(asubp: KernelSession) -> None:
    _, state, transcript = run_cell(asubp, f"%%asubp --wait\n{S4_INTERLEAVED}")
    assert view_lines(state) == [
        ("stdout", "out1"),
        ("stderr", "err1"),
        ("stdout", "out2"),
        ("stderr", "err2"),
    ]
    assert transcript.splitlines()[1:] == [
        "out1",
        "[stderr] err1",
        "out2",
        "[stderr] err2",
        "[exited with code 0]",
    ]


def test_kernel_merge_stderr_exact_order(asubp: KernelSession) -> None:
    _, state, transcript = run_cell(
        asubp, f"%%asubp --wait --merge-stderr\n{S4_NO_SLEEPS}"
    )
    expected = [f"{kind}{i}" for i in range(1, 11) for kind in ("out", "err")]
    assert view_lines(state) == [("stdout", line) for line in expected]
    assert transcript.splitlines()[1:-1] == expected


def test_kernel_s3_child_does_not_block_buffer(asubp: KernelSession) -> None:
    cell(asubp, "_saved = os.environ.pop('PYTHONUNBUFFERED', None)")
    try:
        msg_id = asubp.start_execute(f"%%asubp\n{S3_BUFFERED}")
        model_id = asubp.view_model_id(msg_id)
        started = time.monotonic()
        asubp.wait_for_widget_state(
            model_id, lambda s: ("stdout", "first") in view_lines(s), 5, "'first'"
        )
        first = time.monotonic() - started
        state = asubp.wait_for_widget_state(
            model_id, lambda s: s["ended"], 10, "the end"
        )
        second = time.monotonic() - started
        asubp.wait_idle(msg_id)
    finally:
        cell(asubp, "if _saved is not None: os.environ['PYTHONUNBUFFERED'] = _saved")
    assert first < 1.0, f"'first' shown after {first:.2f} s"
    assert 2.5 < second < 5.0
    assert view_lines(state) == [("stdout", "first"), ("stdout", "second")]


def test_kernel_s5_view_tail_says_what_it_hides(asubp: KernelSession) -> None:
    _, state, transcript = run_cell(asubp, f"%%asubp --wait --name s5\n{S5_SEQ}")
    assert state["hidden_lines"] == 98000
    assert len(state["lines"]) == 2000
    assert view_lines(state)[-1] == ("stdout", "100000")
    lines = transcript.splitlines()
    assert lines[0] == f"$ {S5_SEQ}"
    assert "98000 earlier lines not shown" in lines[1]
    assert lines[2:-1] == [str(i) for i in range(98001, 100001)]
    assert lines[-1] == "[exited with code 0]"
    digest = cell(asubp, "hashlib.sha256(s5.stdout_bytes).hexdigest()").text_plain
    assert digest == [repr(hashlib.sha256(direct(S5_SEQ)).hexdigest())]
    assert cell(asubp, "len(s5.stdout.splitlines())").text_plain == ["100000"]

    _, state, transcript = run_cell(asubp, f"%%asubp --wait\n{S5_TAIL}")
    assert view_lines(state) == [("stdout", "tail-no-newline")]
    assert transcript.splitlines()[1:] == ["tail-no-newline", "[exited with code 0]"]


def test_kernel_s6_flood(asubp: KernelSession) -> None:
    mark = asubp.mark()
    started = time.monotonic()
    msg_id = asubp.start_execute(f"%%asubp --name flood\n{S6_FLOOD}")
    model_id = asubp.view_model_id(msg_id)
    asubp.wait_idle(msg_id)
    round_trip = asubp.round_trip()
    # The exit is shown at once; the rest of the output may still be draining.
    state = asubp.wait_for_widget_state(
        model_id,
        lambda s: s["ended"] and view_lines(s)[-1:] == [("stdout", "2000000")],
        10,
        "the end and the last line",
    )
    took = time.monotonic() - started
    updates = [
        m
        for m in asubp.iopub_log(mark)
        if m["msg_type"] == "comm_msg"
        and m["content"].get("comm_id") == model_id
        and "lines" in m["content"].get("data", {}).get("state", {})
    ]
    assert took < 10, f"seq 1 2000000 took {took:.1f} s"
    assert round_trip < 1.0, f"1+1 took {round_trip:.2f} s during the flood"
    assert len(updates) <= 10 + 10 * took, f"{len(updates)} updates in {took:.1f} s"
    assert view_lines(state)[-1] == ("stdout", "2000000")
    assert state["hidden_lines"] == 2000000 - 2000
    size = cell(asubp, "len(flood.stdout_bytes)").text_plain
    assert size == [str(len(direct(S6_FLOOD)))]


def test_kernel_e1_latin_1_option(asubp: KernelSession) -> None:
    _, state, transcript = run_cell(asubp, f"%%asubp --wait\n{E1_LATIN}")
    assert view_lines(state) == [("stdout", "caf\ufffd ok")]
    _, state, transcript = run_cell(
        asubp, f"%%asubp --wait --encoding latin-1 --name e1\n{E1_LATIN}"
    )
    assert view_lines(state) == [("stdout", "caf\u00e9 ok")]
    assert transcript.splitlines()[1] == "caf\u00e9 ok"
    assert cell(asubp, "e1.stdout_bytes").text_plain == [repr(b"caf\xe9 ok\n")]


def test_kernel_e2_split_character(asubp: KernelSession) -> None:
    _, state, _ = run_cell(asubp, f"%%asubp --wait\n{E2_SPLIT_CHAR}")
    assert view_lines(state) == [("stdout", "\u20ac")]


def test_kernel_e3_progress_bar_is_one_updating_line(asubp: KernelSession) -> None:
    msg_id = asubp.start_execute(f"%%asubp\n{E3_BAR}")
    model_id = asubp.view_model_id(msg_id)
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = asubp.widget_state(model_id)
        assert len(state["lines"]) <= 1
        seen.update(text for _, text in view_lines(state))
        if state["ended"]:
            break
        time.sleep(0.05)
    assert len(seen) >= 3, f"only {sorted(seen)} seen while it ran"
    assert view_lines(state) == [("stderr", "100%")]
    transcript = asubp.transcript(msg_id)
    # The command takes the first lines ("$ ..." and "> ..." continuations).
    output = [line for line in transcript.splitlines() if line[:2] not in ("$ ", "> ")]
    assert output == ["[stderr] 100%", "[exited with code 0]"]
    assert "\r" not in transcript


def test_kernel_e3_crlf_and_carriage_return(asubp: KernelSession) -> None:
    _, state, transcript = run_cell(
        asubp, "%%asubp --wait\nprintf 'one\\r\\ntwo\\r\\n'; printf 'abc\\rX\\n'"
    )
    assert view_lines(state) == [
        ("stdout", "one"),
        ("stdout", "two"),
        ("stdout", "Xbc"),
    ]
    assert transcript.splitlines()[1:-1] == ["one", "two", "Xbc"]


def test_kernel_e4_colour_in_the_view_plain_in_the_transcript(
    asubp: KernelSession,
) -> None:
    _, state, transcript = run_cell(asubp, f"%%asubp --wait --name e4\n{E4_COLOUR}")
    assert state["lines"] == [["stdout", [["red", "31"], [" plain", ""]]]]
    assert transcript.splitlines()[1] == "red plain"
    assert cell(asubp, "e4.stdout").text_plain == [repr("\x1b[31mred\x1b[0m plain\n")]


def test_kernel_html_in_output_is_text(asubp: KernelSession) -> None:
    result = cell(asubp, f"%%asubp --wait\nprintf '%s\\n' '{HTML_PAYLOAD}'")
    model_id = asubp.view_model_id(result.msg_id)
    state = asubp.wait_for_widget_state(model_id, lambda s: s["ended"], 10, "end")
    assert view_lines(state) == [("stdout", HTML_PAYLOAD)]
    assert HTML_PAYLOAD in asubp.transcript(result.msg_id)
    for message in result.outputs:
        assert "text/html" not in message["content"].get("data", {})


def test_kernel_max_lines_option_and_config(asubp: KernelSession) -> None:
    command = "seq 1 50"
    _, state, transcript = run_cell(asubp, f"%%asubp --wait --max-lines 5\n{command}")
    assert view_lines(state) == [("stdout", str(i)) for i in range(46, 51)]
    assert state["hidden_lines"] == 45
    assert "45 earlier lines not shown" in transcript.splitlines()[1]
    assert transcript.splitlines()[2:-1] == [str(i) for i in range(46, 51)]

    cell(asubp, "%config AsubpMagics.max_lines = 7")
    try:
        _, state, transcript = run_cell(asubp, f"%%asubp --wait\n{command}")
        assert state["hidden_lines"] == 43
        assert len(state["lines"]) == 7
        assert transcript.splitlines()[2:-1] == [str(i) for i in range(44, 51)]
        # The option wins over the configuration.
        _, state, _ = run_cell(asubp, f"%%asubp --wait --max-lines 3\n{command}")
        assert len(state["lines"]) == 3
    finally:
        cell(asubp, "%config AsubpMagics.max_lines = 2000")


def test_kernel_max_chars_option_and_config(asubp: KernelSession) -> None:
    command = "seq 1000 1099"  # 100 lines of 4 characters
    _, state, transcript = run_cell(asubp, f"%%asubp --wait --max-chars 40\n{command}")
    assert view_lines(state) == [("stdout", str(i)) for i in range(1090, 1100)]
    assert state["hidden_lines"] == 90
    assert "90 earlier lines not shown" in transcript.splitlines()[1]

    cell(asubp, "%config AsubpMagics.max_chars = 20")
    try:
        _, state, _ = run_cell(asubp, f"%%asubp --wait\n{command}")
        assert view_lines(state) == [("stdout", str(i)) for i in range(1095, 1100)]
    finally:
        cell(asubp, "%config AsubpMagics.max_chars = 1000000")


def test_kernel_max_bytes_option_reports_the_drop(asubp: KernelSession) -> None:
    run_cell(asubp, "%%asubp --wait --max-bytes 10 --name capped\nseq 1 100")
    text = cell(asubp, "print(capped.stdout)").stdout
    assert text.startswith("1\n2\n3\n4\n5\n\n[jupyter_asubp: 282 more bytes")
    assert "max_bytes=10" in text


def wait_measuring_rss(
    kernel: KernelSession, code: str, timeout: float
) -> tuple[float, int]:
    """Run `code` in the kernel; return its seconds and the kernel's RSS growth."""
    process = psutil.Process(kernel.kernel_pid)
    cell(kernel, "import gc; gc.collect()")
    baseline = peak = process.memory_info().rss
    started = time.monotonic()
    msg_id = kernel.start_execute(code)
    while not any(
        m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
        for m in kernel.messages_for(msg_id)
    ):
        assert time.monotonic() < started + timeout, f"{code!r} took over {timeout} s"
        peak = max(peak, process.memory_info().rss)
        time.sleep(0.05)
    took = time.monotonic() - started
    result = kernel.wait_idle(msg_id)
    assert result.status == "ok", result.error
    return took, max(peak, process.memory_info().rss) - baseline


def test_kernel_gigabyte_of_random_bytes_keeps_every_byte(
    asubp: KernelSession,
) -> None:
    took, growth = wait_measuring_rss(
        asubp,
        f"big = await jupyter_asubp.start({RANDOM_GIGABYTE!r})\n"
        "await big.wait_closed()",
        90,
    )
    print(
        f"\n1 GB through the handle in {took:.1f} s; kernel RSS +{growth / 1e6:.1f} MB"
    )
    assert growth < 100e6, f"kernel RSS grew {growth / 1e6:.0f} MB"

    # Measured above; reading the handle's bytes whole takes 1 GB, for a moment.
    check = (
        "_data = big.stdout_bytes\n"
        "(len(_data), hashlib.sha256(_data).hexdigest(), big.stderr.strip())"
    )
    size, ours, theirs = ast.literal_eval(cell(asubp, check, 60).text_plain[0])
    cell(asubp, "del _data; await big.aclose(); del big")
    assert size == GIGABYTE
    assert ours == theirs


def test_kernel_view_of_random_bytes_stays_bounded(asubp: KernelSession) -> None:
    took, growth = wait_measuring_rss(
        asubp, f"%%asubp --wait --name noise\n{RANDOM_20MB}", 60
    )
    print(f"\n20 MB through a view in {took:.1f} s; kernel RSS +{growth / 1e6:.1f} MB")
    assert growth < 100e6, f"kernel RSS grew {growth / 1e6:.0f} MB"
    size = cell(asubp, "noise._records['stdout'].size").text_plain
    assert size == [str(20 << 20)]
    rendered = cell(asubp, "len(noise._view.widget.lines)").text_plain
    assert int(rendered[0]) <= 2000
    cell(asubp, "await noise.aclose(); del noise")
