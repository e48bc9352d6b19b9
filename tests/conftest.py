"""Fixtures for kernel-level tests: real kernels and a process-leak check."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from kernel_harness import (
    KernelSession,
    LeakCheck,
    all_sessions,
    descendants,
    process_key,
    reap,
    survivors_log,
)

ORPHAN_GRACE = 3.0
"""Seconds a test's leftover processes get to exit before they count as leaks."""


@pytest.fixture
def kernel() -> Iterator[KernelSession]:
    """A fresh kernel for one test, shut down afterwards."""
    with KernelSession() as session:
        yield session


@pytest.fixture(scope="module")
def shared_kernel() -> Iterator[KernelSession]:
    """A kernel shared by the tests of one module.

    Tests must leave it usable and must not leave processes running in it.
    """
    with KernelSession() as session:
        yield session
    assert not session.survivors, "processes outlived the shared kernel:\n" + "\n".join(
        session.survivors
    )


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[LeakCheck]:
    """Fail a test that leaves processes running.

    Leaks are processes started during the test that are still running at its end
    (after its fixtures are torn down) and are either descendants of pytest, or
    descendants of a kernel used by the test, or were killed by a `KernelSession`
    because they outlived their kernel.  Kernels themselves and what existed
    before the test (such as a module-scoped kernel) are not leaks.  Request
    this fixture by name and call ``allow(pid)`` to leak a process on purpose.
    """
    me = os.getpid()
    before = {process_key(p) for p in descendants(me)}
    survivors_before = len(survivors_log())
    check = LeakCheck()
    yield check
    sessions = all_sessions()
    kernel_pids = {s.kernel_pid for s in sessions if s.is_alive()}
    candidates = {process_key(p): p for p in descendants(me)}
    for session in sessions:
        if session.is_alive():
            candidates.update(
                {process_key(p): p for p in descendants(session.kernel_pid)}
            )
            candidates.update({process_key(p): p for p in session.tagged_processes()})
    leaked = [
        p
        for key, p in candidates.items()
        if key not in before and p.pid not in kernel_pids
    ]
    killed = reap(leaked, grace=ORPHAN_GRACE)
    killed.extend(survivors_log()[survivors_before:])
    killed = [k for k in killed if int(k.split(":")[0]) not in check.allowed]
    if killed:
        pytest.fail(
            "the test left processes running (killed now):\n" + "\n".join(killed),
            pytrace=False,
        )
