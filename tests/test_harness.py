"""The kernel harness itself, against real kernels and real processes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from conftest import LeakCheck
from kernel_harness import KernelSession, KernelTimeout, Message

HERE = Path(__file__).parent

PROBE_WIDGET = """
import anywidget, traitlets

class Probe(anywidget.AnyWidget):
    _esm = "export default { render() {} }"
    value = traitlets.Unicode("").tag(sync=True)

received = []

def _on_msg(widget, content, buffers):
    received.append(content)
    widget.value = f"got {content['n']}"

probe = Probe()
probe.on_msg(_on_msg)
probe
"""


def _started(kernel: KernelSession, msg_id: str) -> None:
    """Wait until the kernel runs the cell `msg_id`, past ipykernel's own code."""
    kernel.wait_started(msg_id)
    # An interrupt right after execute_input can hit ipykernel itself (measured:
    # about 1 in 10), which then drops the execute_reply.
    time.sleep(0.3)


def test_execute_collects_output(shared_kernel: KernelSession) -> None:
    result = shared_kernel.execute(
        "import sys\nprint('out')\nprint('err', file=sys.stderr)\n6 * 7"
    )
    assert result.status == "ok"
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.text_plain == ["42"]
    assert result.error is None
    assert [m["msg_type"] for m in result.outputs] == [
        "stream",
        "stream",
        "execute_result",
    ]
    assert result.messages[-1]["content"]["execution_state"] == "idle"


def test_execute_reports_error(shared_kernel: KernelSession) -> None:
    result = shared_kernel.execute("1 / 0")
    assert result.status == "error"
    assert result.error is not None
    assert result.error.ename == "ZeroDivisionError"
    assert result.error.evalue == "division by zero"
    assert [m["msg_type"] for m in result.outputs] == ["error"]


def test_round_trip_is_fast(shared_kernel: KernelSession) -> None:
    assert min(shared_kernel.round_trip() for _ in range(5)) < 1.0


def test_timeout_names_the_cell(shared_kernel: KernelSession) -> None:
    msg_id = shared_kernel.start_execute("import time\ntime.sleep(5)")
    with pytest.raises(
        KernelTimeout, match=r"within 0\.5 s .*: import time \(no execute_reply"
    ):
        shared_kernel.wait_idle(msg_id, timeout=0.5)
    shared_kernel.interrupt()
    assert shared_kernel.wait_idle(msg_id, timeout=5).status == "error"
    shared_kernel.round_trip()


def test_interrupt_blocking_sleep(kernel: KernelSession) -> None:
    msg_id = kernel.start_execute("import time; time.sleep(30)")
    _started(kernel, msg_id)
    start = time.monotonic()
    kernel.interrupt()
    result = kernel.wait_idle(msg_id, timeout=5)
    assert time.monotonic() - start < 5
    assert result.error is not None
    assert result.error.ename == "KeyboardInterrupt"
    assert kernel.execute("print('alive')").stdout == "alive\n"


def test_interrupt_awaiting_cell_needs_a_loop_wakeup(kernel: KernelSession) -> None:
    # ipykernel 7.4 turns SIGINT during an awaiting cell into a callback that it
    # schedules without waking the event loop, so the cell is only cancelled
    # (with CancelledError) when something else wakes the loop: here a
    # kernel_info_request, in the browser the end of the sleep.
    msg_id = kernel.start_execute("import asyncio; await asyncio.sleep(20)")
    _started(kernel, msg_id)
    kernel.interrupt()
    time.sleep(0.5)
    kernel.client.kernel_info()
    result = kernel.wait_idle(msg_id, timeout=5)
    assert result.error is not None
    assert result.error.ename == "CancelledError"


def test_restart(kernel: KernelSession) -> None:
    kernel.execute("x = 1")
    old_pid = kernel.kernel_pid
    kernel.restart()
    assert kernel.kernel_pid != old_pid
    assert not psutil.pid_exists(old_pid)
    result = kernel.execute("x")
    assert result.error is not None
    assert result.error.ename == "NameError"
    assert kernel.execute("print('again')").stdout == "again\n"


def test_concurrent_cells_and_late_output(shared_kernel: KernelSession) -> None:
    # A task left running by a cell keeps that cell as its parent.
    first = shared_kernel.execute(
        "import asyncio\n"
        "async def later():\n"
        "    await asyncio.sleep(0.5)\n"
        "    print('late', flush=True)\n"
        "task = asyncio.ensure_future(later())"
    )
    assert first.stdout == ""
    slow = shared_kernel.start_execute("import asyncio; await asyncio.sleep(1)")
    quick = shared_kernel.start_execute("print('second')")
    assert shared_kernel.wait_idle(quick, timeout=10).stdout == "second\n"
    assert shared_kernel.wait_idle(slow, timeout=1).status == "ok"

    def is_late(m: Message) -> bool:
        return m["msg_type"] == "stream" and "late" in m["content"]["text"]

    late = shared_kernel.wait_for(is_late, timeout=5, what="'late' on stdout")
    assert late["parent_header"]["msg_id"] == first.msg_id
    assert late in shared_kernel.messages_for(first.msg_id)


def test_widget_comm_round_trip_while_cell_awaits(kernel: KernelSession) -> None:
    shown = kernel.execute(PROBE_WIDGET)
    assert shown.status == "ok", shown.error
    [model_id] = shown.widget_model_ids
    state = kernel.widget_state(model_id)
    assert state["_esm"] == "export default { render() {} }"
    assert state["value"] == ""
    [opened] = kernel.comm_messages(model_id)
    assert opened["msg_type"] == "comm_open"
    assert opened["content"]["target_name"] == "jupyter.widget"

    busy = kernel.start_execute("import asyncio; await asyncio.sleep(3)")
    _started(kernel, busy)
    sent = kernel.send_widget_custom(model_id, {"n": 1})
    kernel.wait_for_widget_state(
        model_id, lambda s: s["value"] == "got 1", timeout=2.5, what="value 'got 1'"
    )
    assert busy not in {
        m["parent_header"].get("msg_id")
        for m in kernel.iopub_log()
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
    }, "the comm message was only handled after the cell finished"
    update = kernel.comm_messages(model_id)[-1]
    assert update["content"]["data"]["method"] == "update"
    assert update["parent_header"]["msg_id"] == sent
    assert kernel.wait_idle(busy, timeout=10).status == "ok"
    assert kernel.execute("received").text_plain == ["[{'n': 1}]"]

    # A front-end edit is applied in the kernel and echoed back.
    kernel.send_widget_update(model_id, {"value": "typed"})
    kernel.wait_for(
        lambda m: (
            m["msg_type"] == "comm_msg"
            and m["content"]["data"].get("method") == "echo_update"
        ),
        timeout=5,
        what="echo_update",
    )
    assert kernel.widget_state(model_id)["value"] == "typed"
    assert kernel.execute("probe.value").text_plain == ["'typed'"]


def test_children_are_tracked_and_killed(
    no_leaked_processes: LeakCheck,
) -> None:
    session = KernelSession()
    try:
        result = session.execute(
            "import subprocess\n"
            "p = subprocess.Popen(['sleep', '97'], start_new_session=True)\n"
            "p.pid"
        )
        pid = int(result.text_plain[0])
        assert pid in session.children_pids()
        assert [p.pid for p in session.tagged_processes()] == [pid]
        no_leaked_processes.allow(pid)
    finally:
        session.close()
    assert not psutil.pid_exists(pid) or (
        psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    )
    assert session.survivors == [f"{pid}: sleep 97"]


LEAKY_TESTS = """
import subprocess


def test_leaks_from_pytest():
    global proc
    proc = subprocess.Popen(["sleep", "61"])


def test_leaks_from_kernel(kernel):
    kernel.execute(
        "import subprocess; p = subprocess.Popen(['sleep', '62'], "
        "start_new_session=True)"
    )


def test_leaks_orphan_from_kernel(kernel):
    kernel.execute(
        "import subprocess; subprocess.run("
        "'sleep 63 & true', shell=True, start_new_session=True)"
    )


def test_cleans_up(kernel):
    kernel.execute("import subprocess; subprocess.run(['sleep', '0.1'])")
"""


def test_leak_check_fails_leaky_tests(tmp_path: Path) -> None:
    for name in ("conftest.py", "kernel_harness.py"):
        shutil.copy(HERE / name, tmp_path / name)
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent(LEAKY_TESTS))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rf"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = run.stdout + run.stderr
    assert "4 passed, 3 errors" in report, report
    for leak in ("sleep 61", "sleep 62", "sleep 63"):
        assert leak in report, report
    for proc in psutil.process_iter(["cmdline"]):
        assert proc.info["cmdline"] not in [["sleep", str(n)] for n in (61, 62, 63)]
