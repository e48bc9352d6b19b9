"""Bad input and misbehaving children: one clear line, a correct state, no leak."""

from __future__ import annotations

import os
import signal
import statistics
import sys
import time

import pytest
from kernel_harness import KernelSession

CLOSES_STDOUT = (
    f"{sys.executable} -c \"import os,sys,time; print('bye', flush=True); "
    "os.close(1); time.sleep(0.5); sys.stderr.write('still here\\n')\""
)
FORKS_DAEMON = (
    f'{sys.executable} -c "import os,sys,time\n'
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        time.sleep(1); print('daemon done', flush=True); sys.exit()\n"
    "    os._exit(0)\n"
    "print('parent exits', flush=True)\""
)
OPENS_TTY = f"{sys.executable} -c \"open('/dev/tty')\""
PARTIAL_THEN_SLEEP = [
    sys.executable,
    "-c",
    "print('partial'); import time; time.sleep(30)",
]
TEN_LINES = "for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; sleep 0.2; done"


@pytest.fixture(scope="module")
def k(shared_kernel: KernelSession) -> KernelSession:
    shared_kernel.load_extension()
    shared_kernel.execute(
        "import asyncio, warnings\nfrom jupyter_asubp import start, processes"
    )
    return shared_kernel


@pytest.mark.parametrize(
    ("code", "ename", "text"),
    [
        ("%asubp no_such_command_xyz", "StartError", "command not found"),
        ("%asubp {noexec}", "StartError", "permission denied"),
        ("%%asubp --cwd /no/such/dir\necho hi", "StartError", "does not exist"),
        ("%%asubp --env NOVALUE\necho hi", "UsageError", "NAME=VALUE"),
        ("%%asubp --bogus\necho hi", "UsageError", "--bogus"),
        ("%%asubp --timeout -1\necho hi", "UsageError", "positive"),
        ("await start('true', timeout=-1)", "StartError", "positive"),
    ],
)
def test_bad_input_gets_one_clear_line(
    k: KernelSession, tmp_path: object, code: str, ename: str, text: str
) -> None:
    noexec = os.path.join(str(tmp_path), "script.sh")
    with open(noexec, "w") as f:
        f.write("echo hi\n")
    result = k.execute(code.format(noexec=noexec))
    assert result.status == "error"
    assert result.error is not None
    assert result.error.ename == ename
    assert text in result.error.evalue
    assert "\n" not in result.error.evalue.strip()
    shown = [line for line in result.error.traceback if line.strip()]
    assert len(shown) <= 1, shown
    if ename == "StartError" and code.startswith("%"):
        [model] = result.widget_model_ids
        state = k.wait_for_widget_state(model, lambda s: s["ended"], 5, "the end")
        assert state["state"].startswith("failed to start: ")
    assert k.round_trip() < 1.0


def test_command_not_found_in_a_script(k: KernelSession) -> None:
    result = k.execute("%%asubp --wait --name nf\nno_such_command_xyz")
    assert result.error is not None
    assert result.error.ename == "ProcessFailedError"
    assert "exited with code 127 (command not found)" in result.error.evalue
    assert "not found" in k.execute("print(nf.stderr)").stdout


def run_to_end(k: KernelSession, code: str, timeout: float = 15) -> list[str]:
    result = k.execute(code, timeout)
    assert result.status == "ok", f"{code!r}: {result.error}"
    return result.stdout.splitlines()


def test_child_that_closes_stdout_early(k: KernelSession) -> None:
    out = run_to_end(
        k,
        f"p = await start({CLOSES_STDOUT!r})\nawait p.wait_closed(10)\n"
        "print(p.state); print(repr(p.stdout)); print(repr(p.stderr))",
    )
    assert out == ["exited with code 0", "'bye\\n'", "'still here\\n'"]


def test_child_that_ignores_sigint_and_sigterm(k: KernelSession) -> None:
    result = k.execute(
        "%%asubp --name stubborn\ntrap '' INT TERM; echo ready; sleep 30"
    )
    [model] = result.widget_model_ids
    k.wait_for_widget_state(model, lambda s: "ready" in str(s["lines"]), 5)
    k.send_widget_custom(model, {"action": "signal", "signal": "SIGINT"})
    k.send_widget_custom(model, {"action": "signal", "signal": "SIGTERM"})
    time.sleep(0.3)
    assert k.widget_state(model)["state"] == "running"
    k.send_widget_custom(model, {"action": "stop"})
    state = k.wait_for_widget_state(model, lambda s: s["ended"], 6, "the end")
    assert state["state"] == "killed by signal SIGKILL"
    assert "ready" in str(state["lines"])


def test_child_that_forks_a_daemon_and_exits(k: KernelSession) -> None:
    out = run_to_end(
        k,
        f"p = await start({FORKS_DAEMON!r})\n"
        "print(await p.wait(5), p.state)\n"
        "await p.wait_closed(10)\n"
        "print(repr(p.stdout))",
    )
    assert out == ["0 exited with code 0", "'parent exits\\ndaemon done\\n'"]


def test_child_that_opens_dev_tty(k: KernelSession) -> None:
    out = run_to_end(
        k,
        f"p = await start({OPENS_TTY!r})\nawait p.wait_closed(10)\n"
        "print(p.state); print(p.stderr.splitlines()[-1])",
    )
    assert out[0] == "exited with code 1"
    assert "/dev/tty" in out[1]


def test_child_that_exits_at_once(k: KernelSession) -> None:
    result = k.execute("%asubp --name quick true")
    [model] = result.widget_model_ids
    state = k.wait_for_widget_state(model, lambda s: s["ended"], 5, "the end")
    assert state["state"] == "exited with code 0"
    out = run_to_end(
        k, "p = await start('exit 7')\nprint(await p.wait(5), p.state, repr(p.stdout))"
    )
    assert out == ["7 exited with code 7 ''"]


def test_child_killed_from_outside(k: KernelSession) -> None:
    out = run_to_end(
        k,
        f"p = await start({PARTIAL_THEN_SLEEP!r})\n"
        "await p.expect('partial')\nprint(p.pid)",
    )
    os.kill(int(out[0]), signal.SIGKILL)
    out = run_to_end(k, "await p.wait_closed(5)\nprint(p.state); print(repr(p.stdout))")
    assert out == ["killed by signal SIGKILL", "'partial\\n'"]


def test_50_starts_and_stops_in_a_tight_loop(k: KernelSession) -> None:
    out = run_to_end(
        k,
        "tasks_before = len(asyncio.all_tasks())\n"
        "states = set()\n"
        "for i in range(50):\n"
        "    p = await start('sleep 30')\n"
        "    await p.stop()\n"
        "    states.add(p.state)\n"
        "await asyncio.sleep(0.1)\n"
        "print(states)\n"
        "print(sum(p.running for p in processes()))\n"
        "print(len(asyncio.all_tasks()) - tasks_before)",
        60,
    )
    assert out == ["{'killed by signal SIGTERM'}", "0", "0"]
    assert k.round_trip() < 1.0


def test_cancelled_start_in_a_group_leaks_nothing(k: KernelSession) -> None:
    out = run_to_end(
        k,
        "async def failing():\n"
        "    await asyncio.sleep(0)\n"
        "    raise ValueError('sibling failed')\n"
        "async def hold():\n"
        "    async with start('sleep 30') as p:\n"
        "        await asyncio.sleep(30)\n"
        "tasks_before = len(asyncio.all_tasks())\n"
        "mine = len(processes())\n"
        "try:\n"
        "    async with asyncio.TaskGroup() as group:\n"
        "        group.create_task(start('sleep 31'))\n"
        "        group.create_task(hold())\n"
        "        group.create_task(failing())\n"
        "except* ValueError:\n"
        "    pass\n"
        "gathered = asyncio.ensure_future(\n"
        "    asyncio.gather(start('sleep 32'), start('sleep 33'), failing()))\n"
        "await asyncio.sleep(0)\n"
        "gathered.cancel()\n"
        "try:\n"
        "    await gathered\n"
        "except asyncio.CancelledError:\n"
        "    pass\n"
        "except ValueError:\n"
        "    pass\n"
        "await asyncio.sleep(0.5)\n"
        "ours = processes()[mine:]\n"
        "for p in ours:\n"
        "    if p.running: await p.stop()\n"
        "await asyncio.sleep(0.2)\n"
        "print(len(ours), sum(p.running for p in ours))\n"
        "print(sorted({p.state.split(':')[0] for p in ours}))\n"
        "print(len(asyncio.all_tasks()) - tasks_before)",
    )
    # hold() may be cancelled before it gets as far as starting its process.
    assert out[0] in ("4 0", "5 0")
    assert "starting" not in out[1]
    assert "running" not in out[1]
    assert out[2] == "0"
    assert k.round_trip() < 1.0


def test_100_views_at_once_keep_the_kernel_responsive(k: KernelSession) -> None:
    result = k.execute(
        "for i in range(100):\n"
        f"    get_ipython().run_cell_magic('asubp', f'--name many{{i}}', {TEN_LINES!r})"
    )
    assert result.status == "ok", result.error
    assert len(result.widget_model_ids) == 100
    times = []
    deadline = time.monotonic() + 30
    while True:
        times.append(k.round_trip())
        done = k.execute(
            "print(all(globals()[f'many{i}'].returncode is not None "
            "for i in range(100)))"
        )
        if done.stdout.strip() == "True":
            break
        assert time.monotonic() < deadline, "100 processes did not end in 30 s"
    out = k.execute(
        "many = [globals()[f'many{i}'] for i in range(100)]\n"
        "print({(p.state, p.stdout.count('line')) for p in many})"
    )
    assert out.stdout == "{('exited with code 0', 10)}\n"
    assert k.execute("print(sum(p.running for p in processes()))").stdout == "0\n"
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(
        f"\n1+1 with 100 views: n={len(times)} "
        f"p50={p50 * 1000:.0f} ms p99={p99 * 1000:.0f} ms"
    )
    # The target is 100 ms (54-74 ms measured on a quiet machine); the bound here
    # is looser so that a busy machine does not fail the suite.
    assert p99 < 0.25, f"1+1 p99 {p99 * 1000:.0f} ms"
