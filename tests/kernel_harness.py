"""Drive a real IPython kernel from tests, the way a notebook front end does.

`KernelSession` starts an ipykernel with the current interpreter through
`jupyter_client`, talks to it over real ZMQ channels, and keeps a log of every
IOPub message so that output arriving late, or for another request, can still be
inspected.  It also keeps track of the processes the kernel starts so that tests
can check that nothing is left behind.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple

import psutil
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

Message = dict[str, Any]
"""A deserialized Jupyter message (header, parent_header, content, ...)."""

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
COMM_MSG_TYPES = frozenset({"comm_open", "comm_msg", "comm_close"})
OUTPUT_MSG_TYPES = frozenset(
    {"display_data", "execute_result", "error", "update_display_data", "stream"}
)
TAG_ENV_VAR = "JUPYTER_ASUBP_HARNESS_TAG"
"""Environment variable set in each kernel; its children inherit it."""

_KERNEL_NAME = "asubp-harness"
_SESSIONS: weakref.WeakSet[KernelSession] = weakref.WeakSet()
_SURVIVORS: list[str] = []


class KernelTimeout(TimeoutError, AssertionError):
    """A wait on the kernel did not finish in time.

    It is both a `TimeoutError` and an `AssertionError`, so pytest reports it as a
    plain test failure whose message names what hung.
    """


class ErrorInfo(NamedTuple):
    """The exception a cell raised, as reported in its execute_reply."""

    ename: str
    evalue: str
    traceback: list[str]


@dataclass
class ExecutionResult:
    """Everything a kernel sent back for one execute_request.

    Attributes
    ----------
    msg_id : str
        The msg_id of the execute_request.
    code : str
        The code that was executed.
    reply : dict
        Content of the execute_reply.
    messages : list of dict
        All IOPub messages with this request as parent, up to and including the
        ``status: idle`` message.  Later messages for the same parent (for
        example from tasks the cell left running) are available from
        `KernelSession.messages_for`.
    """

    msg_id: str
    code: str
    reply: dict[str, Any]
    messages: list[Message] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The reply status: ``"ok"``, ``"error"`` or ``"aborted"``."""
        return str(self.reply.get("status"))

    @property
    def outputs(self) -> list[Message]:
        """The output messages, as a notebook would render them, in order."""
        return [m for m in self.messages if m["msg_type"] in OUTPUT_MSG_TYPES]

    @property
    def stdout(self) -> str:
        """All text the cell wrote to stdout."""
        return self._stream("stdout")

    @property
    def stderr(self) -> str:
        """All text the cell wrote to stderr."""
        return self._stream("stderr")

    @property
    def error(self) -> ErrorInfo | None:
        """The exception raised by the cell, or None if it succeeded."""
        if self.status != "error":
            return None
        return ErrorInfo(
            ename=str(self.reply.get("ename", "")),
            evalue=str(self.reply.get("evalue", "")),
            traceback=list(self.reply.get("traceback", [])),
        )

    @property
    def text_plain(self) -> list[str]:
        """The ``text/plain`` values of display_data and execute_result outputs."""
        return [
            data["text/plain"]
            for data in self._bundles(("display_data", "execute_result"))
            if "text/plain" in data
        ]

    @property
    def widget_model_ids(self) -> list[str]:
        """Model ids of the widget views the cell displayed, in order."""
        return [
            data[WIDGET_VIEW_MIME]["model_id"]
            for data in self._bundles(
                ("display_data", "execute_result", "update_display_data")
            )
            if WIDGET_VIEW_MIME in data
        ]

    def _stream(self, name: str) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.messages
            if m["msg_type"] == "stream" and m["content"]["name"] == name
        )

    def _bundles(self, msg_types: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        for m in self.messages:
            if m["msg_type"] in msg_types:
                yield m["content"].get("data", {})


def all_sessions() -> list[KernelSession]:
    """Return every `KernelSession` that has been created and not collected."""
    return list(_SESSIONS)


def survivors_log() -> list[str]:
    """Return every process any session killed because it outlived its kernel.

    Entries are `describe_process` strings, oldest first; compare lengths before
    and after a test to find the test's leaks.
    """
    return list(_SURVIVORS)


def describe_process(proc: psutil.Process) -> str:
    """Return ``"pid: command line"`` for a process, for error messages."""
    try:
        cmdline = " ".join(proc.cmdline()) or proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        cmdline = "<gone>"
    return f"{proc.pid}: {cmdline}"


def descendants(pid: int) -> list[psutil.Process]:
    """Return the live, non-zombie descendants of a process (empty if it is gone)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in children if _alive(p)]


def reap(procs: list[psutil.Process], grace: float) -> list[str]:
    """Wait up to `grace` seconds for processes to exit, then kill the rest.

    Parameters
    ----------
    procs : list of psutil.Process
        The processes to get rid of.
    grace : float
        Seconds to wait for them to exit on their own.

    Returns
    -------
    list of str
        `describe_process` of each process that had to be killed.
    """
    deadline = time.monotonic() + grace
    alive = [p for p in procs if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _alive(p)]
    killed = []
    for proc in alive:
        description = describe_process(proc)
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
        killed.append(description)
    _wait_dead(alive, timeout=3.0)
    return killed


def _wait_dead(procs: list[psutil.Process], timeout: float) -> None:
    """Wait for processes to die, reaping those that are our own children.

    Zombies count as dead: re-parented ones may never be reaped if PID 1 of a
    container does not reap orphans.
    """
    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            with contextlib.suppress(psutil.TimeoutExpired, psutil.NoSuchProcess):
                proc.wait(timeout=0)
        if not any(_alive(p) for p in procs) or time.monotonic() >= deadline:
            return
        time.sleep(0.05)


def _alive(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _first_line(code: str) -> str:
    lines = code.strip().splitlines()
    return lines[0] if lines else "<empty cell>"


def _put_buffers(
    state: dict[str, Any], paths: list[list[str | int]], buffers: list[Any]
) -> None:
    """Put binary buffers back into a widget state at their buffer paths."""
    for path, buf in zip(paths, buffers, strict=False):
        obj: Any = state
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = bytes(buf)


def process_key(proc: psutil.Process) -> tuple[int, float]:
    """(pid, create_time): names a process even if its pid is reused."""
    try:
        return proc.pid, proc.create_time()
    except psutil.NoSuchProcess:
        return proc.pid, 0.0


class LeakCheck:
    """Handle to the leak check, for tests that leak processes on purpose."""

    def __init__(self) -> None:
        self.allowed: set[int] = set()

    def allow(self, pid: int) -> None:
        """Do not count the process `pid` as a leak (it is still killed)."""
        self.allowed.add(pid)


class KernelSession:
    """A real IPython kernel plus a blocking client, as a notebook front end sees it.

    IOPub is read by a background thread that logs every message by the msg_id of
    its parent, so nothing is lost when messages arrive for another request or
    after a request went idle.  The shell channel is only used from the thread that
    calls the methods of this class.

    Parameters
    ----------
    startup_timeout : float
        Seconds to wait for the kernel to answer kernel_info.
    env : dict of str to str, optional
        Extra environment variables for the kernel.

    Examples
    --------
    >>> with KernelSession() as kernel:  # doctest: +SKIP
    ...     assert kernel.execute("print(1)").stdout == "1\\n"
    """

    def __init__(
        self, startup_timeout: float = 60.0, env: dict[str, str] | None = None
    ) -> None:
        self.tag = uuid.uuid4().hex
        self.survivors: list[str] = []
        """Processes that outlived a kernel shutdown or restart and were killed."""
        self._tmpdir = tempfile.mkdtemp(prefix="asubp-kernel-")
        self._cond = threading.Condition()
        self._log: list[Message] = []
        self._by_parent: defaultdict[str, list[Message]] = defaultdict(list)
        self._idle: set[str] = set()
        self._comms: list[Message] = []
        self._widget_states: dict[str, dict[str, Any]] = {}
        self._replies: dict[str, Message] = {}
        self._sent_code: dict[str, str] = {}
        self._known_children: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._collector: threading.Thread | None = None
        self._closed = False
        self._log_file: IO[bytes] | None = None
        self.km = self._make_manager()
        kernel_env = {
            **os.environ,
            "IPYTHONDIR": os.path.join(self._tmpdir, "ipython"),
            TAG_ENV_VAR: self.tag,
            **(env or {}),
        }
        _SESSIONS.add(self)
        try:
            # Kept open until close(): restart_kernel launches with it again.
            log_path = os.path.join(self._tmpdir, "kernel.log")
            self._log_file = open(log_path, "wb")  # noqa: SIM115
            self.km.start_kernel(
                env=kernel_env, stdout=self._log_file, stderr=subprocess.STDOUT
            )
            self.client: BlockingKernelClient = self.km.client()
            self.client.allow_stdin = False
            self.client.start_channels()
            self._collector = threading.Thread(
                target=self._collect, name=f"iopub-{self.tag[:8]}", daemon=True
            )
            self._collector.start()
            self._wait_ready(startup_timeout)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> KernelSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- startup --------------------------------------------------------------

    def _make_manager(self) -> KernelManager:
        """Make a manager for the current interpreter, independent of kernelspecs."""
        spec_dir = os.path.join(self._tmpdir, "kernels", _KERNEL_NAME)
        os.makedirs(spec_dir)
        spec = {
            "argv": [
                sys.executable,
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
            ],
            "display_name": "jupyter_asubp test kernel",
            "language": "python",
            "interrupt_mode": "signal",
        }
        with open(os.path.join(spec_dir, "kernel.json"), "w") as f:
            json.dump(spec, f)
        runtime_dir = os.path.join(self._tmpdir, "runtime")
        os.makedirs(runtime_dir)
        spec_manager = KernelSpecManager(
            kernel_dirs=[os.path.dirname(spec_dir)], ensure_native_kernel=False
        )
        return KernelManager(
            kernel_name=_KERNEL_NAME,
            kernel_spec_manager=spec_manager,
            connection_file=os.path.join(runtime_dir, "kernel.json"),
            ip="127.0.0.1",
            transport="tcp",
        )

    def _wait_ready(self, timeout: float) -> None:
        """Wait until kernel_info is answered on shell *and* seen on IOPub.

        IOPub is a subscription, so messages published before it is connected
        are dropped; kernel_info is re-sent until its status messages arrive.
        """
        deadline = time.monotonic() + timeout
        sent: list[str] = []
        while True:
            sent.append(self.client.kernel_info())
            resend_at = time.monotonic() + 1.0
            while time.monotonic() < min(resend_at, deadline):
                if any(i in self._idle and i in self._replies for i in sent):
                    return
                self._poll(0.01)
            if time.monotonic() >= deadline:
                raise KernelTimeout(
                    f"kernel did not answer kernel_info within {timeout:g} s "
                    f"(shell replies: {sum(i in self._replies for i in sent)}, "
                    f"iopub idle: {sum(i in self._idle for i in sent)})"
                )

    # -- message collection ----------------------------------------------------

    def _collect(self) -> None:
        """Background thread: read IOPub forever and log every message."""
        channel = self.client.iopub_channel
        while not self._stop.is_set():
            try:
                msg = channel.get_msg(timeout=0.1)
            except queue.Empty:
                continue
            except Exception:
                if self._stop.is_set():
                    return
                raise
            self._record(msg)

    def _record(self, msg: Message) -> None:
        msg_type = msg["msg_type"]
        parent_id = msg["parent_header"].get("msg_id", "")
        with self._cond:
            self._log.append(msg)
            self._by_parent[parent_id].append(msg)
            if msg_type == "status" and msg["content"]["execution_state"] == "idle":
                self._idle.add(parent_id)
            if msg_type in COMM_MSG_TYPES:
                self._comms.append(msg)
                self._update_widget_state(msg)
            self._cond.notify_all()

    def _update_widget_state(self, msg: Message) -> None:
        content = msg["content"]
        data = content.get("data") or {}
        if "state" not in data:
            return
        if msg["msg_type"] == "comm_open":
            if content.get("target_name") != "jupyter.widget":
                return
        elif data.get("method") not in ("update", "echo_update"):
            return
        state = dict(data["state"])
        _put_buffers(state, data.get("buffer_paths", []), msg.get("buffers", []))
        self._widget_states.setdefault(content["comm_id"], {}).update(state)

    def _poll(self, timeout: float) -> None:
        """Read pending shell replies, then wait up to `timeout` for IOPub news."""
        while True:
            try:
                reply = self.client.shell_channel.get_msg(timeout=0)
            except queue.Empty:
                break
            self._replies[reply["parent_header"].get("msg_id", "")] = reply
        collector = self._collector
        if collector is not None and not collector.is_alive():
            raise RuntimeError("the IOPub collector thread died")
        with self._cond:
            self._cond.wait(timeout)

    def _wait_until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelTimeout(what)
            self._poll(min(remaining, 0.01))

    # -- executing code --------------------------------------------------------

    def start_execute(self, code: str) -> str:
        """Send an execute_request without waiting; return its msg_id.

        Parameters
        ----------
        code : str
            The cell source.

        Returns
        -------
        str
            The msg_id to pass to `wait_idle`.
        """
        msg_id = str(self.client.execute(code, allow_stdin=False))
        self._sent_code[msg_id] = code
        return msg_id

    def wait_started(self, msg_id: str, timeout: float = 10.0) -> None:
        """Wait until the kernel echoed the code of `msg_id` (execute_input).

        The kernel is then about to run the cell, but still in its own code for a
        few milliseconds: an interrupt sent right away can hit ipykernel instead
        of the cell, which then goes idle without any execute_reply.
        """
        self.wait_for(
            lambda m: (
                m["msg_type"] == "execute_input"
                and m["parent_header"].get("msg_id") == msg_id
            ),
            timeout,
            f"execute_input for: {_first_line(self._code_of(msg_id))}",
        )

    def wait_idle(self, msg_id: str, timeout: float = 30.0) -> ExecutionResult:
        """Wait for the reply and the idle status of a request sent before.

        Parameters
        ----------
        msg_id : str
            The msg_id returned by `start_execute`.
        timeout : float
            Seconds to wait.

        Returns
        -------
        ExecutionResult
            The reply and the IOPub messages up to idle.

        Raises
        ------
        KernelTimeout
            If the kernel did not reply and go idle in time.
        """
        code = self._code_of(msg_id)

        def what() -> str:
            tail = "".join(
                m["content"].get("text", "") for m in self.messages_for(msg_id)
            )[-300:]
            return (
                f"kernel did not go idle within {timeout:g} s after executing: "
                f"{_first_line(code)}"
                + ("" if msg_id in self._replies else " (no execute_reply yet)")
                + (" (idle without a reply)" if msg_id in self._idle else "")
                + (f"\n--- output so far ---\n{tail}" if tail else "")
            )

        try:
            self._wait_until(
                lambda: msg_id in self._idle and msg_id in self._replies, timeout, ""
            )
        except KernelTimeout:
            raise KernelTimeout(what()) from None
        messages = self.messages_for(msg_id)
        for n, m in enumerate(messages):
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                messages = messages[: n + 1]
                break
        return ExecutionResult(
            msg_id=msg_id,
            code=code,
            reply=dict(self._replies[msg_id]["content"]),
            messages=messages,
        )

    def execute(self, code: str, timeout: float = 30.0) -> ExecutionResult:
        """Run a cell and wait until the kernel is idle again.

        Parameters
        ----------
        code : str
            The cell source.
        timeout : float
            Seconds to wait for the reply and the idle status.

        Returns
        -------
        ExecutionResult
            The reply and all IOPub messages of the cell.
        """
        return self.wait_idle(self.start_execute(code), timeout)

    def view_model_id(self, msg_id: str, timeout: float = 10.0) -> str:
        """Wait for the process view the cell `msg_id` shows; return its model id."""
        message = self.wait_for(
            lambda m: (
                m["parent_header"].get("msg_id") == msg_id
                and m["msg_type"] == "display_data"
                and WIDGET_VIEW_MIME in m["content"]["data"]
            ),
            timeout,
            "display of a process view",
        )
        return str(message["content"]["data"][WIDGET_VIEW_MIME]["model_id"])

    def transcript(self, msg_id: str, timeout: float = 20.0) -> str:
        """The plain-text transcript of the view a cell showed.

        A cell that waits (``--wait``) shows it as a new output before it ends;
        otherwise it replaces the view later, possibly after the cell went idle.
        """

        def is_transcript(message: Message) -> bool:
            if message["parent_header"].get("msg_id") != msg_id:
                return False
            if message["msg_type"] not in ("display_data", "update_display_data"):
                return False
            text = message["content"]["data"].get("text/plain", "")
            widget = "application/vnd.jupyter.widget-view+json"
            return bool(text) and widget not in message["content"]["data"]

        found = self.wait_for(is_transcript, timeout, "the transcript of the view")
        return str(found["content"]["data"]["text/plain"])

    def round_trip(self, code: str = "1+1", timeout: float = 30.0) -> float:
        """Return the seconds from sending `code` until the kernel is idle.

        Parameters
        ----------
        code : str
            The cell source; it must succeed.
        timeout : float
            Seconds to wait.

        Returns
        -------
        float
            Elapsed wall-clock seconds.
        """
        start = time.perf_counter()
        result = self.execute(code, timeout)
        elapsed = time.perf_counter() - start
        assert result.status == "ok", f"{code!r} failed: {result.error}"
        return elapsed

    def load_extension(self, timeout: float = 30.0) -> ExecutionResult:
        """Run ``%load_ext jupyter_asubp`` and check that it worked.

        Parameters
        ----------
        timeout : float
            Seconds to wait.

        Returns
        -------
        ExecutionResult
            The result of the ``%load_ext`` cell.
        """
        result = self.execute("%load_ext jupyter_asubp", timeout)
        assert result.status == "ok", f"%load_ext jupyter_asubp: {result.error}"
        return result

    def _code_of(self, msg_id: str) -> str:
        if msg_id in self._sent_code:
            return self._sent_code[msg_id]
        # Not sent by us (cannot normally happen): use the kernel's echo, if any.
        for m in self.messages_for(msg_id):
            if m["msg_type"] == "execute_input":
                return str(m["content"]["code"])
        return ""

    # -- IOPub log -------------------------------------------------------------

    def messages_for(self, msg_id: str) -> list[Message]:
        """Return all IOPub messages seen so far whose parent is `msg_id`."""
        with self._cond:
            return list(self._by_parent.get(msg_id, ()))

    def mark(self) -> int:
        """Return the number of IOPub messages seen so far, for `wait_for`."""
        with self._cond:
            return len(self._log)

    def iopub_log(self, since: int = 0) -> list[Message]:
        """Return all IOPub messages seen so far, oldest first, from index `since`."""
        with self._cond:
            return self._log[since:]

    def wait_for(
        self,
        predicate: Callable[[Message], bool],
        timeout: float = 30.0,
        what: str = "a matching IOPub message",
        since: int = 0,
    ) -> Message:
        """Wait until some IOPub message satisfies `predicate`; return it.

        Parameters
        ----------
        predicate : callable
            Called with each message dict (``msg_type``, ``content``, ...).
        timeout : float
            Seconds to wait.
        what : str
            Description of the awaited message, for the timeout error.
        since : int
            Only consider messages from this index of the log on (see `mark`);
            by default every message since the kernel started counts.

        Returns
        -------
        dict
            The first matching message.

        Raises
        ------
        KernelTimeout
            If no message matched in time.
        """
        found: list[Message] = []
        checked = since

        def done() -> bool:
            nonlocal checked
            with self._cond:
                new = self._log[checked:]
            checked += len(new)
            found.extend(m for m in new if predicate(m))
            return bool(found)

        self._wait_until(done, timeout, f"no {what} within {timeout:g} s")
        return found[0]

    # -- comms and widgets -----------------------------------------------------

    def comm_messages(self, comm_id: str | None = None) -> list[Message]:
        """Return the comm_open/comm_msg/comm_close messages the kernel sent.

        Parameters
        ----------
        comm_id : str, optional
            Only messages for this comm.
        """
        with self._cond:
            return [
                m
                for m in self._comms
                if comm_id is None or m["content"].get("comm_id") == comm_id
            ]

    def widget_state(self, model_id: str) -> dict[str, Any]:
        """Return the latest known state of a widget model.

        The state from the comm_open is updated by every later ``update`` and
        ``echo_update`` comm_msg, as the ipywidgets 8 front end does.  Binary
        buffers are put back in place as `bytes`.

        Raises
        ------
        KeyError
            If no comm_open was seen for `model_id`.
        """
        with self._cond:
            return dict(self._widget_states[model_id])

    def wait_for_widget_state(
        self,
        model_id: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 30.0,
        what: str = "matching state",
    ) -> dict[str, Any]:
        """Wait until ``predicate(widget_state(model_id))`` holds; return the state.

        Raises
        ------
        KernelTimeout
            If the state did not match in time.
        """

        def done() -> bool:
            with self._cond:
                state = self._widget_states.get(model_id)
                return state is not None and predicate(dict(state))

        self._wait_until(
            done, timeout, f"widget {model_id} did not reach {what} in {timeout:g} s"
        )
        return self.widget_state(model_id)

    def send_comm_message(
        self,
        comm_id: str,
        data: dict[str, Any],
        buffers: list[bytes] | None = None,
    ) -> str:
        """Send a comm_msg on the shell channel as a browser front end would.

        Parameters
        ----------
        comm_id : str
            The target comm.
        data : dict
            The ``data`` field of the content.
        buffers : list of bytes, optional
            Binary buffers attached to the message.

        Returns
        -------
        str
            The msg_id of the comm_msg.
        """
        msg = self.client.session.msg(
            "comm_msg", content={"comm_id": comm_id, "data": data}
        )
        if buffers:
            msg["buffers"] = buffers
        self.client.shell_channel.send(msg)
        return str(msg["header"]["msg_id"])

    def send_widget_custom(
        self,
        model_id: str,
        content: Any,
        buffers: list[bytes] | None = None,
    ) -> str:
        """Send what ``model.send(content)`` sends from an ipywidgets 8 view.

        The kernel side receives it in the handlers registered with
        ``widget.on_msg``.

        Returns
        -------
        str
            The msg_id of the comm_msg.
        """
        data = {"method": "custom", "content": content}
        return self.send_comm_message(model_id, data, buffers)

    def send_widget_update(self, model_id: str, state: dict[str, Any]) -> str:
        """Send a state change as the front end does when a view edits the model.

        Returns
        -------
        str
            The msg_id of the comm_msg.
        """
        data = {"method": "update", "state": state, "buffer_paths": []}
        return self.send_comm_message(model_id, data)

    # -- kernel lifecycle ------------------------------------------------------

    @property
    def kernel_pid(self) -> int:
        """The pid of the current kernel process."""
        pid = getattr(self.km.provisioner, "pid", None)
        assert isinstance(pid, int), "the kernel is not running"
        return pid

    def is_alive(self) -> bool:
        """Return whether the kernel process is running."""
        return bool(self.km.has_kernel and self.km.is_alive())

    def children_pids(self) -> list[int]:
        """Return the pids of all live descendants of the kernel.

        Descendants include processes the kernel started in their own session or
        process group, as long as their parents are alive.  Every process seen
        here is also remembered and killed by `shutdown` if it survives it.
        """
        if not self.is_alive():
            return []
        procs = descendants(self.kernel_pid)
        for proc in procs:
            self._known_children.setdefault(proc.pid, proc)
        return sorted(p.pid for p in procs)

    def tagged_processes(self) -> list[psutil.Process]:
        """Return live processes, other than the kernel, with this session's tag.

        The tag is an environment variable of the kernel; this finds the kernel's
        offspring even after they were re-parented, unless they cleared their
        environment.
        """
        kernel_pid = self.kernel_pid if self.is_alive() else None
        found = []
        for proc in psutil.process_iter():
            if proc.pid == kernel_pid:
                continue
            try:
                if proc.environ().get(TAG_ENV_VAR) == self.tag and _alive(proc):
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def kernel_log(self) -> str:
        """Return what the kernel process wrote to its own stdout and stderr.

        This is the kernel's log (not cell output, which goes to IOPub).
        """
        path = os.path.join(self._tmpdir, "kernel.log")
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def interrupt(self) -> None:
        """Interrupt the kernel (SIGINT to the kernel's process group)."""
        self.km.interrupt_kernel()

    def restart(self, timeout: float = 60.0) -> None:
        """Restart the kernel, keeping the same ports, client and message log.

        Processes of the old kernel that outlive it are killed after 3 s and
        added to `survivors`.

        Parameters
        ----------
        timeout : float
            Seconds to wait for the new kernel to answer kernel_info.
        """
        old_pid = self.kernel_pid
        self.children_pids()
        self.km.restart_kernel(now=False)
        self._reap_orphans(exclude={self.kernel_pid})
        assert self.kernel_pid != old_pid, "restart did not start a new kernel"
        self._wait_ready(timeout)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Shut the kernel down and kill whatever it left behind.

        The kernel gets `timeout` seconds to exit after a shutdown_request before
        it is killed.  Then its former descendants get 3 s to exit; those still
        running are killed and listed in `survivors`.
        """
        if self.km.has_kernel:
            self.children_pids()
            self.km.shutdown_wait_time = timeout
            self.km.shutdown_kernel(now=False)
        self._reap_orphans(exclude=set())

    def _reap_orphans(self, exclude: set[int]) -> None:
        candidates = {
            p.pid: p for p in [*self._known_children.values(), *self.tagged_processes()]
        }
        self._known_children.clear()
        leftover = [p for pid, p in candidates.items() if pid not in exclude]
        killed = reap(leftover, grace=3.0)
        self.survivors.extend(killed)
        _SURVIVORS.extend(killed)

    def close(self) -> None:
        """Shut down the kernel, stop the channels and delete temporary files."""
        if self._closed:
            return
        self._closed = True
        try:
            self.shutdown()
        finally:
            self._stop.set()
            if self._collector is not None:
                self._collector.join(timeout=5)
            client = getattr(self, "client", None)
            if client is not None:
                client.stop_channels()
            if self._log_file is not None:
                self._log_file.close()
            shutil.rmtree(self._tmpdir, ignore_errors=True)


def living(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Return the members of `procs` still running (zombies do not count)."""
    found = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def value(kernel: KernelSession, code: str, timeout: float = 30.0) -> Any:
    """Run `code`, whose last line is a literal-valued expression; return it."""
    result = kernel.execute(code, timeout)
    assert result.status == "ok", f"{code!r} failed: {result.error}"
    return ast.literal_eval(result.text_plain[-1])


def view_text(state: dict[str, Any]) -> str:
    """The text of a view's lines, one per line, input echoes included."""
    return "\n".join("".join(run[0] for run in runs) for _, runs in state["lines"])
