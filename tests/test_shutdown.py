"""Kernel shutdown, restart and a hard kill end the processes it started."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import psutil
from conftest import LeakCheck
from kernel_harness import KernelSession, living

FORKS = (
    f"{sys.executable} -c 'import os,time\n"
    "if os.fork() == 0:\n    time.sleep(304)\nelse:\n    time.sleep(305)'"
)
# Plain, with a grandchild in its own session, ignoring SIGTERM, and a forking one.
CHILDREN = [
    "%%asubp\nsleep 300",
    "%%asubp\nsetsid sleep 301 & sleep 302",
    "%%asubp\ntrap '' TERM INT; sleep 303",
    f"%%asubp\n{FORKS}",
    "%asubp sleep 306",
]


def start_children(kernel: KernelSession) -> list[psutil.Process]:
    kernel.load_extension()
    for code in CHILDREN:
        result = kernel.execute(code)
        assert result.status == "ok", f"{code!r}: {result.error}"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        tree = [psutil.Process(pid) for pid in kernel.children_pids()]
        sleeping = [p for p in tree if "30" in " ".join(p.cmdline())]
        # 5 shells or direct children, 4 sleeps under shells, one forked child.
        if len(sleeping) >= 11:
            return tree
        time.sleep(0.05)
    raise AssertionError(f"the children did not all start: {tree}")


def watch_until_gone(procs: list[psutil.Process], started: float) -> list[float]:
    """Poll in a thread; the list gets the seconds until all were gone."""
    gone_after: list[float] = []

    def poll() -> None:
        deadline = started + 20
        while time.monotonic() < deadline:
            if not living(procs):
                gone_after.append(time.monotonic() - started)
                return
            time.sleep(0.02)

    threading.Thread(target=poll, daemon=True).start()
    return gone_after


def test_shutdown_ends_every_process_within_3_s(kernel: KernelSession) -> None:
    tree = start_children(kernel)
    started = time.monotonic()
    kernel.km.shutdown_kernel(now=False)
    while living(tree) and time.monotonic() < started + 3:
        time.sleep(0.02)
    assert not living(tree), f"alive 3 s after shutdown: {living(tree)}"


def test_restart_ends_every_process_within_3_s(kernel: KernelSession) -> None:
    tree = start_children(kernel)
    started = time.monotonic()
    gone_after = watch_until_gone(tree, started)
    kernel.restart()
    assert kernel.survivors == [], "processes outlived the restart"
    assert gone_after, "processes outlived the restart"
    assert gone_after[0] < 3.0, f"the restart took {gone_after[0]:.2f} s to end them"
    kernel.load_extension()
    result = kernel.execute("%%asubp --wait\necho again")
    assert result.status == "ok", result.error


def test_hard_kill_ends_the_direct_children(
    kernel: KernelSession, no_leaked_processes: LeakCheck
) -> None:
    """A kernel killed with SIGKILL runs no cleanup: only PR_SET_DEATHSIG acts.

    The direct children die with the kernel. Grandchildren (what the shell
    started) are orphaned: nothing is left to signal them. This test pins down
    what happens and kills the orphans itself.
    """
    tree = start_children(kernel)
    kernel_pid = kernel.kernel_pid
    direct = [p for p in tree if p.ppid() == kernel_pid]
    grandchildren = [p for p in tree if p not in direct]
    assert len(direct) == len(CHILDREN)
    os.kill(kernel_pid, signal.SIGKILL)

    started = time.monotonic()
    while living(direct) and time.monotonic() < started + 3:
        time.sleep(0.02)
    assert not living(direct), f"direct children outlived the kernel: {living(direct)}"

    orphans = living(grandchildren)
    print(
        f"\nkernel killed hard: {len(direct)} direct children died; "
        f"{len(orphans)} of {len(grandchildren)} grandchildren orphaned: "
        + ", ".join(" ".join(p.cmdline()) for p in orphans)
    )
    for proc in orphans:
        no_leaked_processes.allow(proc.pid)
        proc.kill()
    psutil.wait_procs(orphans, timeout=3)
