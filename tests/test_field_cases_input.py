"""Typed input: prompts, input after the end, input while other cells run; stopping
floods, restarts and shutdowns, output staying in its cell, and kernel interrupts.
"""

from __future__ import annotations

import ast
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from kernel_harness import KernelSession, Message

PROMPT = 'printf "Name? "; read n; echo "hi $n"'
ECHO_LINES = 'while read l; do echo "got:$l"; done'
TICKS = "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.5; done"


@pytest.fixture(scope="module")
def asubp(shared_kernel: KernelSession) -> KernelSession:
    shared_kernel.load_extension()
    shared_kernel.execute("import asyncio, jupyter_asubp")
    return shared_kernel


def value(kernel: KernelSession, code: str) -> Any:
    result = kernel.execute(code)
    assert result.status == "ok", f"{code!r} failed: {result.error}"
    return ast.literal_eval(result.text_plain[-1])


def view_lines(state: dict[str, Any]) -> list[str]:
    return ["".join(run[0] for run in runs) for _, runs in state["lines"]]


def start(kernel: KernelSession, cell: str) -> tuple[str, str]:
    """Run a magic cell; return its msg_id and, once running, its view's model id."""
    result = kernel.execute(cell)
    assert result.status == "ok", result.error
    [model_id] = result.widget_model_ids
    kernel.wait_for_widget_state(model_id, lambda s: s["pid"] > 0, 10, "a pid")
    return result.msg_id, model_id


def ended(kernel: KernelSession, model_id: str, timeout: float = 10.0) -> Any:
    return kernel.wait_for_widget_state(model_id, lambda s: s["ended"], timeout, "end")


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def no_tracebacks(kernel: KernelSession) -> None:
    log = kernel.kernel_log()
    assert "Traceback" not in log, log
    assert "exception was never retrieved" not in log, log
    assert "Task was destroyed" not in log, log


# I1. Answer a prompt.


def test_i1_answer_a_prompt(asubp: KernelSession) -> None:
    _, model_id = start(asubp, f"%%asubp --name prompt\n{PROMPT}")
    state = asubp.wait_for_widget_state(
        model_id, lambda s: view_lines(s) == ["Name? "], 5, "the prompt"
    )
    assert state["ended"] is False
    asubp.send_widget_custom(model_id, {"action": "send", "text": "abc"})
    state = ended(asubp, model_id)
    assert state["state"] == "exited with code 0"
    assert view_lines(state)[-1] == "hi abc"
    assert value(asubp, "prompt.stdout") == "Name? hi abc\n"


def test_i1_sort(asubp: KernelSession) -> None:
    _, model_id = start(asubp, "%asubp --name sorter sort")
    for line in ("b", "a"):
        asubp.send_widget_custom(model_id, {"action": "send", "text": line})
    asubp.send_widget_custom(model_id, {"action": "eof"})
    state = ended(asubp, model_id)
    assert state["state"] == "exited with code 0"
    assert value(asubp, "sorter.stdout") == "a\nb\n"


def test_i1_rm_i(asubp: KernelSession, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch.txt"
    scratch.write_text("x")
    _, model_id = start(asubp, f"%asubp --name remover rm -i {scratch}")
    state = asubp.wait_for_widget_state(
        model_id, lambda s: "remove" in "".join(view_lines(s)), 5, "rm's question"
    )
    assert scratch.exists()
    assert str(scratch) in "".join(view_lines(state))
    asubp.send_widget_custom(model_id, {"action": "send", "text": "y"})
    state = ended(asubp, model_id)
    assert state["state"] == "exited with code 0"
    assert not scratch.exists()


# I3. Input after the end.


def test_i3_input_after_the_end(asubp: KernelSession) -> None:
    _, model_id = start(asubp, "%%asubp --name bye\npython3 -c \"print('bye')\"")
    state = ended(asubp, model_id)
    assert state["stdin_open"] is False
    asubp.send_widget_custom(model_id, {"action": "send", "text": "abc"})
    state = asubp.wait_for_widget_state(
        model_id, lambda s: bool(s["note"]), 5, "a note about the input"
    )
    assert "\n" not in state["note"]
    assert "exited with code 0" in state["note"]
    assert view_lines(state) == ["bye"]
    assert value(asubp, "bye.stdout") == "bye\n"
    asubp.round_trip()
    no_tracebacks(asubp)


def test_i3_paste_more_than_head_reads(asubp: KernelSession) -> None:
    _, model_id = start(asubp, "%asubp --name head head -c 10")
    asubp.send_widget_custom(model_id, {"action": "send", "text": "p" * 1_000_000})
    state = ended(asubp, model_id)
    assert state["state"] == "exited with code 0"
    assert value(asubp, "head.stdout") == "p" * 10
    asubp.round_trip()
    time.sleep(0.5)
    no_tracebacks(asubp)


# I6. Lines typed while a different cell is awaiting.


def test_i6_lines_typed_while_another_cell_awaits(asubp: KernelSession) -> None:
    _, model_id = start(asubp, f"%%asubp --name echoer\n{ECHO_LINES}")
    sleeper = asubp.start_execute("import asyncio\nawait asyncio.sleep(8)")
    asubp.wait_started(sleeper)
    time.sleep(0.3)
    delays = {}
    for word in ("one", "two", "three"):
        sent = time.monotonic()
        asubp.send_widget_custom(model_id, {"action": "send", "text": word})
        asubp.wait_for_widget_state(
            model_id, lambda s, w=word: f"got:{w}" in view_lines(s), 5, f"got:{word}"
        )
        delays[word] = time.monotonic() - sent
        assert not asubp.messages_for(sleeper) or not any(
            m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
            for m in asubp.messages_for(sleeper)
        ), "the awaiting cell ended too soon for the test"
    assert asubp.wait_idle(sleeper, 15).status == "ok"
    sent = time.monotonic()
    asubp.send_widget_custom(model_id, {"action": "send", "text": "four"})
    asubp.wait_for_widget_state(
        model_id, lambda s: "got:four" in view_lines(s), 5, "got:four"
    )
    delays["four"] = time.monotonic() - sent
    assert all(d < 1.0 for d in delays.values()), delays
    assert value(asubp, "echoer.stdout") == "got:one\ngot:two\ngot:three\ngot:four\n"
    asubp.send_widget_custom(model_id, {"action": "eof"})
    assert ended(asubp, model_id)["state"] == "exited with code 0"


# L4. Output stays in its cell.


def test_l4_output_stays_in_its_cell(asubp: KernelSession) -> None:
    cell_a = asubp.start_execute(f"%%asubp --name ticker\n{TICKS}")
    cell_b = asubp.start_execute('import time; time.sleep(1); print("B")')
    cell_c = asubp.start_execute('print("C")')
    a = asubp.wait_idle(cell_a, 10)
    b = asubp.wait_idle(cell_b, 10)
    c = asubp.wait_idle(cell_c, 10)
    [model_id] = a.widget_model_ids
    state = ended(asubp, model_id)
    assert view_lines(state) == [f"tick {i}" for i in range(1, 7)]
    for result, text in ((b, "B\n"), (c, "C\n")):
        assert result.status == "ok"
        assert [m["msg_type"] for m in result.outputs] == ["stream"]
        assert result.stdout == text
        assert result.stderr == ""

    display_ids = {
        m["content"]["transient"]["display_id"]
        for m in a.messages
        if m["msg_type"] == "display_data"
    }
    asubp.wait_for(
        lambda m: (
            m["msg_type"] == "update_display_data"
            and m["content"]["transient"]["display_id"] in display_ids
        ),
        5,
        "the transcript of cell A",
    )

    def of_a(m: Message) -> bool:
        content = m["content"]
        return (
            content.get("comm_id") == model_id
            or content.get("transient", {}).get("display_id") in display_ids
            or (m["msg_type"] == "stream" and "tick" in content.get("text", ""))
        )

    for m in asubp.iopub_log():
        if of_a(m):
            assert m["parent_header"].get("msg_id") == cell_a, (
                f"{m['msg_type']} of cell A went to {m['parent_header']}"
            )
    for cell in (cell_b, cell_c):
        for m in asubp.messages_for(cell):
            assert m["msg_type"] in ("status", "execute_input", "stream"), m


# Interrupting another cell leaves a background process alone.


@pytest.mark.parametrize(
    "code",
    ["import time\ntime.sleep(10)", "import asyncio\nawait asyncio.sleep(10)"],
    ids=["sync", "awaiting"],
)
def test_kernel_interrupt_of_another_cell_leaves_the_process(
    asubp: KernelSession, code: str
) -> None:
    _, model_id = start(asubp, "%%asubp --name survivor\nsleep 30")
    pid = value(asubp, "survivor.pid")
    busy = asubp.start_execute(code)
    asubp.wait_started(busy)
    time.sleep(0.3)
    asubp.interrupt()
    result = asubp.wait_idle(busy, 5)
    assert result.status == "error"
    time.sleep(0.3)
    assert alive(pid)
    assert value(asubp, "survivor.state") == "running"
    assert asubp.widget_state(model_id)["ended"] is False
    asubp.execute("%asubp --kill survivor")
    assert ended(asubp, model_id)["state"] == "killed by signal SIGTERM"


# L1. Stop a flood.


def test_l1_stop_a_flood(asubp: KernelSession) -> None:
    _, model_id = start(asubp, "%%asubp --name flood\nyes")
    pid = value(asubp, "flood.pid")
    time.sleep(1)
    stopped = time.monotonic()
    asubp.send_widget_custom(model_id, {"action": "stop"})
    state = ended(asubp, model_id, timeout=5)
    assert time.monotonic() - stopped < 2.0
    assert state["state"] == "killed by signal SIGTERM"
    assert set(view_lines(state)) == {"y"}
    assert not alive(pid)
    assert not [p for p in asubp.tagged_processes() if p.name() == "yes"]
    code = (
        "await flood.wait_closed(timeout=2)\n"
        "out = flood.stdout_bytes\n"
        "len(out), set(out[:100_000].splitlines()), out[-2:], flood.returncode"
    )
    size, seen, tail, returncode = value(asubp, code)
    assert size >= state["bytes_stdout"] > 1000
    assert (seen, tail, returncode) == ({b"y"}, b"y\n", -15)


# L3. Restart and shut down; a restart leaves nothing behind.


class DeathWatch:
    """Notes when a process dies, polling from a thread while the test waits."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.started = time.monotonic()
        self.died_after: float | None = None
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while time.monotonic() - self.started < 30:
            if not alive(self.pid):
                self.died_after = time.monotonic() - self.started
                return
            time.sleep(0.02)

    def result(self) -> float | None:
        self._thread.join(timeout=30)
        return self.died_after


@pytest.mark.parametrize("how", ["restart", "shutdown"])
def test_l3_restart_and_shutdown_leave_no_process(
    kernel: KernelSession, how: str
) -> None:
    kernel.load_extension()
    _, model_id = start(kernel, "%%asubp --name long\nsleep 300")
    pid = kernel.widget_state(model_id)["pid"]
    assert alive(pid)
    watch = DeathWatch(pid)
    getattr(kernel, how)()
    died_after = watch.result()
    assert died_after is not None, f"sleep 300 outlived the {how}"
    assert died_after < 3.0, f"sleep 300 lived {died_after:.1f} s after the {how}"
    assert not kernel.survivors, kernel.survivors
