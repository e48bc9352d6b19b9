"""Field case L2: Kernel > Interrupt on a cell that waits for a process."""

from __future__ import annotations

import time

import psutil
import pytest
from kernel_harness import KernelSession, living

# Three commands a waiting cell is interrupted in; the sleep lengths make each
# run's tree findable.
COMMANDS = {
    "plain": "sh -c 'echo started; sleep 60.{n}'",
    "ignores_sigint": "sh -c \"trap '' INT; echo started; sleep 60.{n}\"",
    "setsid_grandchild": "sh -c 'setsid sleep 61.{n} & echo started; wait'",
}
HOW = {
    "magic_wait": "%%asubp --wait --name p\n{command}",
    "await_wait": (
        "from jupyter_asubp import start\np = await start({command!r})\nawait p.wait()"
    ),
}


@pytest.fixture(scope="module")
def k(shared_kernel: KernelSession) -> KernelSession:
    shared_kernel.load_extension()
    return shared_kernel


def tree_of(marker: str, timeout: float = 10.0) -> list[psutil.Process]:
    """Wait for the `sleep` with `marker` to run; return it and its ancestors' tree."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in psutil.process_iter(["cmdline"]):
            if proc.info["cmdline"] == ["sleep", marker]:
                members = [proc]
                parent = proc.parent()
                while parent is not None and parent.name() in ("sh", "setsid"):
                    members.append(parent)
                    parent = parent.parent()
                return members
        time.sleep(0.02)
    raise AssertionError(f"no 'sleep {marker}' started within {timeout:g} s")


@pytest.mark.parametrize("how", list(HOW))
@pytest.mark.parametrize("which", list(COMMANDS))
def test_interrupt_ends_the_cell_with_an_error_and_stops_the_tree(
    k: KernelSession, which: str, how: str
) -> None:
    n = list(COMMANDS).index(which) * 10 + list(HOW).index(how) + 1
    command = COMMANDS[which].format(n=n)
    marker = command.split("sleep ")[1].split()[0].rstrip("'\";")
    background = k.execute("%%asubp --name bg\nsleep 90")
    assert background.status == "ok", background.error

    msg_id = k.start_execute(HOW[how].format(command=command))
    k.wait_started(msg_id)
    tree = tree_of(marker)
    time.sleep(0.3)
    interrupted = time.monotonic()
    k.interrupt()
    result = k.wait_idle(msg_id, timeout=10)
    took = time.monotonic() - interrupted

    assert took < 2.0, f"the cell took {took:.2f} s to end after the interrupt"
    assert result.status == "error"
    assert result.error is not None
    assert result.error.ename == "ProcessInterruptedError"
    deadline = interrupted + 3.0
    while living(tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not living(tree), f"still running 3 s after the interrupt: {living(tree)}"

    # The tree is gone; the kernel may take a moment more to reap its child.
    states = k.execute(
        "import asyncio\n"
        "for _ in range(100):\n"
        "    if not p.running: break\n"
        "    await asyncio.sleep(0.02)\n"
        "print(p.state); print(bg.state)"
    )
    assert states.stdout.splitlines() == ["killed by signal SIGTERM", "running"]
    stopped = k.execute("await bg.stop()")
    assert stopped.status == "ok", stopped.error
