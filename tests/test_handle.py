"""The process handle (`jupyter_asubp.start`) used from cells of a real kernel."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_harness import WIDGET_VIEW_MIME, KernelSession, value, view_text

# Traps SIGINT in a grandchild of the shell, to see that signals reach the group.
SIGINT_CHILD = (
    "import signal, sys, time\n"
    "def on_int(*_):\n"
    "    print('child got SIGINT')\n"
    "    sys.exit(5)\n"
    "signal.signal(signal.SIGINT, on_int)\n"
    "print('ready')\n"
    "time.sleep(30)\n"
)

GRANDCHILD_OF = """
async def grandchild_of(proc, name):
    # Until the child has exec'd, a signal can hit the shell's fork instead.
    for _ in range(200):
        children = [c for c in psutil.Process(proc.pid).children() if c.name() == name]
        if children:
            return children[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"{proc!r} started no {name}")
"""


@pytest.fixture(scope="module")
def cells(shared_kernel: KernelSession) -> KernelSession:
    """The module's kernel with jupyter_asubp imported and a few helpers."""
    result = shared_kernel.execute(
        "import asyncio, shlex, sys, psutil, jupyter_asubp\n" + GRANDCHILD_OF
    )
    assert result.status == "ok", result.error
    return shared_kernel


def test_start_with_a_shell_string(cells: KernelSession) -> None:
    running = value(
        cells,
        'proc = await jupyter_asubp.start("echo hi; echo err >&2; cat", '
        "cwd=None, env=None)\n"
        "type(proc.pid).__name__, proc.returncode, proc.running",
    )
    assert running == ("int", None, True)
    code = (
        'await proc.send("text\\n")\n'
        'await proc.send(b"bytes\\n")\n'
        'await proc.expect("bytes")\n'
        "await proc.close_stdin()\n"
        "code = await proc.wait(timeout=10)\n"
        "await proc.wait_closed(timeout=10)\n"
        "code, proc.returncode, proc.stdout, proc.stderr"
    )
    assert value(cells, code) == (0, 0, "hi\ntext\nbytes\n", "err\n")


def test_start_with_a_list_runs_without_a_shell(cells: KernelSession) -> None:
    code = (
        "proc = await jupyter_asubp.start("
        "[sys.executable, '-c', 'import sys; print(sys.argv[1:])', 'a b; echo $HOME', "
        "'*'])\n"
        "await proc.wait_closed(timeout=10)\n"
        "proc.returncode, proc.stdout"
    )
    assert value(cells, code) == (0, "['a b; echo $HOME', '*']\n")


def test_env_and_cwd(cells: KernelSession, tmp_path: Any) -> None:
    code = (
        "proc = await jupyter_asubp.start('echo \"$ASUBP_X\"; pwd', "
        f"cwd={str(tmp_path)!r}, env={{'ASUBP_X': 'x = y'}})\n"
        "await proc.wait_closed(timeout=10)\n"
        "proc.stdout"
    )
    assert value(cells, code).splitlines()[0] == "x = y"


def test_interrupt_reaches_the_whole_process_group(cells: KernelSession) -> None:
    code = (
        f"child = {SIGINT_CHILD!r}\n"
        "script = shlex.join([sys.executable, '-c', child]) + '; echo after'\n"
        "proc = await jupyter_asubp.start(script)\n"
        "await proc.expect('ready', timeout=10)\n"
        "proc.interrupt()\n"
        "await proc.wait(timeout=10)\n"
        "await proc.wait_closed(timeout=10)\n"
        "proc.stdout"
    )
    assert "child got SIGINT\n" in value(cells, code)


@pytest.mark.parametrize(
    ("method", "returncode", "state"),
    [
        ("terminate", -15, "killed by signal SIGTERM"),
        ("kill", -9, "killed by signal SIGKILL"),
        ("interrupt", -2, "killed by signal SIGINT"),
    ],
)
def test_signals_end_the_process_and_its_children(
    cells: KernelSession, method: str, returncode: int, state: str
) -> None:
    code = (
        "proc = await jupyter_asubp.start('sleep 30; echo never')\n"
        "child = await grandchild_of(proc, 'sleep')\n"
        f"proc.{method}()\n"
        "code = await proc.wait(timeout=10)\n"
        "await asyncio.to_thread(psutil.wait_procs, [child], timeout=5)\n"
        "code, proc.state, child.is_running() and child.status() != 'zombie'"
    )
    assert value(cells, code) == (returncode, state, False)


def test_wait_timeout_leaves_the_process_running(cells: KernelSession) -> None:
    code = (
        "proc = await jupyter_asubp.start('sleep 30')\n"
        "try:\n"
        "    await proc.wait(timeout=0.3)\n"
        "    outcome = 'returned'\n"
        "except TimeoutError as error:\n"
        "    outcome = str(error)\n"
        "still = proc.running\n"
        "proc.kill()\n"
        "outcome, still, await proc.wait(timeout=10)"
    )
    outcome, still, code = value(cells, code)
    assert "did not exit within 0.3 s" in outcome
    assert still is True
    assert code == -9


def test_send_after_the_end_raises_a_clear_error(cells: KernelSession) -> None:
    code = (
        "proc = await jupyter_asubp.start('true')\n"
        "await proc.wait(timeout=10)\n"
        "try:\n"
        "    await proc.send('late\\n')\n"
        "except jupyter_asubp.StdinClosedError as error:\n"
        "    message = str(error)\n"
        "message"
    )
    assert "has ended: exited with code 0" in value(cells, code)
    result = cells.execute("await proc.send('late\\n')")
    assert result.error is not None
    assert result.error.ename == "StdinClosedError"
    assert result.error.traceback == [f"StdinClosedError: {result.error.evalue}"]


def test_a_cell_showing_the_handle_displays_its_live_view(cells: KernelSession) -> None:
    assert (
        cells.execute(
            "live = await jupyter_asubp.start('echo one; read x; echo \"two $x\"')"
        ).status
        == "ok"
    )
    result = cells.execute("live")
    assert result.status == "ok", result.error
    [shown] = [m for m in result.outputs if m["msg_type"] == "execute_result"]
    model_id = shown["content"]["data"][WIDGET_VIEW_MIME]["model_id"]
    cells.wait_for_widget_state(
        model_id, lambda s: "one" in view_text(s), 5, "'one' in the view"
    )
    cells.send_widget_custom(model_id, {"action": "send", "text": "X"})
    state = cells.wait_for_widget_state(model_id, lambda s: s["ended"], 5, "the end")
    assert view_text(state).splitlines() == ["one", "X", "two X"]
    assert state["state"] == "exited with code 0"
    assert state["pid"] == value(cells, "live.pid")


def test_processes_lists_live_and_ended_ones(cells: KernelSession) -> None:
    code = (
        "ended = await jupyter_asubp.start('true')\n"
        "await ended.wait(timeout=10)\n"
        "running = await jupyter_asubp.start('sleep 30')\n"
        "listed = jupyter_asubp.processes()\n"
        "found = [any(p is q for p in listed) for q in (ended, running)]\n"
        "states = [ended.state, running.state]\n"
        "running.kill()\n"
        "await running.wait(timeout=10)\n"
        "found, states, all(isinstance(p, jupyter_asubp.Process) for p in listed)"
    )
    assert value(cells, code) == (
        [True, True],
        ["exited with code 0", "running"],
        True,
    )
