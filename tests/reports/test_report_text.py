"""What the report says in words: the method paragraph's real timer numbers, which marks a table
cell carries, and a run in which nothing succeeded (one clear line, exit 0, no empty plots)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from reports import selection
from reports.document import method, timing_text
from reports.load import groups, load
from reports.render import to_markdown
from reports.tables import (
    NOISY_MARK,
    NOISY_NOTE,
    UNVERIFIED_MARK,
    latency_table,
    memory_table,
    summarise,
    throughput_tables,
)
from tests.conftest import run_cli
from tests.reports.reports_testdata import LENGTHS, row, write_run

CPU_TIMER = (
    "host perf_counter per call, 2 torch threads, >= 10 reps and >= 0.15 s after >= 3 warm-up calls"
)
NOISY = (0.5, 0.8, 1.0, 1.2, 2.0)  # p90/p10 = 4: noisy


def frame_of(tmp_path: Path, rows: list[dict]) -> pd.DataFrame:
    return load([write_run(tmp_path, rows)]).frame


def test_method_gives_the_timer_settings_and_the_rows_counts(tmp_path):
    rows = [
        row("hyena-fft", n, 1.0, timer=CPU_TIMER, reps=reps)
        for n, reps in zip(LENGTHS[:3], (10, 40, 339), strict=True)
    ]
    text = to_markdown(method(frame_of(tmp_path, rows)))
    assert "n reps" not in text
    assert (
        "Timer: host perf_counter per call, 2 torch threads: at least 3 warm-up calls, then "
        "timed calls for a target of 0.15 s and at least 10 calls." in text
    )
    assert "The 3 ok rows hold 10 to 339 timed calls (median 40)." in text


def test_cuda_rows_share_one_timer_description_without_their_own_counts(tmp_path):
    timer = (
        "CUDA events per call, L2 flushed before each (on), {} reps sized to 0.5 s (>= 10) after "
        ">= 3 warm-up calls and 0.1 s"
    )
    rows = [
        row("hyena-fft", n, 1.0, timer=timer.format(r), reps=r) for n, r in ((1024, 12), (2048, 30))
    ]
    text = timing_text(frame_of(tmp_path, rows))
    assert text == (
        "Timer: CUDA events per call, L2 flushed before each (on): at least 3 warm-up calls and "
        "0.1 s, then timed calls for a target of 0.5 s and at least 10 calls. The 2 ok rows hold "
        "12 to 30 timed calls (median 21)."
    )


def test_noise_marks_latency_derived_cells_but_not_memory(tmp_path):
    rows = [
        row("hyena-fft", 1024, 1.0, spread=NOISY),
        row("hyena-fft", 2048, 2.0, verified=False),
        row("flash-attn2", 1024, 1.0),
        row("flash-attn2", 2048, 1.0),
    ]
    frame = frame_of(tmp_path, rows)
    rows_ = next(r for _, r in groups(frame))
    summary = summarise(rows_, selection.default_baseline(rows_))
    latency, memory = latency_table(summary), memory_table(summary)
    throughput = throughput_tables(summary)[0]
    assert latency.frame.loc["hyena-fft", "1k"].endswith(NOISY_MARK)
    assert throughput.frame.loc["hyena-fft", "1k"].endswith(NOISY_MARK)
    assert NOISY_NOTE in latency.notes and NOISY_NOTE in throughput.notes
    assert NOISY_MARK not in memory.frame.loc["hyena-fft", "1k"]
    assert NOISY_NOTE not in memory.notes
    assert memory.frame.loc["hyena-fft", "2k"].endswith(UNVERIFIED_MARK)  # wrong output: marked


@pytest.mark.parametrize(
    "statuses", [("skipped",), ("skipped", "oom", "error")], ids=["all skipped", "none ok"]
)
def test_report_on_a_run_where_nothing_succeeded(tmp_path, statuses):
    rows = [
        row(op, n, None, status=statuses[i % len(statuses)])
        for i, (op, n) in enumerate(
            (op, n) for op in ("hyena-fft", "flash-attn2") for n in LENGTHS[:3]
        )
    ]
    run = write_run(tmp_path / "run", rows)
    proc = run_cli("report", str(run))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # the one line, and no matplotlib warning
    assert lines[0].startswith("hyena-bench report: note: no measurement succeeded (6 rows: ")
    out = run / "report"
    md = (out / "report.md").read_text()
    assert "Note: no measurement succeeded" in md
    assert "Nothing measured in this setting" in md
    assert "hyena-fft (" in md and "in test)" in md  # the reasons are listed
    assert not re.findall(r"!\[", md)
    assert not (out / "plots").exists()
    assert "<img" not in (out / "report.html").read_text()
    assert len(pd.read_csv(out / "summary.csv")) == len(rows)
