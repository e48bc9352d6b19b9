"""A prompt-and-ticks script end to end, driven by the view's own comm messages."""

from __future__ import annotations

import ast
import time
from typing import Any

import pytest
from kernel_harness import WIDGET_VIEW_MIME, KernelSession

EXAMPLE = (
    'echo "Name?"; read n; echo "hi $n"; for i in 1 2 3; do echo tick $i; '
    "sleep 1; done; echo oops >&2; exit 3"
)

# Reads lines until end of input, then says so; SIGINT is trapped and reported.
TALKER = (
    "trap 'echo got SIGINT; exit 7' INT\n"
    'while read l; do echo "got:$l"; done\n'
    "echo end of input"
)


@pytest.fixture(scope="module")
def asubp(shared_kernel: KernelSession) -> KernelSession:
    shared_kernel.load_extension()
    return shared_kernel


def value(kernel: KernelSession, code: str) -> Any:
    result = kernel.execute(code)
    assert result.status == "ok", f"{code!r} failed: {result.error}"
    return ast.literal_eval(result.text_plain[-1])


def view_lines(state: dict[str, Any]) -> list[tuple[str, str]]:
    """(stream, text) of each line of the view."""
    return [
        (stream, "".join(run[0] for run in runs)) for stream, runs in state["lines"]
    ]


def view_text(state: dict[str, Any]) -> str:
    return "\n".join(text for _, text in view_lines(state))


def the_view(kernel: KernelSession, msg_id: str) -> tuple[str, str]:
    """The model id and display id of the view cell `msg_id` showed, once running."""
    [shown] = [
        m
        for m in kernel.messages_for(msg_id)
        if m["msg_type"] == "display_data" and WIDGET_VIEW_MIME in m["content"]["data"]
    ]
    model_id = str(shown["content"]["data"][WIDGET_VIEW_MIME]["model_id"])
    kernel.wait_for_widget_state(model_id, lambda s: s["pid"] > 0, 10, "a pid")
    return model_id, str(shown["content"]["transient"]["display_id"])


def start(kernel: KernelSession, cell: str) -> tuple[str, str]:
    result = kernel.execute(cell)
    assert result.status == "ok", result.error
    return the_view(kernel, result.msg_id)


def press(kernel: KernelSession, model_id: str, content: dict[str, Any]) -> str:
    """Send what a button or the box sends; return the note the view shows then."""
    since = kernel.mark()
    kernel.send_widget_custom(model_id, content)
    kernel.wait_for(
        lambda m: (
            m["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
            and m["parent_header"].get("msg_type") == "comm_msg"
        ),
        5,
        f"kernel to handle {content}",
        since,
    )
    return str(kernel.widget_state(model_id)["note"])


def test_the_example_end_to_end(asubp: KernelSession) -> None:
    started = time.monotonic()
    result = asubp.execute(f"%%asubp --name job\n{EXAMPLE}")
    returned = time.monotonic() - started
    assert result.status == "ok", result.error
    assert returned < 1.0, f"the cell took {returned:.2f} s to return"
    model_id, display_id = the_view(asubp, result.msg_id)

    state = asubp.wait_for_widget_state(
        model_id, lambda s: "Name?" in view_text(s), 5, "the prompt"
    )
    assert view_lines(state) == [("stdout", "Name?")]
    assert state["state"] == "running"
    assert state["name"] == "job"
    assert state["command"] == EXAMPLE
    assert state["pid"] == value(asubp, "job.pid")
    assert state["stdin_open"] is True
    assert state["ended"] is False
    assert asubp.round_trip() < 1.0, "the kernel is not free while the process runs"

    asubp.send_widget_custom(model_id, {"action": "send", "text": "Ada"})
    state = asubp.wait_for_widget_state(
        model_id, lambda s: "tick 1" in view_text(s), 5, "tick 1"
    )
    assert view_text(state).startswith("Name?\nAda\nhi Ada\ntick 1")
    first_elapsed = state["elapsed"]
    assert value(asubp, "job.returncode, job.running") == (None, True)
    state = asubp.wait_for_widget_state(
        model_id, lambda s: "tick 2" in view_text(s), 5, "tick 2"
    )
    assert state["elapsed"] > first_elapsed, "elapsed does not tick"

    state = asubp.wait_for_widget_state(model_id, lambda s: s["ended"], 10, "the end")
    assert state["state"] == "exited with code 3"
    assert state["stdin_open"] is False
    assert view_lines(state) == [
        ("stdout", "Name?"),
        ("stdout", "Ada"),
        ("stdout", "hi Ada"),
        ("stdout", "tick 1"),
        ("stdout", "tick 2"),
        ("stdout", "tick 3"),
        ("stderr", "oops"),
    ]
    assert value(asubp, "job.returncode, job.stdout, job.stderr") == (
        3,
        "Name?\nhi Ada\ntick 1\ntick 2\ntick 3\n",
        "oops\n",
    )

    update = asubp.wait_for(
        lambda m: (
            m["msg_type"] == "update_display_data"
            and m["content"]["transient"]["display_id"] == display_id
        ),
        5,
        "the transcript replacing the view",
    )
    assert update["parent_header"]["msg_id"] == result.msg_id
    assert update["content"]["data"] == {
        "text/plain": f"$ {EXAMPLE}\n"
        "Name?\nAda\nhi Ada\ntick 1\ntick 2\ntick 3\n[stderr] oops\n"
        "[exited with code 3]"
    }

    # After the end, every control answers with one line and nothing breaks.
    for content in [
        {"action": "send", "text": "late"},
        {"action": "eof"},
        {"action": "signal", "signal": "SIGINT"},
        {"action": "signal", "signal": "SIGTERM"},
        {"action": "signal", "signal": "SIGKILL"},
        {"action": "stop"},
    ]:
        note = press(asubp, model_id, content)
        assert note, f"no note after {content}"
        assert "\n" not in note
        assert "exited with code 3" in note or "closed" in note, note
    assert asubp.widget_state(model_id)["state"] == "exited with code 3"
    log = asubp.kernel_log()
    assert "Traceback" not in log
    assert "Error" not in log
    assert asubp.round_trip() < 1.0


def test_eof_button_closes_stdin(asubp: KernelSession) -> None:
    model_id, _ = start(asubp, f"%%asubp --name talker\n{TALKER}")
    asubp.send_widget_custom(model_id, {"action": "send", "text": "a"})
    assert press(asubp, model_id, {"action": "eof"}) == ""
    state = asubp.wait_for_widget_state(model_id, lambda s: s["ended"], 5, "the end")
    assert state["state"] == "exited with code 0"
    assert view_text(state) == "a\ngot:a\nend of input"
    assert "already closed" in press(asubp, model_id, {"action": "eof"})


@pytest.mark.parametrize(
    ("content", "state", "last_line"),
    [
        ({"action": "signal", "signal": "SIGINT"}, "exited with code 7", "got SIGINT"),
        (
            {"action": "signal", "signal": "SIGTERM"},
            "killed by signal SIGTERM",
            "got:a",
        ),
        (
            {"action": "signal", "signal": "SIGKILL"},
            "killed by signal SIGKILL",
            "got:a",
        ),
        ({"action": "stop"}, "killed by signal SIGTERM", "got:a"),
    ],
)
def test_signal_buttons(
    asubp: KernelSession, content: dict[str, Any], state: str, last_line: str
) -> None:
    model_id, _ = start(asubp, f"%%asubp\n{TALKER}")
    asubp.send_widget_custom(model_id, {"action": "send", "text": "a"})
    asubp.wait_for_widget_state(model_id, lambda s: "got:a" in view_text(s), 5, "got:a")
    note = press(asubp, model_id, content)
    assert note.startswith(("sent ", "stopping")), note
    final = asubp.wait_for_widget_state(model_id, lambda s: s["ended"], 5, "the end")
    assert final["state"] == state
    assert view_text(final).splitlines()[-1] == last_line
    assert "Traceback" not in asubp.kernel_log()


def test_unknown_action_gets_a_note(asubp: KernelSession) -> None:
    model_id, _ = start(asubp, "%%asubp\nsleep 30")
    assert "unknown action" in press(asubp, model_id, {"action": "dance"})
    press(asubp, model_id, {"action": "signal", "signal": "SIGKILL"})
    asubp.wait_for_widget_state(model_id, lambda s: s["ended"], 5, "the end")
    assert "Traceback" not in asubp.kernel_log()
