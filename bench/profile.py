"""Profile the kernel with py-spy while it runs one cell; print the hot functions.

Usage::

    python -m bench.profile "%%asubp --wait\\nhead -c 200000000 /dev/zero"
    python -m bench.profile --setup "import bench.work as w" \\
        "await w.ingest(200_000_000)"

Needs ``pip install py-spy``. Prints each function's share of the samples taken
while the cell ran: on its own (self) and with what it calls (total).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

from bench.kernel import BenchKernel


def profile(cell: str, setup: list[str], rate: int, top: int) -> str:
    py_spy = shutil.which("py-spy") or os.path.join(
        os.path.dirname(sys.executable), "py-spy"
    )
    with tempfile.TemporaryDirectory() as tmp, BenchKernel() as kernel:
        kernel.execute("%load_ext jupyter_asubp")
        for cell_before in setup:
            kernel.execute(cell_before)
        raw = os.path.join(tmp, "stacks.txt")
        spy = subprocess.Popen(
            [
                *[py_spy, "record", "-p", str(kernel.pid), "-r", str(rate)],
                *["-f", "raw", "-o", raw, "--nonblocking"],
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(1.0)
            reply = kernel.execute(cell, timeout=1200)
        finally:
            spy.send_signal(2)
            spy.wait(timeout=30)
            kernel.execute("%asubp --kill all", timeout=60)
        with open(raw) as f:
            stacks = [line.rsplit(" ", 1) for line in f if line.strip()]
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for stack, count in stacks:
        n = int(count)
        frames = stack.split(";")
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    lines = [
        f"cell: {reply.seconds:.2f} s, status {reply.content.get('status')}, "
        f"{samples} samples (idle time in epoll counts as samples)",
        "self%  total%  function",
    ]
    for frame, n in own.most_common(top):
        lines.append(
            f"{100 * n / samples:5.1f}  {100 * total[frame] / samples:6.1f}  {frame}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cell", help="the cell to run (\\n for newlines)")
    parser.add_argument(
        "--setup",
        action="append",
        default=[],
        help="a cell to run first, unprofiled (repeatable)",
    )
    parser.add_argument("--rate", type=int, default=500, help="samples per second")
    parser.add_argument("--top", type=int, default=25)
    options = parser.parse_args()
    print(
        profile(
            options.cell.replace("\\n", "\n"),
            [cell.replace("\\n", "\n") for cell in options.setup],
            options.rate,
            options.top,
        )
    )


if __name__ == "__main__":
    main()
