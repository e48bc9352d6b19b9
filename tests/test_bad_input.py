"""Hostile or confused input: one clear line, nothing lost, the kernel responsive."""

from __future__ import annotations

import ast
import os
import sys
import time
from typing import Any

import pytest
from kernel_harness import WIDGET_VIEW_MIME, ExecutionResult, KernelSession

CAT = [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read())"]
HUGE_SGR_PARAMETER = f"{sys.executable} -c \"print('\\x1b[' + '9' * 5000 + 'mshown')\""
HUGE_CURSOR_MOVE = f"{sys.executable} -c \"print('a\\x1b[999999999Cb')\""


@pytest.fixture(scope="module")
def k(shared_kernel: KernelSession) -> KernelSession:
    shared_kernel.load_extension()
    shared_kernel.execute("from jupyter_asubp import start, processes")
    return shared_kernel


def value(kernel: KernelSession, code: str) -> Any:
    """Run `code`, whose last line is a literal-valued expression; return it."""
    result = kernel.execute(code)
    assert result.status == "ok", f"{code!r} failed: {result.error}"
    return ast.literal_eval(result.text_plain[-1])


def _final_text(message: dict[str, Any], msg_id: str) -> bool:
    if message["parent_header"].get("msg_id") != msg_id or message["msg_type"] not in (
        "display_data",
        "update_display_data",
    ):
        return False
    text = str(message["content"]["data"].get("text/plain", ""))
    last = text.rsplit("\n", 1)[-1]
    return last.startswith("[") and last not in ("[starting]", "[running]")


def transcript(kernel: KernelSession, result: ExecutionResult) -> str:
    """The transcript of the cell's process: in place of its view, or after it."""
    message = kernel.wait_for(
        lambda m: _final_text(m, result.msg_id), 10, "the transcript of the process"
    )
    return str(message["content"]["data"]["text/plain"])


def one_line_error(result: ExecutionResult, ename: str, text: str) -> None:
    assert result.error is not None, "the cell did not fail"
    assert result.error.ename == ename, result.error
    assert text in result.error.evalue, result.error.evalue
    assert "\n" not in result.error.evalue.strip()
    if ename == "UsageError":
        # IPython prints it alone; the reply's traceback may be an older one.
        assert result.stderr.strip().splitlines() == [f"{ename}: {result.error.evalue}"]
    else:
        assert len([line for line in result.error.traceback if line.strip()]) <= 1
    assert "Traceback" not in result.stderr


def running_view(kernel: KernelSession, cell: str) -> str:
    result = kernel.execute(cell)
    assert result.status == "ok", result.error
    [model] = result.widget_model_ids
    kernel.wait_for_widget_state(model, lambda s: s["pid"] > 0, 10, "a pid")
    return model


def view_text(state: dict[str, Any]) -> str:
    return "\n".join("".join(run[0] for run in runs) for _, runs in state["lines"])


def test_env_path_without_setpriv_still_starts(k: KernelSession) -> None:
    """A PATH without setpriv's folder made every start fail as '/bin/sh' not found."""
    result = k.execute("%%asubp --wait --env PATH=/no/such/dir\n/bin/echo started")
    assert result.status == "ok", result.error
    assert "started" in transcript(k, result)


@pytest.mark.parametrize("encoding", ["rot13", "base64", "zlib"])
def test_non_text_encoding_is_refused(k: KernelSession, encoding: str) -> None:
    """rot13/base64/zlib were accepted; their decoders crashed and the wait hung."""
    result = k.execute(f"%%asubp --encoding {encoding}\necho hi")
    one_line_error(result, "UsageError", "not a text encoding")
    assert not result.widget_model_ids
    result = k.execute(f"await start('echo hi', encoding={encoding!r})")
    one_line_error(result, "StartError", "not a text encoding")


def test_env_value_that_is_not_a_string_is_a_start_error(k: KernelSession) -> None:
    """env={'A': 1} failed at spawn with TypeError, leaving a process 'starting'."""
    before = value(k, "len(processes())")
    result = k.execute("await start('true', env={'A': 1})")
    one_line_error(result, "StartError", "env must map names to strings")
    assert value(k, "len(processes())") == before
    assert value(k, "[p.state for p in processes() if p.state == 'starting']") == []


def test_send_of_a_non_string_is_a_clear_type_error(k: KernelSession) -> None:
    """send(123) failed with a bare 'AssertionError: 123' from asyncio."""
    k.execute(f"p = await start({CAT!r})")
    result = k.execute("await p.send(123)")
    assert result.error is not None
    assert result.error.ename == "TypeError"
    assert "send takes str or bytes, not int" in result.error.evalue
    result = k.execute(
        "await p.send(bytearray(b'still ')); await p.send_line('works')\n"
        "await p.close_stdin(); await p.wait_closed(10); p.stdout"
    )
    assert ast.literal_eval(result.text_plain[-1]) == "still works\n"


def test_unknown_stream_is_a_clear_value_error(k: KernelSession) -> None:
    """expect/lines with stream='bogus' raised a bare KeyError: 'bogus'."""
    k.execute("q = await start('echo hi')")
    for code in (
        "await q.expect('hi', stream='bogus')",
        "[line async for line in q.lines('bogus')]",
    ):
        result = k.execute(code)
        assert result.error is not None
        assert result.error.ename == "ValueError", result.error
        assert "'stdout' or 'stderr'" in result.error.evalue


@pytest.mark.parametrize("option", ["--name if", "--name del", "--out class"])
def test_keyword_as_a_variable_name_is_refused(k: KernelSession, option: str) -> None:
    """--name del was bound to user_ns['del'], which no code can ever refer to."""
    result = k.execute(f"%%asubp {option}\necho hi")
    one_line_error(result, "UsageError", "is not a Python variable name")
    assert not result.widget_model_ids


def test_double_dash_ends_the_options(k: KernelSession) -> None:
    """'%asubp -- cmd' ran a program named '--' (command not found)."""
    result = k.execute("%asubp --wait -- echo after-dashes")
    assert result.status == "ok", result.error
    assert "after-dashes" in transcript(k, result)


def test_cwd_with_a_tilde_is_the_home_directory(k: KernelSession) -> None:
    """--cwd ~ failed: working directory '~' does not exist."""
    result = k.execute("%%asubp --wait --cwd ~\npwd")
    assert result.status == "ok", result.error
    assert os.path.expanduser("~") in transcript(k, result).splitlines()


def test_input_to_a_process_that_does_not_read_it_is_no_error(
    k: KernelSession,
) -> None:
    """--input to a process that exits at once raised StdinClosedError, by chance."""
    for size in (1, 1000, 4000):
        result = k.execute(f"%asubp --wait --input {'x' * size} true")
        assert result.status == "ok", (size, result.error)
        assert transcript(k, result).endswith("[exited with code 0]")


def test_view_refuses_input_that_is_not_text(k: KernelSession) -> None:
    """The view sent str(None) or a list's repr to the child as if typed."""
    model = running_view(k, "%%asubp --name viewcat\ncat")
    for text in (None, ["a", "b"], {"x": 1}, 12):
        k.execute("viewcat._view._tell('')")
        k.wait_for_widget_state(model, lambda s: s["note"] == "", 5, "no note")
        k.send_widget_custom(model, {"action": "send", "text": text})
        k.wait_for_widget_state(
            model, lambda s: s["note"].startswith("not sent"), 5, "a refusal note"
        )
    k.send_widget_custom(model, {"action": "send", "text": "typed"})
    k.send_widget_custom(model, {"action": "eof"})
    k.wait_for_widget_state(model, lambda s: s["ended"], 10, "the end")
    assert value(k, "viewcat.stdout") == "typed\n"


def test_view_says_which_signals_it_sends(k: KernelSession) -> None:
    """A SIGSTOP (or no signal) from the view was dropped without a word."""
    model = running_view(k, "%%asubp --name sleeper\nsleep 30")
    k.send_widget_custom(model, {"action": "signal", "signal": "SIGSTOP"})
    state = k.wait_for_widget_state(
        model, lambda s: "SIGSTOP" in s["note"], 5, "a note on SIGSTOP"
    )
    assert state["note"].startswith("not sent SIGSTOP")
    assert value(k, "sleeper.state") == "running"
    k.execute("await sleeper.stop()")


def test_view_password_flag_takes_only_true(k: KernelSession) -> None:
    """{"on": "false"} turned password mode on: bool("false") is True."""
    model = running_view(k, "%%asubp --name pw\ncat")
    k.send_widget_custom(model, {"action": "password", "on": "false"})
    k.send_widget_custom(model, {"action": "send", "text": "seen"})
    state = k.wait_for_widget_state(
        model, lambda s: "seen" in view_text(s), 5, "the echo of the input"
    )
    assert state["password"] is False
    k.execute("await pw.stop()")


def test_view_input_the_encoding_cannot_write_gets_a_note(k: KernelSession) -> None:
    """'é' typed to an ascii process failed in the background with no word in view."""
    model = running_view(k, "%%asubp --name asc --encoding ascii\ncat")
    k.send_widget_custom(model, {"action": "send", "text": "caf\u00e9"})
    state = k.wait_for_widget_state(
        model, lambda s: s["note"].startswith("not sent"), 5, "a note"
    )
    assert "ascii" in state["note"]
    k.send_widget_custom(model, {"action": "send", "text": "plain"})
    k.send_widget_custom(model, {"action": "eof"})
    k.wait_for_widget_state(model, lambda s: s["ended"], 10, "the end")
    assert value(k, "asc.stdout") == "plain\n"


def test_escape_with_a_huge_number_loses_no_output(k: KernelSession) -> None:
    """A 5000-digit SGR parameter raised ValueError: that output vanished from view."""
    result = k.execute(f"%%asubp --wait\n{HUGE_SGR_PARAMETER}")
    assert result.status == "ok", result.error
    assert "shown" in transcript(k, result).splitlines()


def test_huge_cursor_move_is_bounded(k: KernelSession) -> None:
    """ESC[999999999C built a line of a billion spaces: 1 GB and seconds of stall."""
    started = time.monotonic()
    result = k.execute(f"%%asubp --wait --max-chars 1000\n{HUGE_CURSOR_MOVE}")
    assert result.status == "ok", result.error
    assert time.monotonic() - started < 3.0
    [model] = result.widget_model_ids
    line = view_text(k.widget_state(model))
    assert line.endswith("b")
    assert len(line) <= 1001
    assert k.round_trip() < 1.0
    assert value(k, "processes()[-1].stdout") == "a\x1b[999999999Cb\n"


def test_kernel_is_fine_after_all_that(k: KernelSession) -> None:
    result = k.execute("%%asubp --wait\necho still fine")
    assert result.status == "ok", result.error
    assert "still fine" in transcript(k, result)
    assert WIDGET_VIEW_MIME not in transcript(k, result)
    assert "Traceback" not in k.kernel_log()
