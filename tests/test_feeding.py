"""Sending to a process's stdin: big writes, closed stdin, password mode, timing."""

from __future__ import annotations

import json
import sys
import time

import pytest
from kernel_harness import KernelSession

PASSWORD_PROMPT = (
    f"{sys.executable} -c \"import getpass; print(len(getpass.getpass('pw: ')))\""
)
READ_ONE = "sh -c 'read line; echo \"got:$line\"'"


@pytest.fixture(scope="module")
def k(shared_kernel: KernelSession) -> KernelSession:
    shared_kernel.load_extension()
    shared_kernel.execute("import asyncio\nfrom jupyter_asubp import start, run")
    return shared_kernel


def round_trips_while(k: KernelSession, done_code: str, limit: float) -> list[float]:
    """Time `1+1` cells until `done_code` prints True; return the times."""
    times = []
    deadline = time.monotonic() + limit
    while True:
        times.append(k.round_trip())
        if k.execute(done_code).stdout.strip() == "True":
            return times
        assert time.monotonic() < deadline, f"not done within {limit:g} s"


def lines_text(state: dict[str, object]) -> str:
    return json.dumps(state["lines"])


def test_100_mb_to_cat_while_other_cells_answer(k: KernelSession) -> None:
    result = k.execute(
        "cat = await start(['cat'])\n"
        "async def feed():\n"
        "    await cat.send(b'x' * 100_000_000)\n"
        "    await cat.close_stdin()\n"
        "feeding = asyncio.ensure_future(feed())"
    )
    assert result.status == "ok", result.error
    times = round_trips_while(k, "print(cat.returncode is not None)", 60)
    out = k.execute(
        "await cat.wait_closed(10)\nawait feeding\n"
        "data = cat.stdout_bytes\n"
        "print(len(data), data.count(b'x'), cat.state)"
    )
    assert out.stdout.split(maxsplit=2) == [
        "100000000",
        "100000000",
        "exited with code 0\n",
    ]
    assert max(times) < 1.0, f"1+1 took up to {max(times):.2f} s"


def test_i2_two_million_z_through_the_view(k: KernelSession) -> None:
    result = k.execute("%%asubp --name zcat\ncat")
    [model] = result.widget_model_ids
    k.send_widget_custom(model, {"action": "send", "text": "z" * 2_000_000})
    k.send_widget_custom(model, {"action": "eof"})
    started = time.monotonic()
    times = round_trips_while(k, "print(zcat.returncode is not None)", 5)
    assert time.monotonic() - started < 5
    out = k.execute(
        "await zcat.wait_closed(5)\n"
        "print(len(zcat.stdout), zcat.stdout == 'z' * 2_000_000 + '\\n', zcat.state)"
    )
    assert out.stdout == "2000001 True exited with code 0\n"
    assert max(times) < 1.0, f"1+1 took up to {max(times):.2f} s"

    out = k.execute(
        "r = await run('cat', input='z' * 2_000_000)\n"
        "print(r.stdout == 'z' * 2_000_000, r.returncode)"
    )
    assert out.stdout == "True 0\n"


def test_writing_to_an_ended_process(k: KernelSession) -> None:
    result = k.execute("%%asubp --name bye\necho bye")
    [model] = result.widget_model_ids
    k.wait_for_widget_state(model, lambda s: s["ended"], 5, "the end")
    k.send_widget_custom(model, {"action": "send", "text": "abc"})
    state = k.wait_for_widget_state(
        model, lambda s: s["note"] != "", 5, "a note about the ended process"
    )
    assert "\n" not in state["note"]
    assert "not sent" in state["note"]
    assert "exited with code 0" in state["note"]

    result = k.execute("await bye.send_line('abc')")
    assert result.status == "error"
    assert result.error is not None
    assert result.error.ename == "StdinClosedError"
    assert len(result.error.traceback) == 1, result.error.traceback
    assert k.execute("print(repr(bye.stdout))").stdout == "'bye\\n'\n"

    # A running process whose stdin was closed by the view's end-of-input.
    result = k.execute("%%asubp --name shut\ncat; sleep 30")
    [model] = result.widget_model_ids
    k.send_widget_custom(model, {"action": "send", "text": "kept"})
    k.send_widget_custom(model, {"action": "eof"})
    k.wait_for_widget_state(model, lambda s: not s["stdin_open"], 5, "stdin closed")
    k.send_widget_custom(model, {"action": "send", "text": "late"})
    state = k.wait_for_widget_state(
        model, lambda s: s["note"].startswith("not sent"), 5, "a 'not sent' note"
    )
    assert "\n" not in state["note"]
    result = k.execute("await shut.send('late')")
    assert result.error is not None
    assert result.error.ename == "StdinClosedError"
    out = k.execute("print(repr(shut.stdout)); await shut.stop()")
    assert out.stdout == "'kept\\n'\n"

    log = k.kernel_log()
    assert "Traceback" not in log
    assert "never retrieved" not in log


def test_i4_password_mode_keeps_the_text_everywhere_out(k: KernelSession) -> None:
    secret = "s3cr" + "3tXYZ"
    mark = k.mark()
    result = k.execute(f"%%asubp --name pw\n{PASSWORD_PROMPT}")
    [model] = result.widget_model_ids
    k.wait_for_widget_state(model, lambda s: "pw: " in lines_text(s), 10, "pw: ")
    k.send_widget_custom(model, {"action": "password", "on": True})
    k.wait_for_widget_state(model, lambda s: s["password"], 5, "password mode")
    k.send_widget_custom(model, {"action": "send", "text": secret})
    state = k.wait_for_widget_state(model, lambda s: s["ended"], 10, "the end")
    assert state["state"] == "exited with code 0"
    assert '"9"' in lines_text(state)
    transcript = k.wait_for(
        lambda m: m["msg_type"] == "update_display_data",
        5,
        "the transcript",
        since=mark,
    )
    assert "9" in transcript["content"]["data"]["text/plain"]

    history = k.execute(
        "needle = 's3cr' + '3tXYZ'\n"
        "hm = get_ipython().history_manager\n"
        "print(any(needle in cell for cell in In))\n"
        "print(any(needle in str(row) for row in hm.get_range(output=True)))\n"
        "print(needle in pw.stdout)"
    )
    assert history.stdout == "False\nFalse\nFalse\n"
    assert secret not in json.dumps(k.widget_state(model))
    assert secret not in json.dumps(k.iopub_log(), default=str)
    assert secret not in k.kernel_log()


def test_i5_input_while_a_sync_cell_runs_and_while_idle(k: KernelSession) -> None:
    result = k.execute(f"%%asubp\n{READ_ONE}")
    [model] = result.widget_model_ids
    sleeping = k.start_execute("import time\ntime.sleep(3)")
    k.wait_started(sleeping)
    time.sleep(1)
    k.send_widget_custom(model, {"action": "send", "text": "abc"})
    k.wait_idle(sleeping, 10)
    slept = time.monotonic()
    state = k.wait_for_widget_state(
        model, lambda s: "got:abc" in lines_text(s), 5, "got:abc after the sleep"
    )
    assert time.monotonic() - slept < 1.0
    assert lines_text(state).count("got:abc") == 1

    result = k.execute(f"%%asubp\n{READ_ONE}")
    [model] = result.widget_model_ids
    sent = time.monotonic()
    k.send_widget_custom(model, {"action": "send", "text": "abc"})
    state = k.wait_for_widget_state(
        model, lambda s: "got:abc" in lines_text(s), 5, "got:abc while idle"
    )
    assert time.monotonic() - sent < 1.0
    assert lines_text(state).count("got:abc") == 1
