"""A real `hyena-bench run` beside real CPU hogs records a load above the CPU count, and its report
opens with the warning. (A quiet machine cannot be ordered up in a test on a shared machine: the
quiet side is tests/reports/test_noise.py, on rows whose load fields say quiet.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench import store
from tests.conftest import run_cli

# The 1-minute load then tends to 4x the CPU count: from zero it passes the CPU count in about
# 60 s * ln(4/3) = 17 s. The hogs run at nice 19: the load average counts them as runnable all
# the same, but the run under test gets nearly all the CPU time it asks for (a test's time budget).
HOGS_PER_CPU = 4
HOG = "import os; os.nice(19)\nwhile 1: pass"
LOAD_WAIT_S = 300  # a ceiling only: on a machine already busy it takes a few seconds


def test_a_run_beside_cpu_hogs_records_the_load_and_its_report_warns(tmp_path):
    cpus = os.cpu_count() or 1
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(HOGS_PER_CPU * cpus)]
    try:
        deadline = time.monotonic() + LOAD_WAIT_S
        while os.getloadavg()[0] <= cpus and time.monotonic() < deadline:
            time.sleep(1)
        assert os.getloadavg()[0] > cpus, "the hogs did not raise the load"
        out = tmp_path / "run"
        run_cli(
            "run",
            "--ops",
            "hyena-fft",
            "--seqlens",
            "256,512",
            "--d-model",
            "16",
            "--heads",
            "2",
            "--target-time",
            "0.05",
            "--min-reps",
            "3",
            "--quiet",
            "--out",
            str(out),
            check=True,
        )
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()
    env = json.loads((out / "env.json").read_text())
    assert env["cpu"]["threads"] == cpus
    assert env["load"]["start"]["1m"] > cpus and env["load"]["end"]["1m"] > cpus
    rows = store.read_rows(out)
    assert all(r["load_1m_start"] > cpus and r["load_1m_end"] > cpus for r in rows)
    run_cli("report", str(out), "--out", str(tmp_path / "report"), "--format", "md", check=True)
    text = (tmp_path / "report" / "report.md").read_text()
    title, warning = text.split("\n\n")[:2]
    assert title == "# hyena-bench report"
    assert warning.startswith("> **Warning: do not trust the timings of this run.")
    assert f"above its {cpus} CPUs" in warning
