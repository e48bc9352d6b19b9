"""Run the jupyter_asubp benchmarks and write bench/RESULTS.md.

Usage::

    python -m bench.run              # full sizes (about 10 min, most of it %%bash)
    python -m bench.run --quick      # smaller sizes, a few minutes
    python -m bench.run --tiny       # a smoke run of every benchmark, seconds
    python -m bench.run --only lines,echo --repeats 5

Every benchmark drives real kernels started with jupyter_client. Each figure is
the median of ``--repeats`` runs; each ratio is taken within one run, then the
median of the ratios is reported.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.kernel import ROOT, BenchKernel

MB = 1_000_000
LINE = "x" * 80  # a line of 80 characters; 81 bytes with its newline

SECTIONS = ("ingest", "lines", "responsive", "memory", "many", "echo", "browser")


@dataclass
class Sizes:
    """How big each benchmark is."""

    name: str
    ingest_bytes: int = 200 * MB
    lines: int = 200_000
    round_trips: int = 200
    floods: int = 4
    memory_bytes: int = 1000 * MB
    # /dev/zero goes through the view's slow path for control characters (NUL):
    # about 0.5 s per MB, so it runs once however many repeats are asked.
    zero_runs: int = 1
    flood_seconds: float = 5.0
    processes: int = 100
    process_lines: int = 1000
    echoes: int = 200


FULL = Sizes("full")
QUICK = Sizes("quick", lines=20_000, memory_bytes=200 * MB)
TINY = Sizes(
    "tiny",
    ingest_bytes=2 * MB,
    lines=1000,
    round_trips=10,
    flood_seconds=0.5,
    memory_bytes=2 * MB,
    processes=5,
    process_lines=10,
    echoes=10,
)


@dataclass
class Row:
    """One line of the results table."""

    benchmark: str
    figure: str
    value: str
    target: str = ""
    met: bool | None = None


@dataclass
class Results:
    """The rows of the table and the raw figures of every run."""

    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        benchmark: str,
        figure: str,
        value: str,
        target: str = "",
        met: bool | None = None,
    ) -> None:
        self.rows.append(Row(benchmark, figure, value, target, met))
        print(
            f"  {benchmark}: {figure} = {value}" + (f"  [{target}]" if target else "")
        )


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# 1. Ingest


def bench_ingest(sizes: Sizes, repeats: int, results: Results) -> None:
    size = sizes.ingest_bytes
    plain_code = (
        "import asyncio, json, bench.work as w; "
        f"print(json.dumps(asyncio.run(w.ingest({size}))))"
    )
    plain = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", plain_code],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout
        plain.append(json.loads(out.splitlines()[-1]))
    with BenchKernel() as kernel:
        inside = [
            kernel.run(
                f"import bench.work as _w\n_r = await _w.ingest({size})", "_r", 300
            )
            for _ in range(repeats)
        ]
    results.raw["ingest"] = {"plain": plain, "kernel": inside}

    for where, runs in (("plain asyncio.run", plain), ("in a kernel", inside)):
        for key, label in (
            ("cat", "cat > /dev/null"),
            ("asubp", "jupyter_asubp.start"),
            ("streamreader", "StreamReader.read(65536)"),
        ):
            rate = median([size / MB / run[key] for run in runs])
            results.add("1 ingest", f"{label}, {where}", f"{rate:,.0f} MB/s")
        for key, label, target in (
            ("asubp", "jupyter_asubp", 0.5),
            ("streamreader", "StreamReader", None),
        ):
            ratio = median([run["cat"] / run[key] for run in runs])
            results.add(
                "1 ingest",
                f"{label} / cat throughput, {where}",
                f"{ratio:.2f}",
                f">= {target}" if target else "",
                ratio >= target if target else None,
            )


# 2. Lines end to end


def bench_lines(sizes: Sizes, repeats: int, bash_runs: int, results: Results) -> None:
    n = sizes.lines
    command = f"yes {LINE} | head -n {n}"
    expected = n * (len(LINE) + 1)
    runs: list[dict[str, Any]] = []
    with BenchKernel() as kernel:
        kernel.run("%load_ext jupyter_asubp", "1")
        for run in range(repeats):
            figures: dict[str, Any] = {}
            # Ours: the cell, then every byte in the handle.
            mark = kernel.mark()
            cell = kernel.execute(f"%%asubp --wait --name _bench_p\n{command}")
            check = kernel.execute(
                "await _bench_p.wait_closed(timeout=60)\n"
                "_r = [len(_bench_p.stdout_bytes), _bench_p.elapsed]",
                result="_r",
            )
            held, elapsed = check.value()
            if held != expected:
                raise AssertionError(f"%%asubp held {held} bytes of {expected}")
            time.sleep(0.5)  # late view updates still count
            figures["asubp"] = {
                "cell": cell.seconds,
                "all_bytes": check.replied - cell.sent,
                "process_elapsed": elapsed,
                **_traffic(kernel.seen(mark), cell.msg_id),
            }
            # The peers, on the same output.
            peers = [("bang", f"!{command}")]
            if run < bash_runs:
                peers.insert(0, ("bash", f"%%bash\n{command}"))
            for name, code in peers:
                mark = kernel.mark()
                reply = kernel.execute(code, timeout=900)
                if reply.content.get("status") != "ok":
                    raise AssertionError(f"{name} failed: {reply.content}")
                figures[name] = {
                    "cell": reply.seconds,
                    **_traffic(kernel.seen(mark), reply.msg_id),
                }
            runs.append(figures)
            print(f"  lines run {run + 1}: " + _brief(figures))
    results.raw["lines"] = runs

    label = f"{n:,} lines of 80 chars"
    ours = [r["asubp"] for r in runs]
    cell = median([r["cell"] for r in ours])
    all_bytes = median([r["all_bytes"] for r in ours])
    results.add("2 lines", f"{label}: %%asubp --wait, cell done", f"{cell:.2f} s")
    results.add(
        "2 lines",
        f"{label}: %%asubp --wait, every byte in the handle",
        f"{all_bytes:.2f} s",
        "<= 1 s (200k lines)",
        all_bytes <= 1.0,
    )
    for name, label_of in (("bash", "%%bash"), ("bang", "!cmd")):
        peer_runs = [r for r in runs if name in r]
        if not peer_runs:
            continue
        results.add(
            "2 lines",
            f"{label}: {label_of}, cell done",
            f"{median([r[name]['cell'] for r in peer_runs]):.2f} s"
            + (f" ({len(peer_runs)} run)" if len(peer_runs) < len(runs) else ""),
        )
        ratio = median([r[name]["cell"] / r["asubp"]["all_bytes"] for r in peer_runs])
        target = 100 if name == "bash" else 4
        results.add(
            "2 lines",
            f"{label}: {label_of} time / %%asubp time",
            f"{ratio:.1f}x",
            f">= {target}x",
            ratio >= target,
        )
    for name, label_of in (("asubp", "%%asubp"), ("bash", "%%bash"), ("bang", "!cmd")):
        peer_runs = [r[name] for r in runs if name in r]
        if not peer_runs:
            continue
        results.add(
            "2 lines",
            f"{label_of}: iopub messages / comm messages / bytes to the front end",
            f"{median([r['iopub'] for r in peer_runs]):,.0f} / "
            f"{median([r['comm'] for r in peer_runs]):,.0f} / "
            f"{median([r['bytes'] for r in peer_runs]) / MB:.2f} MB",
        )
    rate = median([r["view_updates"] / max(r["process_elapsed"], 0.2) for r in ours])
    results.add(
        "2 lines",
        "%%asubp view updates per second of the process",
        f"{rate:.1f}/s ({median([r['view_updates'] for r in ours]):.0f} updates, "
        f"{median([r['line_updates'] for r in ours]):.0f} with lines)",
        "<= 30/s",
        rate <= 30,
    )


def _traffic(seen: list[Any], parent: str) -> dict[str, Any]:
    mine = [m for m in seen if m.parent == parent]
    kinds = Counter(m.msg_type for m in mine)
    return {
        "iopub": len(mine),
        "comm": sum(kinds[k] for k in ("comm_open", "comm_msg", "comm_close")),
        "bytes": sum(m.size for m in mine),
        "view_updates": sum(m.is_update for m in mine),
        "line_updates": sum(m.has_lines for m in mine),
        "kinds": dict(kinds),
    }


def _brief(figures: dict[str, Any]) -> str:
    return ", ".join(
        f"{name} {f['cell']:.2f} s / {f['iopub']} msgs" for name, f in figures.items()
    )


# 3. Responsiveness


def bench_responsive(sizes: Sizes, repeats: int, results: Results) -> None:
    runs = []
    for _ in range(repeats):
        with BenchKernel() as kernel:
            kernel.run("%load_ext jupyter_asubp", "1")
            for _ in range(5):
                kernel.execute("1+1")
            idle = [kernel.execute("1+1").seconds for _ in range(sizes.round_trips)]
            for i in range(sizes.floods):
                kernel.execute(f"%%asubp --name _flood{i}\nyes 'flood {i} {LINE}'")
            time.sleep(0.5)
            mark = kernel.mark()
            began = time.perf_counter()
            busy = []
            while (
                len(busy) < sizes.round_trips
                or time.perf_counter() - began < sizes.flood_seconds
            ):
                busy.append(kernel.execute("1+1").seconds)
            window = time.perf_counter() - began
            # Every state update of a view counts: `lines` itself is left out of
            # an update when it did not change (yes prints the same line).
            updates = Counter(m.comm_id for m in kernel.seen(mark) if m.is_update)
            ingested = kernel.run(
                "import jupyter_asubp as _j\n"
                "_r = sum(p._records['stdout'].size for p in _j.processes())",
                "_r",
            )
            kernel.execute("%asubp --kill all", timeout=60)
        rates = [updates[c] / window for c in updates] or [0.0]
        runs.append(
            {
                "idle": idle,
                "busy": busy,
                "window": window,
                "update_rates": rates,
                "flood_bytes": ingested,
            }
        )
        print(
            f"  responsive run: idle p99 {ms(percentile(idle, 0.99))}, "
            f"busy p99 {ms(percentile(busy, 0.99))}, updates/s {rates}"
        )
    results.raw["responsive"] = runs
    for key, label in (("idle", "no process"), ("busy", f"{sizes.floods} x yes")):
        p50 = median([percentile(r[key], 0.5) for r in runs])
        p99 = median([percentile(r[key], 0.99) for r in runs])
        results.add("3 responsive", f"1+1 round trip p50, {label}", ms(p50))
        results.add(
            "3 responsive",
            f"1+1 round trip p99, {label}",
            ms(p99),
            "< 50 ms" if key == "busy" else "",
            p99 < 0.05 if key == "busy" else None,
        )
    rate = median([max(r["update_rates"]) for r in runs])
    results.add(
        "3 responsive",
        "view updates per second per flooding process (the most of any)",
        f"{rate:.1f}/s",
        "<= 30/s",
        rate <= 30,
    )
    speed = median([r["flood_bytes"] / MB / (r["window"] + 0.5) for r in runs])
    results.add(
        "3 responsive",
        f"output the kernel took in from the {sizes.floods} floods meanwhile",
        f"~{speed:,.0f} MB/s",
    )


# 4. Memory


def bench_memory(sizes: Sizes, repeats: int, results: Results) -> None:
    size = sizes.memory_bytes
    kinds = {
        "/dev/zero": f"head -c {size} /dev/zero",
        "text lines": f"yes {LINE} | head -c {size}",
    }
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for run in range(repeats):
        for kind, command in kinds.items():
            if kind == "/dev/zero" and run >= sizes.zero_runs:
                continue
            with BenchKernel() as kernel:
                kernel.run("%load_ext jupyter_asubp", "1")
                # Warm up: imports, the first view, the first temporary file.
                kernel.execute(f"%%asubp --wait --name _w\nhead -c {20 * MB} /dev/zero")
                kernel.execute("await _w.wait_closed(); await _w.aclose(); del _w")
                time.sleep(0.3)
                base = kernel.rss()
                with _PeakRss(kernel.pid) as peak:
                    cell = kernel.execute(
                        f"%%asubp --wait --name _m\n{command}", timeout=1200
                    )
                    size_held = kernel.run(
                        "await _m.wait_closed(timeout=120)\n"
                        "_r = _m._records['stdout'].size",
                        "_r",
                    )
                if size_held != size:
                    raise AssertionError(f"held {size_held} bytes of {size}")
                time.sleep(0.3)
                runs[kind].append(
                    {
                        "peak": peak.value - base,
                        "after": kernel.rss() - base,
                        "seconds": cell.seconds,
                    }
                )
    results.raw["memory"] = runs
    for kind, kind_runs in runs.items():
        growth = median([r["peak"] for r in kind_runs])
        results.add(
            "4 memory",
            f"kernel RSS peak growth, {size / MB:,.0f} MB of {kind}"
            + (f" ({len(kind_runs)} run)" if len(kind_runs) < repeats else ""),
            f"{growth / 2**20:.1f} MiB",
            "< 64 MiB (1 GB)",
            growth < 64 * 2**20,
        )
        results.add(
            "4 memory",
            f"  after it ended / cell time, {kind}",
            f"{median([r['after'] for r in kind_runs]) / 2**20:.1f} MiB / "
            f"{median([r['seconds'] for r in kind_runs]):.2f} s",
        )


class _PeakRss:
    """Samples a process's RSS every few milliseconds; `value` is the peak."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.value = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.value = max(self.value, self._process.memory_info().rss)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


# 5. Many


def bench_many(sizes: Sizes, repeats: int, results: Results) -> None:
    n, lines = sizes.processes, sizes.process_lines
    expected = sum(len(f"{i}\n") for i in range(1, lines + 1))
    runs = []
    for _ in range(repeats):
        with BenchKernel() as kernel:
            kernel.run("%load_ext jupyter_asubp\nimport bench.work as _w", "1")
            in_loop = kernel.run(f"_r = await _w.many({n}, {lines})", "_r")["seconds"]
            kernel.execute("import jupyter_asubp as _j; _before = len(_j.processes())")
            began = time.perf_counter()
            for _ in range(n):
                kernel.execute(f"%%asubp\nseq {lines}", wait_idle=False)
            codes, sizes_held = kernel.run(
                "import asyncio\n"
                "_ps = _j.processes()[_before:]\n"
                "_codes = await asyncio.gather("
                "*(p.wait_closed(timeout=60) for p in _ps))\n"
                "_r = [_codes, [len(p.stdout_bytes) for p in _ps]]",
                "_r",
            )
            cells = time.perf_counter() - began
        if len(codes) != n or any(codes) or set(sizes_held) != {expected}:
            raise AssertionError(f"%%asubp cells failed: {codes} {sizes_held}")
        runs.append({"loop": in_loop, "cells": cells})
    results.raw["many"] = runs
    for key, label in (
        ("loop", f"{n} x start(), seq {lines}, in one cell"),
        ("cells", f"{n} %%asubp cells with views, seq {lines}, until all reaped"),
    ):
        seconds = median([r[key] for r in runs])
        results.add("5 many", label, f"{seconds:.2f} s", "< 5 s (100)", seconds < 5.0)


# 6. Echo


def bench_echo(sizes: Sizes, repeats: int, results: Results) -> None:
    n = sizes.echoes
    plain_code = (
        "import asyncio, json, bench.work as w; "
        f"print(json.dumps(asyncio.run(w.echo({n}))))"
    )
    runs = []
    for _ in range(repeats):
        plain = json.loads(
            subprocess.run(
                [sys.executable, "-c", plain_code],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout.splitlines()[-1]
        )
        with BenchKernel() as kernel:
            inside = kernel.run(
                f"import bench.work as _w\n_r = await _w.echo({n})", "_r", 120
            )
        runs.append({"plain": plain, "kernel": inside})
    results.raw["echo"] = runs
    for key, label in (("kernel", "in a kernel"), ("plain", "plain asyncio.run")):
        p50 = median([percentile(r[key], 0.5) for r in runs])
        p99 = median([percentile(r[key], 0.99) for r in runs])
        results.add(
            "6 echo",
            f"send_line to cat until the echo is in the handle, p50, {label}",
            ms(p50),
            "< 5 ms" if key == "kernel" else "",
            p50 < 0.005 if key == "kernel" else None,
        )
        results.add("6 echo", f"  p99, {label}", ms(p99))


# 7. Browser


def bench_browser(sizes: Sizes, repeats: int, results: Results) -> None:
    results.add(
        "7 browser",
        "200k lines in JupyterLab + Chromium: last line visible, longest task",
        "measured by the browser tests (tests/browser), not here",
        "<= 1.5 s; no task > 200 ms",
    )


# The report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = psutil.virtual_memory().total / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GiB RAM, {platform.system()}"


def versions() -> str:
    found = [f"python {platform.python_version()}"]
    for package in (
        "jupyter_asubp",
        "ipykernel",
        "ipython",
        "ipywidgets",
        "anywidget",
        "jupyterlab",
        "jupyter_client",
        "pyzmq",
    ):
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return ", ".join(found)


def report(results: Results, sizes: Sizes, repeats: int, seconds: float) -> str:
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# jupyter_asubp benchmarks",
        "",
        "Generated by `python -m bench.run` (`./dev bench`); do not edit by hand.",
        "",
        f"- Date: {now}",
        f"- Machine: {machine()}",
        f"- Versions: {versions()}",
        f"- Sizes: {sizes.name}; each figure the median of {repeats} run(s); "
        f"each ratio taken within one run. Suite time {seconds:.0f} s.",
        f"- Load average at the end (1, 5, 15 min): {load}; other work on the "
        "machine shows in the tails (p99).",
        "",
        "| Benchmark | Figure | Value | Target | Met |",
        "|---|---|---|---|---|",
    ]
    for row in results.rows:
        met = {True: "yes", False: "**no**", None: ""}[row.met]
        figure = row.figure.replace("|", "\\|")
        lines.append(
            f"| {row.benchmark} | {figure} | {row.value} | {row.target} | {met} |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_group = parser.add_mutually_exclusive_group()
    size_group.add_argument("--quick", action="store_true", help="smaller sizes")
    size_group.add_argument("--tiny", action="store_true", help="a smoke run")
    parser.add_argument("--repeats", type=int, help="runs per figure (default 3)")
    parser.add_argument(
        "--bash-runs",
        type=int,
        default=1,
        help="runs that include %%%%bash, the slowest peer (default 1)",
    )
    parser.add_argument(
        "--only", help=f"comma-separated sections: {','.join(SECTIONS)}"
    )
    parser.add_argument(
        "--output",
        default=os.path.join(ROOT, "bench", "RESULTS.md"),
        help="where to write the table (default bench/RESULTS.md)",
    )
    parser.add_argument("--json", help="also write the raw figures here")
    options = parser.parse_args(argv)

    sizes = TINY if options.tiny else QUICK if options.quick else FULL
    repeats = options.repeats or (1 if options.tiny else 3)
    chosen = options.only.split(",") if options.only else list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")

    benches: dict[str, Callable[[], None]] = {
        "ingest": lambda: bench_ingest(sizes, repeats, results),
        "lines": lambda: bench_lines(sizes, repeats, options.bash_runs, results),
        "responsive": lambda: bench_responsive(sizes, repeats, results),
        "memory": lambda: bench_memory(sizes, repeats, results),
        "many": lambda: bench_many(sizes, repeats, results),
        "echo": lambda: bench_echo(sizes, repeats, results),
        "browser": lambda: bench_browser(sizes, repeats, results),
    }
    results = Results()
    began = time.perf_counter()
    for section in SECTIONS:
        if section in chosen:
            print(f"{section} ...", flush=True)
            benches[section]()
    text = report(results, sizes, repeats, time.perf_counter() - began)
    with open(options.output, "w") as f:
        f.write(text)
    if options.json:
        with open(options.json, "w") as f:
            json.dump(results.raw, f, indent=1)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
