"""A lean Jupyter client for benchmarks: a real kernel, raw IOPub accounting.

The test harness keeps and decodes every message; here IOPub is read raw by a
thread that parses only the header and parent of each message (and the content of
status and comm messages), so the client costs the machine as little as possible
and the bytes counted are the bytes a front end receives.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
import zmq
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DELIMITER = b"<IDS|MSG>"
_KERNEL_NAME = "asubp-bench"


@dataclass
class Seen:
    """One IOPub message as counted: when, what, for which request, how big."""

    at: float
    msg_type: str
    parent: str
    size: int
    comm_id: str = ""
    is_update: bool = False
    has_lines: bool = False


@dataclass
class Reply:
    """The reply to one execute_request and when it came."""

    msg_id: str
    sent: float
    replied: float
    content: dict[str, Any]
    idle: float = 0.0
    messages: list[Seen] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Seconds from sending the request to its execute_reply."""
        return self.replied - self.sent

    def value(self, name: str = "result") -> Any:
        """Return a user expression's value, evaluated after the cell, as JSON."""
        if self.content.get("status") != "ok":
            error = f"{self.content.get('ename')}: {self.content.get('evalue')}"
            raise RuntimeError(f"cell failed: {error}")
        expression = self.content["user_expressions"][name]
        if expression.get("status") != "ok":
            raise RuntimeError(f"user expression {name!r} failed: {expression}")
        return json.loads(ast.literal_eval(expression["data"]["text/plain"]))


class BenchKernel:
    """A real ipykernel with the repository importable, driven over raw ZMQ."""

    def __init__(self, startup_timeout: float = 60.0) -> None:
        self._tmpdir = tempfile.mkdtemp(prefix="asubp-bench-")
        self._lock = threading.Condition()
        self._seen: list[Seen] = []
        self._idle: dict[str, float] = {}
        self._stop = threading.Event()
        self.km = _manager(self._tmpdir)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (ROOT, os.environ.get("PYTHONPATH")) if p
            ),
            "IPYTHONDIR": os.path.join(self._tmpdir, "ipython"),
        }
        self._log = open(os.path.join(self._tmpdir, "kernel.log"), "wb")  # noqa: SIM115
        self.km.start_kernel(env=env, cwd=ROOT, stdout=self._log, stderr=self._log)
        self.pid: int = self.km.provisioner.pid  # type: ignore[union-attr]
        self._context = zmq.Context()
        info = self.km.get_connection_info()
        address = f"{info['transport']}://{info['ip']}"
        self._shell = self._context.socket(zmq.DEALER)
        self._shell.connect(f"{address}:{info['shell_port']}")
        self._iopub = self._context.socket(zmq.SUB)
        self._iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self._iopub.setsockopt(zmq.RCVHWM, 0)
        self._iopub.connect(f"{address}:{info['iopub_port']}")
        self._reader = threading.Thread(target=self._read_iopub, daemon=True)
        self._reader.start()
        self._wait_ready(startup_timeout)

    # IOPub

    def _read_iopub(self) -> None:
        poller = zmq.Poller()
        poller.register(self._iopub, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(100):
                continue
            while True:
                try:
                    frames = self._iopub.recv_multipart(zmq.NOBLOCK, copy=True)
                except zmq.Again:
                    break
                self._count(frames)

    def _count(self, frames: list[bytes]) -> None:
        now = time.perf_counter()
        at = frames.index(_DELIMITER)
        header = json.loads(frames[at + 2])
        parent = json.loads(frames[at + 3]).get("msg_id", "")
        msg_type = header["msg_type"]
        seen = Seen(now, msg_type, parent, sum(len(f) for f in frames))
        idle = False
        if msg_type == "status":
            idle = json.loads(frames[at + 5])["execution_state"] == "idle"
        elif msg_type == "comm_msg":
            content = json.loads(frames[at + 5])
            seen.comm_id = content.get("comm_id", "")
            data = content.get("data") or {}
            seen.is_update = data.get("method") == "update"
            seen.has_lines = seen.is_update and "lines" in (data.get("state") or {})
        with self._lock:
            self._seen.append(seen)
            if idle:
                self._idle[parent] = now
                self._lock.notify_all()

    def mark(self) -> int:
        """Return how many IOPub messages were counted so far."""
        with self._lock:
            return len(self._seen)

    def seen(self, since: int = 0) -> list[Seen]:
        """Return the IOPub messages counted from index `since` on."""
        with self._lock:
            return self._seen[since:]

    # Requests

    def _send(self, msg_type: str, content: dict[str, Any]) -> str:
        msg = self.km.session.send(self._shell, msg_type, content)
        return str(msg["header"]["msg_id"])

    def _recv_reply(self, msg_id: str, deadline: float, what: str) -> dict[str, Any]:
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"no reply within the time allowed for: {what}")
            if not self._shell.poll(int(min(remaining, 1.0) * 1000) + 1):
                continue
            _, msg = self.km.session.recv(self._shell, mode=0)
            assert msg is not None
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while True:
            msg_id = self._send("kernel_info_request", {})
            self._recv_reply(msg_id, deadline, "kernel_info")
            with self._lock:
                if self._lock.wait_for(lambda i=msg_id: i in self._idle, 1.0):
                    return
            if time.perf_counter() > deadline:
                raise TimeoutError("the kernel's IOPub did not answer kernel_info")

    def execute(
        self,
        code: str,
        timeout: float = 600.0,
        result: str | None = None,
        wait_idle: bool = True,
    ) -> Reply:
        """Run a cell; return its reply (and, with `result`, that expression).

        `result` is a Python expression evaluated after the cell; `Reply.value`
        returns it, passed through ``json.dumps`` in the kernel.
        """
        expressions = (
            {"result": f"__import__('json').dumps({result})"} if result else {}
        )
        sent = time.perf_counter()
        msg_id = self._send(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": expressions,
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
        deadline = sent + timeout
        first_line = code.strip().splitlines()[0] if code.strip() else "<empty>"
        msg = self._recv_reply(msg_id, deadline, first_line)
        reply = Reply(msg_id, sent, time.perf_counter(), msg["content"])
        if wait_idle:
            with self._lock:
                if not self._lock.wait_for(
                    lambda: msg_id in self._idle,
                    max(deadline - time.perf_counter(), 0.001),
                ):
                    raise TimeoutError(f"kernel never went idle after: {first_line}")
                reply.idle = self._idle[msg_id]
        return reply

    def run(self, code: str, result: str, timeout: float = 600.0) -> Any:
        """Run a cell that must succeed and return the JSON value of `result`."""
        return self.execute(code, timeout, result).value()

    # Lifetime

    def rss(self) -> int:
        """Return the kernel's resident memory in bytes."""
        return int(psutil.Process(self.pid).memory_info().rss)

    def close(self) -> None:
        """Shut the kernel down and kill anything it left running."""
        children: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(self.pid).children(recursive=True)
        with contextlib.suppress(Exception):
            self.km.shutdown_kernel(now=True)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()
        psutil.wait_procs(children, timeout=3)
        self._stop.set()
        self._reader.join(timeout=5)
        self._shell.close(linger=0)
        self._iopub.close(linger=0)
        self._context.term()
        self._log.close()
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> BenchKernel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _manager(tmpdir: str) -> KernelManager:
    spec_dir = os.path.join(tmpdir, "kernels", _KERNEL_NAME)
    os.makedirs(spec_dir)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "jupyter_asubp bench kernel",
        "language": "python",
        "interrupt_mode": "signal",
    }
    with open(os.path.join(spec_dir, "kernel.json"), "w") as f:
        json.dump(spec, f)
    runtime = os.path.join(tmpdir, "runtime")
    os.makedirs(runtime)
    return KernelManager(
        kernel_name=_KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(
            kernel_dirs=[os.path.dirname(spec_dir)], ensure_native_kernel=False
        ),
        connection_file=os.path.join(runtime, "kernel.json"),
        ip="127.0.0.1",
        transport="tcp",
    )


def shell_seconds(command: str) -> float:
    """Return the seconds a shell command takes, run from Python."""
    start = time.perf_counter()
    subprocess.run(command, shell=True, check=True)
    return time.perf_counter() - start
