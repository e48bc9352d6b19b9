"""The tree of processes under a process: finding it, signalling it, waiting for it.

A child can start children of its own, in its group or in sessions of their
own; stopping a process stops all of them, as far as they can be seen while
the process lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import psutil


def process_tree(pid: int) -> list[psutil.Process]:
    """Return the process and its descendants, as far as they can be seen now."""
    try:
        leader = psutil.Process(pid)
        return [leader, *leader.children(recursive=True)]
    except psutil.Error:
        return []


def signal_all(tree: list[psutil.Process], signum: int) -> None:
    """Send `signum` to every member of `tree` that is still there."""
    for member in tree:
        with contextlib.suppress(psutil.Error):
            member.send_signal(signum)


def alive(member: psutil.Process) -> bool:
    """Whether `member` still runs (a zombie only waits to be reaped)."""
    try:
        return bool(member.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


async def wait_gone(
    tree: list[psutil.Process], exited: asyncio.Event, grace: float
) -> bool:
    """Wait up to `grace` seconds for the leader to exit and the tree to end."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if exited.is_set() and not any(alive(member) for member in tree[1:]):
            return True
        await asyncio.sleep(0.02)
    return False
