"""One bounded chaos run in one kernel: count what started, ended, leaked, lost."""

from __future__ import annotations

import json

from kernel_harness import KernelSession

CHAOS = r"""
import asyncio, random, signal, warnings, psutil, os
from jupyter_asubp import start, processes

random.seed(4)
expected = {}
report = {"started": 0, "ended": 0, "leaked": 0, "bytes_lost": 0}

async def one(i):
    kind = random.choice(["seq", "cat", "stop", "kill", "timeout", "tree"])
    if kind == "seq":
        n = random.randint(1, 20000)
        p = await start(f"seq 1 {n}")
        expected[p] = sum(len(f"{k}\n") for k in range(1, n + 1))
        await p.wait_closed(30)
    elif kind == "cat":
        p = await start(["cat"])
        data = os.urandom(random.randint(1, 300_000))
        await p.send(data)
        await p.close_stdin()
        expected[p] = len(data)
        await p.wait_closed(30)
        assert p.stdout_bytes == data
    elif kind == "stop":
        p = await start("trap '' TERM; echo x; sleep 30")
        await p.expect("x")
        await p.stop(grace=0.2)
    elif kind == "kill":
        # exec: SIGKILL from outside reaches only the leader, as the OOM killer.
        p = await start("echo y; exec sleep 30")
        await p.expect("y")
        os.kill(p.pid, signal.SIGKILL)
        await p.wait(5)
    elif kind == "timeout":
        p = await start("sleep 30", timeout=0.2)
        await p.wait(5)
    else:
        p = await start("setsid sleep 30 & sleep 31 & echo z; wait")
        await p.expect("z")
        await p.stop(grace=1)
    report["started"] += 1
    if p.returncode is not None:
        report["ended"] += 1

with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    for batch in range(6):
        await asyncio.gather(*(one(i) for i in range(10)))
await asyncio.sleep(0.3)
report["leaked"] = sum(p.running for p in processes()) + len(
    [c for c in psutil.Process().children(recursive=True)
     if c.status() != psutil.STATUS_ZOMBIE]
)
report["bytes_lost"] = sum(abs(n - len(p.stdout_bytes)) for p, n in expected.items())
print(json.dumps(report))
"""


def test_chaos_run_leaks_nothing_and_loses_nothing(kernel: KernelSession) -> None:
    kernel.load_extension()
    result = kernel.execute("import json\n" + CHAOS, timeout=120)
    assert result.status == "ok", result.error
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\nchaos report: {report}")
    assert report["started"] == 60
    assert report["ended"] == 60
    assert report["leaked"] == 0
    assert report["bytes_lost"] == 0
    assert kernel.children_pids() == []
    assert kernel.tagged_processes() == []
    assert kernel.round_trip() < 1.0
