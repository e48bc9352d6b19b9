"""The %%asubp and %asubp magics in a real kernel: options, errors, help."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest
from kernel_harness import (
    ExecutionResult,
    KernelSession,
    value,
    view_text,
)


@pytest.fixture(scope="module")
def asubp(shared_kernel: KernelSession) -> KernelSession:
    """The module's kernel with the extension loaded."""
    shared_kernel.load_extension()
    shared_kernel.execute("import jupyter_asubp, psutil")
    return shared_kernel


def model_id_of(kernel: KernelSession, msg_id: str, timeout: float = 10.0) -> str:
    """Wait until the view the cell `msg_id` shows has a pid; return its model id."""
    model_id = kernel.view_model_id(msg_id, timeout)
    # Input sent before the process has started is refused: wait for its pid.
    kernel.wait_for_widget_state(model_id, lambda s: s["pid"] > 0, timeout, "a pid")
    return model_id


def is_idle(kernel: KernelSession, msg_id: str) -> bool:
    return any(
        m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
        for m in kernel.messages_for(msg_id)
    )


def transcript(kernel: KernelSession, result: ExecutionResult) -> str:
    """The plain text that replaced the cell's view (it may come after idle)."""
    return kernel.transcript(result.msg_id, 10)


BAD_USAGE = [
    ("%%asubp --bogus\necho", "unrecognized arguments: --bogus"),
    ("%%asubp --timeout abc\necho", "--timeout"),
    ("%%asubp --timeout 0\necho", "--timeout must be a positive number"),
    ("%%asubp --timeout -1\necho", "--timeout must be a positive number"),
    ("%%asubp --env NOVALUE\necho", "--env expects NAME=VALUE"),
    ("%%asubp --env 1A=2\necho", "--env expects NAME=VALUE"),
    ("%%asubp --name 'not a name'\necho", "is not a Python variable name"),
    ("%%asubp --name\necho", "--name"),
    ("%%asubp --max-lines 0\necho", "--max-lines must be at least 1"),
    ("%%asubp --encoding no-such-codec\necho", "unknown encoding"),
    ("%%asubp extra words\necho", "unexpected arguments"),
    ("%asubp", "%asubp needs a command"),
    ("%asubp --kill no-such-process", "no process named or with pid"),
    ("if True:\n    %asubp --wait true", "--wait needs %%asubp at the start"),
]


@pytest.mark.parametrize(("cell", "message"), BAD_USAGE)
def test_bad_option_gives_one_line_usage_error(
    asubp: KernelSession, cell: str, message: str
) -> None:
    result = asubp.execute(cell)
    assert result.error is not None
    assert result.error.ename == "UsageError"
    assert message in result.error.evalue
    lines = result.stderr.strip().splitlines()
    assert lines == [f"UsageError: {result.error.evalue}"]
    assert "Traceback" not in result.stderr
    assert not result.widget_model_ids, "a view was shown for a bad option"
    assert value(asubp, "6 * 7") == 42


START_ERRORS = [
    ("%%asubp --cwd /no/such/dir\necho", "working directory '/no/such/dir'"),
    ("%%asubp --shell /no/such/sh\necho", "'/no/such/sh'"),
    ("%asubp no-such-command-asubp", "'no-such-command-asubp'"),
]


@pytest.mark.parametrize(("cell", "message"), START_ERRORS)
def test_start_failure_is_one_line_and_shown_in_the_view(
    asubp: KernelSession, cell: str, message: str
) -> None:
    result = asubp.execute(cell)
    assert result.error is not None
    assert result.error.ename == "StartError"
    assert message in result.error.evalue
    assert result.error.traceback == [f"StartError: {result.error.evalue}"]
    assert transcript(asubp, result).splitlines()[-1].startswith("[failed to start: ")
    assert message in transcript(asubp, result)
    assert value(asubp, "6 * 7") == 42


def test_magic_still_works_after_bad_options(asubp: KernelSession) -> None:
    asubp.execute("%%asubp --bogus\necho")
    result = asubp.execute("%%asubp --wait\necho still fine")
    assert result.status == "ok", result.error
    assert "still fine" in transcript(asubp, result)


def test_help_shows_every_option(asubp: KernelSession) -> None:
    result = asubp.execute("%%asubp?")
    assert result.status == "ok"
    pages = [p["data"]["text/plain"] for p in result.reply["payload"]]
    assert len(pages) == 1
    text = pages[0]
    for option in [
        "--name NAME",
        "--wait",
        "--no-raise",
        "--cwd DIR",
        "--env",
        "--shell PATH",
        "--timeout SECONDS",
        "--encoding",
        "--merge-stderr",
        "--max-lines",
        "--out VAR",
        "--err VAR",
        "--input TEXT",
        "--list",
        "--kill",
    ]:
        assert option in text, f"{option} missing from %%asubp? help"
    assert "for %%asubp: nothing (the cell is the script)" in text
    assert "option_strings" not in text, "argparse formatted a '%' in a help text"


def test_name_binds_the_object_processes_lists(asubp: KernelSession) -> None:
    result = asubp.execute("%%asubp --name named --wait\necho named")
    assert result.status == "ok", result.error
    assert value(asubp, "[p is named for p in jupyter_asubp.processes()].count(True)")
    assert value(asubp, "named.name, named.returncode, named.stdout") == (
        "named",
        0,
        "named\n",
    )


def test_list_shows_a_table_and_kill_stops_by_name_pid_and_all(
    asubp: KernelSession,
) -> None:
    for name in ("one", "two", "three"):
        assert asubp.execute(f"%%asubp --name {name}\nsleep 30").status == "ok"
    pids = value(asubp, "[one.pid, two.pid, three.pid]")

    table = asubp.execute("%asubp --list")
    assert table.status == "ok", table.error
    lines = table.text_plain[-1].splitlines()
    assert lines[0].split() == ["name", "pid", "state", "elapsed", "command"]
    for name, pid in zip(("one", "two", "three"), pids, strict=True):
        row = next(line for line in lines if line.startswith(f"{name} "))
        assert row.split()[:3] == [name, str(pid), "running"]
        assert row.endswith("sleep 30")

    killed = asubp.execute("%asubp --kill one")
    assert killed.status == "ok", killed.error
    assert killed.stdout == "stopped 1 process(es)\n"
    assert value(asubp, "one.state") == "killed by signal SIGTERM"
    assert value(asubp, "two.running, three.running") == (True, True)

    assert asubp.execute(f"%asubp --kill {pids[1]}").status == "ok"
    assert value(asubp, "two.state") == "killed by signal SIGTERM"

    assert asubp.execute("%asubp --kill all").status == "ok"
    assert value(asubp, "three.state") == "killed by signal SIGTERM"
    assert not [pid for pid in pids if psutil.pid_exists(pid) and _alive(pid)]
    table = asubp.execute("%asubp --list").text_plain[-1]
    assert "running" not in table.split("\n", 1)[1]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_cwd(asubp: KernelSession, tmp_path: Path) -> None:
    result = asubp.execute(f"%%asubp --wait --name where --cwd {tmp_path}\npwd")
    assert result.status == "ok", result.error
    assert value(asubp, "where.stdout") == os.path.realpath(tmp_path) + "\n"


def test_env_values_may_hold_equals_and_spaces(asubp: KernelSession) -> None:
    cell = (
        "%%asubp --wait --name envs --env 'GREETING=a=b c' --env OTHER=2 --env EMPTY=\n"
        'echo "[$GREETING][$OTHER][${EMPTY-unset}]"'
    )
    result = asubp.execute(cell)
    assert result.status == "ok", result.error
    assert value(asubp, "envs.stdout") == "[a=b c][2][]\n"


def test_shell(asubp: KernelSession) -> None:
    script = 'echo "${BASH_VERSION:+bash}"; echo "$0"'
    result = asubp.execute(f"%%asubp --wait --name bashed --shell /bin/bash\n{script}")
    assert result.status == "ok", result.error
    assert value(asubp, "bashed.stdout") == "bash\n/bin/bash\n"
    result = asubp.execute(f"%%asubp --wait --name plain\n{script}")
    assert value(asubp, "plain.stdout").endswith("\n/bin/sh\n")


def test_timeout_stops_and_says_so(asubp: KernelSession) -> None:
    result = asubp.execute(
        "%%asubp --wait --no-raise --name slow --timeout 0.5\nsleep 30"
    )
    assert result.status == "ok", result.error
    state = "timed out after 0.5 s; killed by signal SIGTERM"
    assert value(asubp, "slow.state, slow.timed_out") == (state, True)
    assert transcript(asubp, result).splitlines()[-1] == f"[{state}]"

    result = asubp.execute("%%asubp --wait --timeout 0.5\nsleep 30")
    assert result.error is not None
    assert result.error.ename == "ProcessFailedError"
    assert result.error.evalue == f"'sleep 30' {state}"


WAIT_SCRIPT = 'read a; echo "got:$a"; read b; echo "got:$b"'


def test_wait_returns_after_the_end_and_the_view_takes_input_meanwhile(
    asubp: KernelSession,
) -> None:
    msg_id = asubp.start_execute(f"%%asubp --wait --name waited\n{WAIT_SCRIPT}")
    model_id = model_id_of(asubp, msg_id)
    asubp.send_widget_custom(model_id, {"action": "send", "text": "first"})
    asubp.wait_for_widget_state(
        model_id, lambda s: "got:first" in view_text(s), 5, "'got:first' in the view"
    )
    assert not is_idle(asubp, msg_id), "--wait returned while the process ran"

    asubp.send_widget_custom(model_id, {"action": "send", "text": "second"})
    result = asubp.wait_idle(msg_id, 10)
    assert result.status == "ok", result.error
    assert transcript(asubp, result).splitlines()[-3:] == [
        "second",
        "got:second",
        "[exited with code 0]",
    ]
    assert value(asubp, "waited.returncode, waited.stdout") == (
        0,
        "got:first\ngot:second\n",
    )


@pytest.mark.parametrize(
    ("script", "evalue"),
    [
        ("echo out; exit 3", "'echo out; exit 3' exited with code 3"),
        ("kill -TERM $$", "'kill -TERM $$' killed by signal SIGTERM"),
        ("no-such-command-asubp", "exited with code 127 (command not found)"),
    ],
)
def test_wait_raises_naming_command_and_status(
    asubp: KernelSession, script: str, evalue: str
) -> None:
    result = asubp.execute(f"%%asubp --wait\n{script}")
    assert result.error is not None
    assert result.error.ename == "ProcessFailedError"
    assert evalue in result.error.evalue
    assert result.error.traceback == [f"ProcessFailedError: {result.error.evalue}"]


def test_no_raise(asubp: KernelSession) -> None:
    result = asubp.execute("%%asubp --wait --no-raise --name failed\nexit 3")
    assert result.status == "ok", result.error
    assert value(asubp, "failed.returncode") == 3
    assert transcript(asubp, result).splitlines()[-1] == "[exited with code 3]"


def test_line_magic_python_talked_to_through_the_view(asubp: KernelSession) -> None:
    msg_id = asubp.start_execute("%asubp --name py python3 -i -q")
    model_id = model_id_of(asubp, msg_id)
    assert asubp.wait_idle(msg_id, 10).status == "ok"
    assert value(asubp, "py.command, py.running") == ("python3 -i -q", True)

    asubp.send_widget_custom(model_id, {"action": "send", "text": "6 * 7"})
    asubp.send_widget_custom(
        model_id, {"action": "send", "text": "print('hello', 'there')"}
    )
    asubp.wait_for_widget_state(
        model_id,
        lambda s: "hello there" in view_text(s),
        10,
        "python's answers in the view",
    )
    asubp.send_widget_custom(model_id, {"action": "eof"})
    state = asubp.wait_for_widget_state(model_id, lambda s: s["ended"], 10, "the end")
    assert state["state"] == "exited with code 0"
    assert value(asubp, "py.stdout") == "42\nhello there\n"
