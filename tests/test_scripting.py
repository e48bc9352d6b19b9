"""Driving interactive programs from code: expect, lines, run, and outside Jupyter."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pexpect
import pytest

import jupyter_asubp
from jupyter_asubp import (
    EndOfStreamError,
    ExpectTimeoutError,
    ProcessFailedError,
    StdinClosedError,
)

T = TypeVar("T")

PYTHON = sys.executable
IPYTHON = str(Path(sys.executable).with_name("ipython"))

GUESSING_GAME = textwrap.dedent(
    """
    secret = 37
    print("Guess a number from 1 to 100.")
    while True:
        guess = int(input("guess> "))
        if guess < secret:
            print("higher")
        elif guess > secret:
            print("lower")
        else:
            print("right!")
            break
    """
)

SLOW_LINES = (
    "import sys, time\n"
    "for word in ['one', 'two', 'three']:\n"
    "    print(word, flush=True); time.sleep(0.2)\n"
    "sys.stdout.write('unterminated'); sys.stdout.flush()"
)


def run_async(make: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    """Run a coroutine under a timeout that names what hung."""

    async def bounded() -> T:
        # Not wait_for: its TimeoutError could not be told from the code's own.
        task = asyncio.ensure_future(make())
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
            raise AssertionError(f"{make} did not finish within {timeout} s")
        return task.result()

    return asyncio.run(bounded())


def test_expect_on_a_python_repl() -> None:
    async def talk() -> list[str]:
        async with jupyter_asubp.start([PYTHON, "-i", "-q"]) as repl:
            answers = []
            for expression in ("1+1", "6*7"):
                await repl.send_line(expression)
                answers.append((await repl.expect(r"\d+\n", timeout=10)).group())
            await repl.close_stdin()
            await repl.wait(timeout=10)
            return answers

    assert run_async(talk) == ["2\n", "42\n"]


def test_expect_plays_a_guessing_game_by_bisection() -> None:
    async def play() -> int:
        game = await jupyter_asubp.start([PYTHON, "-c", GUESSING_GAME])
        low, high, tries = 1, 100, 0
        await game.expect("Guess a number")
        while True:
            await game.expect("guess> ")
            guess = (low + high) // 2
            tries += 1
            await game.send_line(str(guess))
            verdict = await game.expect(["higher", "lower", "right!"])
            if verdict.group() == "right!":
                break
            if verdict.group() == "higher":
                low = guess + 1
            else:
                high = guess - 1
        assert await game.wait(timeout=10) == 0
        return tries

    assert run_async(play) <= 7


def test_expect_list_tells_which_pattern_matched() -> None:
    async def match() -> tuple[str, str]:
        async with jupyter_asubp.start("echo beta; echo alpha") as proc:
            first = await proc.expect(["alpha", "beta"])
            second = await proc.expect(["alpha", "beta"])
            return first.re.pattern, second.re.pattern

    assert run_async(match) == ("beta", "alpha")


def test_text_consumed_by_a_match_is_not_matched_again() -> None:
    async def match() -> list[str]:
        async with jupyter_asubp.start("echo a1 a2 a3") as proc:
            return [(await proc.expect(r"a\d")).group() for _ in range(3)]

    assert run_async(match) == ["a1", "a2", "a3"]


@pytest.mark.skipif(shutil.which("bc") is None, reason="bc is not installed")
def test_expect_on_bc() -> None:
    async def calculate() -> str:
        async with jupyter_asubp.start(["bc", "-q"]) as bc:
            await bc.send_line("2^64")
            return (await bc.expect(r"\d+", timeout=10)).group()

    assert run_async(calculate) == str(2**64)


def test_expect_timeout_shows_the_last_text_seen() -> None:
    async def wait_for_nothing() -> None:
        async with jupyter_asubp.start("echo 'almost there'; sleep 30") as proc:
            await proc.expect("never printed", timeout=0.5)

    started = time.monotonic()
    with pytest.raises(ExpectTimeoutError, match="almost there") as caught:
        run_async(wait_for_nothing)
    assert time.monotonic() - started < 5
    assert "almost there" in caught.value.seen


def test_expect_end_of_stream_error() -> None:
    async def wait_past_the_end() -> None:
        async with jupyter_asubp.start("echo bye") as proc:
            await proc.expect("never printed", timeout=10)

    with pytest.raises(EndOfStreamError, match="bye"):
        run_async(wait_past_the_end)


def test_expect_on_stderr() -> None:
    async def match() -> str:
        async with jupyter_asubp.start("echo out; echo 'warning: x' >&2") as proc:
            return (await proc.expect(r"warning: \w", stream="stderr")).group()

    assert run_async(match) == "warning: x"


def test_lines_with_a_slow_producer_and_an_unterminated_last_line() -> None:
    async def collect() -> tuple[list[str], list[float]]:
        proc = await jupyter_asubp.start([PYTHON, "-c", SLOW_LINES])
        started = time.monotonic()
        lines, times = [], []
        async for line in proc.lines():
            lines.append(line)
            times.append(time.monotonic() - started)
        return lines, times

    lines, times = run_async(collect)
    assert lines == ["one", "two", "three", "unterminated"]
    # Lines arrive as they are written, not all at the end.
    assert times[0] < times[-1] - 0.3


def test_two_line_readers_each_get_every_line() -> None:
    async def collect() -> tuple[list[str], list[str]]:
        proc = await jupyter_asubp.start("for i in 1 2 3; do echo $i; sleep 0.1; done")

        async def read() -> list[str]:
            return [line async for line in proc.lines()]

        first, second = await asyncio.gather(read(), read())
        return first, second

    assert run_async(collect) == (["1", "2", "3"], ["1", "2", "3"])


def test_lines_from_now_on_skips_what_came_before() -> None:
    async def collect() -> list[str]:
        proc = await jupyter_asubp.start("echo early; read go; echo late")
        await proc.expect("early")
        reader = proc.lines(from_start=False)
        await proc.send_line("go")
        return [line async for line in reader]

    assert run_async(collect) == ["late"]


def test_run_returns_the_result() -> None:
    result = run_async(lambda: jupyter_asubp.run("tr a-z A-Z", input="shout\n"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "SHOUT\n", "")


def test_run_with_check_raises_with_the_tail_of_stderr() -> None:
    with pytest.raises(ProcessFailedError, match="disk is full") as caught:
        run_async(
            lambda: jupyter_asubp.run("echo 'disk is full' >&2; exit 4", check=True)
        )
    assert caught.value.returncode == 4
    assert "disk is full" in caught.value.stderr_tail


def test_run_without_check_returns_the_failure() -> None:
    result = run_async(lambda: jupyter_asubp.run("exit 4"))
    assert result.returncode == 4


def test_run_timeout_stops_the_process() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"timed out after 0\.5 s"):
        run_async(lambda: jupyter_asubp.run("sleep 30", timeout=0.5))
    assert time.monotonic() - started < 5


def test_leaving_the_context_manager_stops_the_process() -> None:
    async def leave() -> jupyter_asubp.Process:
        async with jupyter_asubp.start("sleep 30") as proc:
            assert proc.running
        return proc

    proc = run_async(leave)
    assert proc.returncode == -15
    assert proc.state == "killed by signal SIGTERM"


def test_sending_after_the_end_raises_the_documented_error() -> None:
    async def send_late() -> None:
        proc = await jupyter_asubp.start("true")
        await proc.wait()
        await proc.send_line("too late")

    with pytest.raises(StdinClosedError, match="has ended"):
        run_async(send_late)


PLAIN_ASYNCIO = textwrap.dedent(
    """
    import asyncio, sys
    import jupyter_asubp

    async def main():
        result = await jupyter_asubp.run("echo plain", check=True)
        async with jupyter_asubp.start(["cat"]) as cat:
            await cat.send_line("echoed")
            await cat.expect("echoed")
        return result.stdout

    print(asyncio.run(main()).strip())
    loaded = [m for m in ("IPython", "ipykernel", "ipywidgets", "anywidget")
              if m in sys.modules]
    print("loaded:", loaded)
    """
)


def test_api_works_under_plain_asyncio_without_jupyter() -> None:
    """The handle must not need IPython, ipykernel or widgets."""
    done = subprocess.run(
        [PYTHON, "-c", PLAIN_ASYNCIO],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["plain", "loaded: []"]


@pytest.fixture
def terminal_ipython(tmp_path: Path) -> Any:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "TERM": "dumb",
    }
    child = pexpect.spawn(
        IPYTHON,
        ["--simple-prompt", "--no-banner", "--colors=NoColor"],
        encoding="utf-8",
        timeout=20,
        env=env,
    )
    child.expect(r"In \[1\]: ")
    yield child
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close(force=True)


def test_terminal_ipython_runs_the_cell_in_the_foreground(
    terminal_ipython: Any,
) -> None:
    ipython = terminal_ipython
    ipython.logfile_read = seen = io.StringIO()
    ipython.sendline("%load_ext jupyter_asubp")
    ipython.expect(r"In \[2\]: ")
    ipython.sendline("%%asubp")
    ipython.sendline('echo out1; echo err1 >&2; printf "Name? "; read x; echo "got $x"')
    # With --simple-prompt a cell magic ends at the second empty line.
    ipython.sendline("")
    ipython.sendline("")
    ipython.expect("Name\\? ")
    ipython.sendline("abc")
    ipython.expect("got abc")
    ipython.expect(r"In \[3\]: ")
    output = seen.getvalue().splitlines()
    assert "out1" in output
    assert "err1" in seen.getvalue()
    # Streamed once; no transcript printed after it.
    assert seen.getvalue().count("got abc") == 1


def test_terminal_ipython_ctrl_c_stops_the_process(terminal_ipython: Any) -> None:
    ipython = terminal_ipython
    ipython.sendline("%load_ext jupyter_asubp")
    ipython.expect(r"In \[2\]: ")
    ipython.sendline("%asubp sh -c 'echo started; exec sleep 30'")
    ipython.expect("\r\nstarted")
    # The Ctrl-C handler is set once the start returns, just after this output.
    time.sleep(0.5)
    started = time.monotonic()
    ipython.sendintr()
    ipython.expect("ProcessInterruptedError: interrupted .*killed by signal SIGINT")
    ipython.expect(r"In \[3\]: ")
    assert time.monotonic() - started < 3
