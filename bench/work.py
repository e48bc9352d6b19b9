"""What the benchmarks run, the same inside a kernel cell and in plain asyncio.

Every function is a coroutine returning plain data (JSON-able), so a kernel cell
can ``await`` it and hand the result back through a user expression.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

from jupyter_asubp import start

MB = 1_000_000


async def ingest(size: int) -> dict[str, Any]:
    """Time `size` bytes of /dev/zero through cat, jupyter_asubp and a StreamReader.

    Returns seconds for each and checks that jupyter_asubp's handle holds every
    byte. The three are taken back to back, so their ratios come from one run.
    """
    head = ["head", "-c", str(size), "/dev/zero"]

    # The pipe's limit; blocking the loop meanwhile is harmless: nothing else runs.
    cat_command = f"head -c {size} /dev/zero | cat > /dev/null"
    began = time.perf_counter()
    subprocess.run(cat_command, shell=True, check=True)  # noqa: ASYNC221
    cat = time.perf_counter() - began

    began = time.perf_counter()
    process = await start(head)
    await process.wait_closed()
    asubp = time.perf_counter() - began
    held = len(process.stdout_bytes)
    await process.aclose()
    if held != size:
        raise AssertionError(f"jupyter_asubp held {held} bytes of {size}")

    began = time.perf_counter()
    child = await asyncio.create_subprocess_exec(*head, stdout=asyncio.subprocess.PIPE)
    assert child.stdout is not None
    received = 0
    while chunk := await child.stdout.read(65536):
        received += len(chunk)
    await child.wait()
    reader = time.perf_counter() - began
    if received != size:
        raise AssertionError(f"the StreamReader got {received} bytes of {size}")

    return {"cat": cat, "asubp": asubp, "streamreader": reader}


async def echo(count: int) -> list[float]:
    """Return the seconds from `send_line` to the echo in the handle, per line."""
    process = await start(["cat"])
    latencies = []
    try:
        for n in range(count):
            line = f"echo line {n:06d}"
            began = time.perf_counter()
            await process.send_line(line)
            await process.expect(line + "\n", timeout=10)
            latencies.append(time.perf_counter() - began)
        await process.close_stdin()
        await process.wait_closed(timeout=10)
    finally:
        await process.aclose()
    return latencies


async def many(count: int, lines: int) -> dict[str, Any]:
    """Start `count` processes printing `lines` lines each, stream and reap them."""
    command = f"seq {lines}"
    expected = sum(len(f"{n}\n") for n in range(1, lines + 1))
    began = time.perf_counter()
    processes = [await start(command) for _ in range(count)]
    codes = await asyncio.gather(*(p.wait_closed(timeout=60) for p in processes))
    seconds = time.perf_counter() - began
    short = [p.pid for p in processes if len(p.stdout_bytes) != expected]
    for process in processes:
        await process.aclose()
    if short or any(codes):
        raise AssertionError(f"processes lost output or failed: {short} {codes}")
    return {"seconds": seconds}
