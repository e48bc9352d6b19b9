"""The benchmark suite runs end to end at tiny sizes, so it cannot rot.

No figure is checked against a target here: only that every benchmark runs on
real kernels and the table is written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

BENCHMARKS = ("ingest", "lines", "responsive", "memory", "many", "echo", "browser")


@pytest.mark.timeout(300)
def test_bench_suite_runs_at_tiny_sizes(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--tiny", "--output", str(output)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = output.read_text()
    assert "| Benchmark | Figure | Value | Target | Met |" in table
    for number, name in enumerate(BENCHMARKS, start=1):
        assert f"| {number} {name} |" in table, f"no row for {name}:\n{table}"
    assert "Versions: python" in table
