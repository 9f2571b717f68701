"""Every benchmark script runs end to end in a tiny configuration (the figures are not checked).

A missed performance target exits 1, which a loaded test machine may well cause; a crash also
exits 1 but prints a traceback and no report, which is what these tests catch.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

TINY_RUNS: dict[str, tuple[list[str], ...]] = {
    "exec.py": (
        ["--duration", "0.2", "--warmup", "0.05", "--repeat", "1", "--connections", "2"],
        ["Exec on loopback", "sync exec/s", "async exec/s", "io round trip p50"],
    ),
    "fanout.py": (
        ["--connections", "5", "--keys", "1,3", "--rounds", "2", "--repeat", "1"],
        ["5 connections x 1 keys = 5 bindings", "5 connections x 3 keys = 15 bindings"],
    ),
    "load.py": (
        ["--connections", "6", "--execs", "5", "--processes", "2"],
        ["--stuck", "2", "--stuck-values", "30"],
        ["replies 30 of 30: lost 0, duplicated 0, misrouted 0, error replies 0  PASS"],
    ),
}


@pytest.mark.parametrize("script", sorted(TINY_RUNS))
def test_bench_script_runs_and_reports(script: str) -> None:
    *arg_lists, expected = TINY_RUNS[script]
    args = [arg for arg_list in arg_lists for arg in arg_list]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for text in expected:
        assert text in done.stdout, done.stdout + done.stderr


def test_bench_scripts_run_on_uvloop_too() -> None:
    pytest.importorskip("uvloop")
    args, expected = TINY_RUNS["fanout.py"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fanout.py"), *args, "--loop", "uvloop"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert done.returncode in (0, 1), done.stderr
    assert "loop uvloop" in done.stdout
    for text in expected:
        assert text in done.stdout, done.stdout + done.stderr
