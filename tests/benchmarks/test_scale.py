"""`report` and `compare` on a realistic large run (issue 17): 2,600 rows x 2,000 samples, about
59 MiB of results.jsonl (tests/hostile/bigrun.py generates it), timed with pytest-benchmark.
Opt-in like the rest of tests/benchmarks (it takes minutes), never a timed assertion:

    pytest tests/benchmarks/test_scale.py --benchmark-only --benchmark-columns=min,max,rounds

Each command runs in its own process, as a user runs it (start-up included), once per round.
The aim is 5 s each; docs/HOSTILE.md "Scale" has the numbers and where the time goes. `report`
builds its 20 settings in worker processes (--jobs, default the CPUs available): the serial
variant (--jobs 1) is timed beside it, so one run shows what the pool gives on this machine.
HYENA_BENCH_SCALE_ROWS shrinks the run (e.g. 260) to try the benchmark quickly; the numbers to
quote use the default.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env
from tests.hostile import bigrun

ROWS = int(os.environ.get("HYENA_BENCH_SCALE_ROWS", bigrun.ROWS))


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bigrun.write(tmp_path_factory.mktemp("scale") / "run", count=ROWS)


def command(*args: str | Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *map(str, args)],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=7200,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def describe(benchmark, big_run: Path, what: str) -> None:
    benchmark.group = f"scale: {ROWS} rows x {bigrun.SAMPLES} samples"
    benchmark.extra_info.update(
        what=what, rows=ROWS, bytes=(big_run / "results.jsonl").stat().st_size
    )


def test_load(benchmark, big_run):
    """Reading and validating the rows alone (bench.store, in this process)."""
    from bench import store

    describe(benchmark, big_run, "load")
    rows = benchmark.pedantic(store.read_rows, args=(big_run,), rounds=3, iterations=1)
    assert len(rows) == ROWS


def test_report_csv(benchmark, big_run, tmp_path):
    describe(benchmark, big_run, "report --format csv (tables, no figures)")
    out = tmp_path / "report"
    benchmark.pedantic(command, args=("report", big_run, "--out", out, "--format", "csv"), rounds=1)


def test_report(benchmark, big_run, tmp_path):
    describe(benchmark, big_run, "report (markdown, HTML, CSV, figures)")
    benchmark.pedantic(command, args=("report", big_run, "--out", tmp_path / "report"), rounds=1)


def test_report_one_process(benchmark, big_run, tmp_path):
    describe(benchmark, big_run, "report --jobs 1 (the same, in one process)")
    out = tmp_path / "report"
    benchmark.pedantic(command, args=("report", big_run, "--out", out, "--jobs", "1"), rounds=1)


def test_compare_with_itself(benchmark, big_run):
    describe(benchmark, big_run, "compare RUN RUN")
    benchmark.pedantic(command, args=("compare", big_run, big_run), rounds=1)
