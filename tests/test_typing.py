"""Typical user code type-checks under mypy --strict against the shipped types."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

USER_CODE = textwrap.dedent(
    """
    from __future__ import annotations

    import asyncio
    import re

    import jupyter_asubp
    from jupyter_asubp import (
        EndOfStreamError,
        ExpectTimeoutError,
        Process,
        ProcessFailedError,
        RunResult,
        StdinClosedError,
    )


    async def talk() -> list[str]:
        async with jupyter_asubp.start(["python3", "-i", "-q"], timeout=30) as repl:
            await repl.send_line("6*7")
            match: re.Match[str] = await repl.expect([r"\\d+", "Error"], timeout=5)
            lines = [line async for line in repl.lines("stderr", from_start=False)]
            return [match.group(), *lines]


    async def main() -> None:
        proc: Process = await jupyter_asubp.start("cat", cwd=".", env={"A": "b"})
        await proc.send(b"bytes\\n")
        await proc.send("text\\n")
        await proc.close_stdin()
        code: int = await proc.wait(timeout=5.0)
        closed: int = await proc.wait_closed()
        pid: int | None = proc.pid
        text: str = proc.stdout + proc.stderr + proc.state
        raw: bytes = proc.stdout_bytes
        proc.interrupt()
        proc.terminate()
        proc.kill()
        stopped: int = await proc.stop(grace=1.0, interrupt=True)
        result: RunResult = await jupyter_asubp.run("true", input="x", check=True)
        status: int = result.returncode
        everything: list[Process] = jupyter_asubp.processes()
        plain: str = jupyter_asubp.strip_ansi(text)
        try:
            await talk()
        except (ExpectTimeoutError, EndOfStreamError) as error:
            seen: str = error.seen
        except (ProcessFailedError, StdinClosedError):
            pass
        print(code, closed, pid, raw, stopped, status, everything, plain)


    asyncio.run(main())
    """
)


def test_typical_user_code_passes_mypy_strict(tmp_path: Path) -> None:
    script = tmp_path / "user_code.py"
    script.write_text(USER_CODE)
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
