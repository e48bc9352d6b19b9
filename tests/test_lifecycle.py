"""How processes end and are stopped: exit vs end of output, the stop policy."""

from __future__ import annotations

import json
import time

import psutil
import pytest
from kernel_harness import KernelSession

# The child exits at once; a background process of it holds stdout for 1.5 s.
EXIT_BEFORE_OUTPUT = "(sleep 1.5; echo late) & echo early; exit 3"
IGNORES_TERM = "trap '' TERM INT; echo ready; sleep 30"
TRAPS_INT = "trap 'echo got INT; exit 5' INT; echo ready; while :; do sleep 0.1; done"
TRAPS_BOTH = (
    "trap 'echo INT' INT; trap 'echo TERM' TERM; echo ready; "
    "while :; do sleep 0.1; done"
)
TREE_WITH_SETSID = "setsid sleep 62 & sleep 63 & echo ready; wait"


@pytest.fixture(scope="module")
def k(shared_kernel: KernelSession) -> KernelSession:
    shared_kernel.load_extension()
    shared_kernel.execute(
        "import asyncio, signal, warnings, psutil\n"
        "from jupyter_asubp import start, processes"
    )
    return shared_kernel


def run(k: KernelSession, code: str, timeout: float = 30.0) -> str:
    result = k.execute(code, timeout)
    assert result.status == "ok", f"{code!r} failed: {result.error}"
    return result.stdout


def gone_within(pids: list[int], timeout: float) -> list[int]:
    """Return the pids still alive (not zombies) after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    alive = pids
    while True:
        alive = [pid for pid in alive if _alive(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_exit_is_reported_before_the_output_ends(k: KernelSession) -> None:
    out = run(
        k,
        f"p = await start({EXIT_BEFORE_OUTPUT!r})\n"
        "t = asyncio.get_running_loop().time()\n"
        "code = await p.wait(timeout=5)\n"
        "print(code, round(asyncio.get_running_loop().time() - t, 2))\n"
        "print(p.state, repr(p.stdout))\n"
        "await p.wait_closed(timeout=5)\n"
        "print(repr(p.stdout))",
    )
    first, second, third = out.splitlines()
    code, waited = first.split()
    assert code == "3"
    assert float(waited) < 1.0, f"wait() waited for the pipes: {waited} s"
    assert second == "exited with code 3 'early\\n'"
    assert third == "'early\\nlate\\n'"


def test_view_shows_exit_at_once_and_output_after_it(k: KernelSession) -> None:
    started = time.monotonic()
    result = k.execute(f"%%asubp\n{EXIT_BEFORE_OUTPUT}")
    [model] = result.widget_model_ids
    k.wait_for_widget_state(
        model, lambda s: s["state"] == "exited with code 3", 2, "exited state"
    )
    assert time.monotonic() - started < 1.0 + 0.5, "exit state was late"
    state = k.wait_for_widget_state(
        model, lambda s: "late" in json.dumps(s["lines"]), 5, "the late line"
    )
    assert state["state"] == "exited with code 3"
    transcript = k.wait_for(
        lambda m: (
            m["msg_type"] == "update_display_data"
            and "\nlate\n" in m["content"]["data"].get("text/plain", "")
        ),
        5,
        "a transcript with the late line",
    )
    text = transcript["content"]["data"]["text/plain"]
    assert text.splitlines()[-3:] == ["early", "late", "[exited with code 3]"]


def test_stop_escalates_to_sigkill_with_a_warning(k: KernelSession) -> None:
    out = run(
        k,
        f"p = await start({IGNORES_TERM!r})\n"
        "await p.expect('ready', timeout=5)\n"
        "t = asyncio.get_running_loop().time()\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    code = await p.stop(grace=0.5)\n"
        "print(code, round(asyncio.get_running_loop().time() - t, 2))\n"
        "print(p.state)\n"
        "print(p.stdout, end='')\n"
        "for w in caught: print(w.category.__name__, w.message)\n"
        "print(p.pid)",
    )
    lines = out.splitlines()
    code, took = lines[0].split()
    assert code == "-9"
    assert float(took) < 2.0
    assert lines[1] == "killed by signal SIGKILL"
    assert lines[2] == "ready"
    pid = lines[-1]
    warnings_seen = lines[3:-1]
    assert len(warnings_seen) == 1
    assert warnings_seen[0].startswith("RuntimeWarning")
    assert f"pid={pid}" in warnings_seen[0]
    assert "SIGTERM" in warnings_seen[0]


def test_stop_sends_sigint_first_when_asked(k: KernelSession) -> None:
    out = run(
        k,
        f"p = await start({TRAPS_INT!r})\n"
        "await p.expect('ready', timeout=5)\n"
        "print(await p.stop(grace=2, interrupt=True))\n"
        "print(p.state)\n"
        "print(p.stdout, end='')",
    )
    assert out.splitlines() == ["5", "exited with code 5", "ready", "got INT"]


def test_stop_ends_the_whole_tree_while_the_leader_lives(k: KernelSession) -> None:
    out = run(
        k,
        f"p = await start({TREE_WITH_SETSID!r})\n"
        "await p.expect('ready', timeout=5)\n"
        "for _ in range(100):\n"
        "    tree = psutil.Process(p.pid).children(recursive=True)\n"
        "    if len(tree) == 2 and all(c.name() == 'sleep' for c in tree): break\n"
        "    await asyncio.sleep(0.02)\n"
        "print(p.pid, *[c.pid for c in tree])\n"
        "import os\n"
        "print(*[os.getsid(c.pid) == c.pid for c in tree if c.cmdline()[-1] == '62'])\n"
        "print(await p.stop(grace=2))\n"
        "print(p.state)",
    )
    lines = out.splitlines()
    pids = [int(x) for x in lines[0].split()]
    assert len(pids) == 3, out
    assert lines[1] == "True", "the grandchild did not lead its own session"
    assert lines[2:] == ["-15", "killed by signal SIGTERM"]
    assert gone_within(pids, 3.0) == []


def test_single_signals_go_to_the_group(k: KernelSession) -> None:
    out = run(
        k,
        f"p = await start({TRAPS_BOTH!r})\n"
        "await p.expect('ready', timeout=5)\n"
        "p.interrupt()\n"
        "await p.expect('INT', timeout=5)\n"
        "p.terminate()\n"
        "await p.expect('TERM', timeout=5)\n"
        "print(p.state)\n"
        "p.send_signal(signal.SIGUSR1)\n"
        "await p.wait(timeout=5)\n"
        "print(p.state)\n"
        "p.kill(); p.interrupt(); p.terminate()\n"
        "print(p.state)",
    )
    assert out.splitlines() == [
        "running",
        "killed by signal SIGUSR1",
        "killed by signal SIGUSR1",
    ]


def test_view_signal_and_stop_controls(k: KernelSession) -> None:
    result = k.execute(f"%%asubp --name v\n{TRAPS_BOTH}")
    [model] = result.widget_model_ids
    k.wait_for_widget_state(model, lambda s: "ready" in json.dumps(s["lines"]), 5)
    k.send_widget_custom(model, {"action": "signal", "signal": "SIGINT"})
    k.wait_for_widget_state(
        model, lambda s: s["note"] == "sent SIGINT", 5, "the note 'sent SIGINT'"
    )
    k.wait_for_widget_state(model, lambda s: '"INT"' in json.dumps(s["lines"]), 5)
    k.send_widget_custom(model, {"action": "stop"})
    state = k.wait_for_widget_state(
        model, lambda s: s["ended"], 5, "the end after stop"
    )
    # The shell traps SIGTERM and keeps looping, so the grace ends in SIGKILL.
    assert state["state"] == "killed by signal SIGKILL"
    k.send_widget_custom(model, {"action": "signal", "signal": "SIGKILL"})
    k.wait_for_widget_state(
        model,
        lambda s: s["note"].startswith("not sent SIGKILL: the process has ended"),
        5,
        "the 'has ended' note",
    )


def test_magic_timeout_stops_and_says_so(k: KernelSession) -> None:
    result = k.execute("%%asubp --timeout 0.5\nsleep 30")
    [model] = result.widget_model_ids
    state = k.wait_for_widget_state(model, lambda s: s["ended"], 5, "the timeout")
    assert state["state"] == "timed out after 0.5 s; killed by signal SIGTERM"

    result = k.execute("%%asubp --wait --timeout 0.5\nsleep 30", 10)
    assert result.status == "error"
    assert result.error is not None
    assert result.error.ename == "ProcessFailedError"
    assert "timed out after 0.5 s; killed by signal SIGTERM" in result.error.evalue


def test_start_timeout_escalates_by_the_same_policy(k: KernelSession) -> None:
    out = run(
        k,
        f"p = await start({IGNORES_TERM!r}, timeout=0.3)\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    await p.wait(timeout=10)\n"
        "    await asyncio.sleep(0.05)\n"
        "print(p.state)\n"
        "print(p.timed_out)",
    )
    assert out.splitlines() == [
        "timed out after 0.3 s; killed by signal SIGKILL",
        "True",
    ]


def test_list_and_kill_cover_every_state(k: KernelSession) -> None:
    run(
        k,
        "ok = await start('exit 3', name='st_exited')\n"
        "await ok.wait()\n"
        "sig = await start('kill -9 $$', name='st_signal')\n"
        "await sig.wait()\n"
        "late = await start('sleep 30', name='st_timeout', timeout=0.2)\n"
        "await late.wait()\n"
        "try:\n"
        "    await start('true', cwd='/no/such/dir', name='st_failed')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__)\n"
        "never = start('true', name='st_starting')\n"
        "live = await start('sleep 30', name='st_running')\n"
        f"stubborn = await start({IGNORES_TERM!r}, name='st_stopping')\n"
        "await stubborn.expect('ready')\n"
        "stopper = asyncio.ensure_future(stubborn.stop(grace=1.5))\n"
        "await asyncio.sleep(0.1)",
    )
    result = k.execute("%asubp --list")
    [table] = result.text_plain
    rows = {line.split()[0]: line for line in table.splitlines()[1:]}
    expected = {
        "st_exited": "exited with code 3",
        "st_signal": "killed by signal SIGKILL",
        "st_timeout": "timed out after 0.2 s; killed by signal SIGTERM",
        "st_failed": "failed to start: working directory '/no/such/dir'",
        "st_starting": "starting",
        "st_running": "running",
        "st_stopping": "stopping",
    }
    for name, state in expected.items():
        assert state in rows[name], f"{name}: {rows.get(name)}"

    result = k.execute("%asubp --kill st_running")
    assert result.stdout == "stopped 1 process(es)\n"
    result = k.execute("%asubp --kill st_exited")
    assert result.stdout == "stopped 0 process(es); 1 had already ended\n"
    result = k.execute("%asubp --kill nobody_by_that_name")
    assert result.status == "error"
    assert result.error is not None
    assert "%asubp --list shows them" in result.error.evalue
    run(
        k,
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('ignore')\n"
        "    await stopper\n"
        "never.close()",
    )
    result = k.execute("%asubp --kill all")
    assert result.stdout == "stopped 0 process(es)\n"
    result = k.execute("%asubp --list")
    rows = {line.split()[0]: line for line in result.text_plain[0].splitlines()[1:]}
    assert "killed by signal SIGTERM" in rows["st_running"]
    assert "killed by signal SIGKILL" in rows["st_stopping"]
    assert not [row for row in rows.values() if "  running  " in row]
