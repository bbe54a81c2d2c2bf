"""reports.pool: settings built side by side in worker processes, in order, with the same files
as one process builds (`report --jobs`), and `--format ...,svg`."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from bench.files import OutputError
from reports import pool
from tests.conftest import run_cli
from tests.hostile import bigrun
from tests.reports.reports_testdata import write_run

MANY = pool.POOL_MIN_TASKS + 1


def where(value: int) -> tuple[int, int]:
    """A task that says which process ran it."""
    return value, os.getpid()


def square_or_fail(value: int) -> int:
    if value == 3:
        raise ValueError(f"task {value} failed")
    return value * value


def die(value: int) -> int:
    if value == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return value


def test_few_tasks_or_one_job_run_here_in_order():
    few = [(i,) for i in range(pool.POOL_MIN_TASKS - 1)]
    assert pool.starmap(where, few, jobs=8) == [(i, os.getpid()) for i in range(len(few))]
    many = [(i,) for i in range(MANY)]
    assert pool.starmap(where, many, jobs=1) == [(i, os.getpid()) for i in range(MANY)]


def test_many_tasks_run_in_other_processes_and_keep_their_order():
    got = pool.starmap(where, [(i,) for i in range(MANY)], jobs=2)
    assert [value for value, _ in got] == list(range(MANY))
    pids = {pid for _, pid in got}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_a_failing_task_raises_its_own_error():
    with pytest.raises(ValueError, match="task 3 failed"):
        pool.starmap(square_or_fail, [(i,) for i in range(MANY)], jobs=2)


def test_a_worker_that_dies_is_one_output_error():
    with pytest.raises(OutputError, match=r"worker process died .* rerun with --jobs 1"):
        pool.starmap(die, [(i,) for i in range(MANY)], jobs=2)


def test_where_no_process_can_start_the_tasks_run_here_after_a_note(monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "semaphores are not allowed here")

    monkeypatch.setattr(pool, "ProcessPoolExecutor", refuse)
    got = pool.starmap(where, [(i,) for i in range(MANY)], jobs=2)
    assert got == [(i, os.getpid()) for i in range(MANY)]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "semaphores are not allowed here" in err
    assert err.startswith("hyena-bench report: note: no worker processes")


def test_default_jobs_is_the_cpus_this_process_may_use():
    jobs = pool.default_jobs()
    assert jobs >= 1
    if hasattr(os, "sched_getaffinity"):
        assert jobs == len(os.sched_getaffinity(0))


# --- the command ---------------------------------------------------------------------------------

OPS = {"hyena-fft", "attention-sdpa-flash"}
LENGTHS = {256, 1024, 4096}


def settings_run(directory: Path, settings: int) -> Path:
    """`settings` settings (the layer, forward, at batch 1, 2, 4, ...) of two implementations
    at three lengths: enough settings for the pool, few lines to draw."""
    per_setting = len(bigrun.OPS) * len(bigrun.LENGTHS)
    rows = [
        row
        for row in bigrun.rows(count=settings * per_setting, samples=40)
        if row["op"] in OPS and row["seqlen"] in LENGTHS
    ]
    return write_run(directory, rows)


def files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_a_pooled_report_is_the_serial_one_file_by_file(tmp_path):
    run = settings_run(tmp_path / "run", pool.POOL_MIN_TASKS)
    serial, pooled = tmp_path / "serial", tmp_path / "pooled"
    for out, jobs in ((serial, "1"), (pooled, "2")):
        proc = run_cli("report", str(run), "--out", str(out), "--jobs", jobs)
        assert proc.returncode == 0, proc.stderr
    one, two = files(serial), files(pooled)
    assert len([name for name in one if name.endswith(".png")]) >= 4 * pool.POOL_MIN_TASKS
    assert one.keys() == two.keys()
    assert [name for name in one if one[name] != two[name]] == []
    assert not any(name.endswith(".svg") for name in one)


def test_format_svg_writes_each_figure_as_svg_too_and_links_it(tmp_path):
    run = settings_run(tmp_path / "run", 1)
    proc = run_cli("report", str(run), "--out", str(tmp_path / "r"), "--format", "md,svg")
    assert proc.returncode == 0, proc.stderr
    pngs = sorted(p.stem for p in (tmp_path / "r" / "plots").glob("*.png"))
    svgs = sorted(p.stem for p in (tmp_path / "r" / "plots").glob("*.svg"))
    assert pngs and pngs == svgs
    md = (tmp_path / "r" / "report.md").read_text()
    assert md.count("([SVG](plots/") == len(svgs)
    assert not (tmp_path / "r" / "report.html").exists()


def test_a_fork_server_started_early_serves_the_pool():
    """`report` starts the fork server before it reads the rows; the pool then uses it."""
    pool.prestart((__name__,), jobs=2)
    got = pool.starmap(where, [(i,) for i in range(MANY)], jobs=2)
    assert [value for value, _ in got] == list(range(MANY))
    assert os.getpid() not in {pid for _, pid in got}
    pool.prestart((__name__,), jobs=1)  # one job: nothing to start, nothing raised
