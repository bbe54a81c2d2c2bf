"""The sweep loop in-process (bench/runner.py), with a scripted worker in place of the spawned
one: which rows are written and in what order, with what identity (shard, scheduler job, start
time, roofline fraction), the skips after an OOM, a timeout or a slow call, resume over a sweep
with ok, skipped, oom and error rows (each key once), the shard probe, the time budget (on a
planted clock), two workers sharing a queue, the refusals and failures (and the directory a
failed run leaves). A sweep thread that raises fails the test (`script` records every uncaught
thread exception). The worker handle itself is tests/bench/test_runner_worker.py; the real
worker process is exercised by tests/cli (a subprocess per run) and test_runner.py.
"""

from __future__ import annotations

import errno
import io
import json
import re
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench import files, record, runner, store
from bench.errors import UsageError
from bench.runner import Runner, RunOptions, Task, WorkerStartError, plan
from bench.sweep import Sweep
from tests.bench.rows import good_row

CEILINGS = {"dtype": "fp32", "matmul_tflops": 1.0, "copy_gbps": 1.0}


def ok(median: float = 1.0) -> dict[str, Any]:
    return {
        "status": "ok",
        "samples_ms": [median, median],
        "reps": 2,
        "latency_ms_median": median,
        "latency_ms_p10": median,
        "latency_ms_p90": median,
    }


class Script:
    """What the fake workers answer: fields per (op, seqlen), ok at 1 ms otherwise."""

    def __init__(self, answers: dict[tuple[str, int], dict[str, Any]] | None = None) -> None:
        self.answers = answers or {}
        self.asked: list[tuple[str, int]] = []
        self.ceilings_asked: list[str] = []
        self.start_error: str | None = None
        self.started = 0
        self.stopped = 0
        self.timeouts: list[float] = []  # the timeout of every call, in order
        self.by_worker: dict[int, list[tuple[str, int]]] = {}  # worker index -> its calls
        self.daemon: set[bool] = set()  # whether the threads that made the calls are daemons
        self.on_submit: Callable[[Any, Task], None] | None = None  # runs inside each call
        self.thread_errors: list[str] = []  # uncaught exceptions of the sweep's threads
        self._made = 0
        self._lock = threading.Lock()

    def made(self) -> int:
        """A new worker's index (workers are made in their own threads)."""
        with self._lock:
            self._made += 1
            return self._made - 1


@pytest.fixture
def script(monkeypatch):
    s = Script()

    class FakeWorker:
        def __init__(self, device: str, opts: Any) -> None:
            self.device = device
            self.index = s.made()

        def start(self) -> None:
            s.started += 1
            if s.start_error:
                raise WorkerStartError(s.start_error)

        def stop(self) -> None:
            s.stopped += 1

        def ceilings(self, dtype: str) -> dict[str, Any]:
            s.ceilings_asked.append(dtype)
            return {**CEILINGS, "dtype": dtype}

        def submit(self, task: Task, timeout_s: float) -> dict[str, Any]:
            s.asked.append((task.op, task.config.seqlen))
            s.timeouts.append(timeout_s)
            s.by_worker.setdefault(self.index, []).append((task.op, task.config.seqlen))
            s.daemon.add(threading.current_thread().daemon)
            if s.on_submit is not None:
                s.on_submit(self, task)
            return {**s.answers.get((task.op, task.config.seqlen), ok()), "worker_pid": 4242}

    def record(args: Any) -> None:
        s.thread_errors.append(
            "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
        )

    monkeypatch.setattr(runner, "WorkerProcess", FakeWorker)
    # A sweep thread that dies writes no more rows and only prints a traceback: fail the test.
    monkeypatch.setattr(threading, "excepthook", record)
    yield s
    assert s.thread_errors == [], "a sweep thread raised:\n" + "\n".join(s.thread_errors)


def sweep_tasks(*lengths: int, ops: tuple[str, ...] = ("hyena-fft", "hyena-naive")) -> list[Task]:
    return plan(Sweep(seqlens=lengths, ops=ops).replace(d_model=16, heads=2))


def rows_of(out: Path) -> list[tuple[str, int, str]]:
    return [(r["op"], r["seqlen"], r["status"]) for r in store.read_rows(out)]


def test_every_task_is_written_once_in_order_with_its_identity(tmp_path, script):
    tasks = sweep_tasks(256, 512)
    shown = []
    out = tmp_path / "run"
    summary = Runner(
        tasks, RunOptions(out=out), on_row=lambda row, *counts: shown.append((row, *counts))
    ).run()
    assert rows_of(out) == [(t.op, t.config.seqlen, "ok") for t in tasks]
    assert script.asked == [(t.op, t.config.seqlen) for t in tasks]
    # The display gets each row as written, with the count so far and the total.
    assert [(row["op"], row["seqlen"], done, total) for row, done, total in shown] == [
        (t.op, t.config.seqlen, i, 4) for i, t in enumerate(tasks, 1)
    ]
    written = [(record.row_key(r), r["status"], r["started_at"]) for r in store.read_rows(out)]
    assert [(record.row_key(r), r["status"], r["started_at"]) for r, _, _ in shown] == written
    assert script.started == 1 and script.stopped == 1
    env = json.loads((out / store.ENV_FILE).read_text())
    assert env["ceilings"] == {**CEILINGS, "dtype": tasks[0].config.dtype}
    assert script.ceilings_asked == [tasks[0].config.dtype]
    assert "finished_at" in env
    first = store.read_rows(out)[0]
    assert first["run_id"] == env["run_id"] == summary["run_id"]
    assert (first["family"], first["device"], first["worker_device"]) == ("hyena", "cpu", "cpu")
    assert (first["shard"], first["job_id"], first["worker_pid"]) == (None, None, 4242)
    assert first["impl_detail"] == runner.registry.get("hyena-fft").detail
    assert first["started_at"]
    assert summary["rows"] == 4
    assert summary["counts"] == {"ok": 4}
    assert (summary["already_done"], summary["not_run"]) == (0, 0)
    assert summary["wall_s"] >= 0
    # Daemon threads: an interrupted run (Ctrl-C) exits without the interpreter waiting for
    # them, which would otherwise go on taking tasks from the queue until the sweep was done.
    assert script.daemon == {True}


def test_a_run_id_is_the_local_start_time_and_six_random_hex_digits(tmp_path, script):
    before = time.time()
    run_id = Runner(sweep_tasks(256), RunOptions(out=tmp_path)).run()["run_id"]
    ids = {run_id, *(Runner._new_run_id() for _ in range(20))}
    after = time.time()
    assert len(ids) == 21  # unique within one second
    for rid in ids:
        stamp, suffix = rid.rsplit("-", 1)
        assert re.fullmatch(r"[0-9a-f]{6}", suffix), rid
        started = time.mktime(time.strptime(stamp, "%Y%m%d-%H%M%S"))  # ValueError if not
        assert int(before) - 1 <= started <= after, rid


@pytest.mark.parametrize(
    ("status", "why"), [("oom", "ran out of memory"), ("timeout", "timed out")]
)
def test_a_failure_skips_the_longer_lengths_of_its_group_only(tmp_path, script, status, why):
    script.answers[("hyena-naive", 512)] = {"status": status, "reason": "planted"}
    summary = Runner(sweep_tasks(256, 512, 1024, 2048), RunOptions(out=tmp_path)).run()
    rows = store.read_rows(tmp_path)
    naive = [(r["seqlen"], r["status"], r["reason"]) for r in rows if r["op"] == "hyena-naive"]
    reason = f"hyena-naive {why} at L=512"
    assert naive == [
        (256, "ok", ""),
        (512, status, "planted"),
        (1024, "skipped", reason),
        (2048, "skipped", reason),
    ]
    assert ("hyena-naive", 1024) not in script.asked
    assert all(r["status"] == "ok" for r in rows if r["op"] == "hyena-fft")
    assert summary["counts"] == {"ok": 5, status: 1, "skipped": 2}


def test_without_oom_skip_every_length_runs(tmp_path, script):
    script.answers[("hyena-naive", 256)] = {"status": "oom", "reason": "planted"}
    Runner(sweep_tasks(256, 512), RunOptions(out=tmp_path, oom_skip=False)).run()
    assert ("hyena-naive", 512, "ok") in rows_of(tmp_path)


def test_a_call_slower_than_the_limit_skips_longer_lengths(tmp_path, script):
    script.answers[("hyena-fft", 512)] = ok(50.4)
    script.answers[("hyena-naive", 512)] = ok(10.0)  # at the limit: not over it
    Runner(sweep_tasks(256, 512, 1024), RunOptions(out=tmp_path)).run(max_call_ms=10.0)
    rows = {(r["op"], r["seqlen"]): r for r in store.read_rows(tmp_path)}
    assert rows[("hyena-fft", 1024)]["reason"] == (
        "hyena-fft took 50 ms per call at L=512 (limit 10 ms); longer lengths skipped"
    )
    assert rows[("hyena-naive", 1024)]["status"] == "ok"
    no_limit = tmp_path / "again"
    Runner(sweep_tasks(256, 512, 1024), RunOptions(out=no_limit)).run()
    assert {s for _, _, s in rows_of(no_limit)} == {"ok"}


def test_the_first_failure_of_a_group_names_the_skip():
    tasks = sweep_tasks(256, 512, 1024, ops=("hyena-fft",))
    r = Runner(tasks, RunOptions(out=Path("unused")))
    r._note_failure(tasks[0], {"status": "timeout"}, None)
    r._note_failure(tasks[1], {"status": "oom"}, None)
    assert r._skip_reason(tasks[2]) == "hyena-fft timed out at L=256"
    assert r._skip_reason(tasks[0]) is None  # the failed length itself is not skipped
    r._note_failure(tasks[0], {"status": "error"}, None)
    r._note_failure(tasks[0], {"status": "ok", "latency_ms_median": 5.0}, None)


def test_resume_runs_what_is_missing_and_keeps_the_skips(tmp_path, script):
    tasks = sweep_tasks(256, 512, 1024, 2048)
    script.answers[("hyena-naive", 512)] = {"status": "oom", "reason": "planted"}
    script.answers[("hyena-fft", 512)] = {"status": "error", "reason": "planted"}
    first = Runner(tasks[:5], RunOptions(out=tmp_path)).run()
    assert first["rows"] == 5
    script.asked.clear()
    again = Runner(tasks, RunOptions(out=tmp_path, resume=True)).run()
    keys = [record.row_key(r) for r in store.read_rows(tmp_path)]
    assert sorted(keys) == sorted(record.row_key(t.key_row()) for t in tasks)
    assert len(set(keys)) == len(keys) == 8
    # The OOM at 512 (first run) still skips 1024 and 2048; the error at 512 skips nothing.
    assert ("hyena-naive", 1024) not in script.asked
    assert ("hyena-naive", 2048) not in script.asked
    assert script.asked == [("hyena-fft", 2048)]
    assert (again["already_done"], again["rows"]) == (5, 3)
    env = json.loads((tmp_path / store.ENV_FILE).read_text())
    assert len(env["resumes"]) == 1
    assert set(env["resumes"][0]) == {"at", "command", "job"}
    assert env["run_id"] == first["run_id"] == again["run_id"]
    assert env["ceilings"]["dtype"] == "fp32"
    assert script.ceilings_asked == ["fp32"]  # kept on resume: measured once


def test_resume_learns_skips_from_rows_in_length_order(tmp_path):
    tasks = sweep_tasks(256, 512, 1024, ops=("hyena-fft",))
    rows = [
        {**record.new_row(run_id="r", op="hyena-fft", status="oom", **t.config.as_dict())}
        for t in reversed(tasks[:2])
    ]
    r = Runner(tasks, RunOptions(out=tmp_path))
    r.failures_of(rows)
    assert r._skip_reason(tasks[2]) == "hyena-fft ran out of memory at L=256"
    slow = Runner(tasks, RunOptions(out=tmp_path))
    slow.max_call_ms = 1.0
    slow.failures_of([{**rows[1], "status": "ok", "latency_ms_median": 3.0}])
    assert slow._skip_reason(tasks[2]).startswith("hyena-fft took 3 ms per call at L=256")
    unlimited = Runner(tasks, RunOptions(out=tmp_path))  # no call limit until run() sets one
    unlimited.failures_of([{**rows[1], "status": "ok", "latency_ms_median": 1e6}])
    assert unlimited._skip_reason(tasks[2]) is None


def test_resume_without_anything_to_resume_starts_a_run(tmp_path, script):
    summary = Runner(sweep_tasks(256), RunOptions(out=tmp_path, resume=True)).run()
    assert summary["rows"] == 2
    assert "resumes" not in json.loads((tmp_path / store.ENV_FILE).read_text())


def test_resume_of_a_directory_with_only_an_env_adds_every_row(tmp_path, script):
    first = Runner(sweep_tasks(256), RunOptions(out=tmp_path)).run()
    (tmp_path / store.RESULTS_FILE).unlink()
    summary = Runner(sweep_tasks(256), RunOptions(out=tmp_path, resume=True)).run()
    assert (summary["rows"], summary["already_done"]) == (2, 0)
    env = json.loads((tmp_path / store.ENV_FILE).read_text())
    assert summary["run_id"] == env["run_id"] == first["run_id"]  # the same run, resumed
    assert len(env["resumes"]) == 1


def test_resume_of_results_without_their_env_is_refused(tmp_path, script):
    Runner(sweep_tasks(256), RunOptions(out=tmp_path)).run()
    (tmp_path / store.ENV_FILE).unlink()
    with pytest.raises(UsageError) as caught:
        Runner(sweep_tasks(256), RunOptions(out=tmp_path, resume=True)).run()
    assert str(caught.value) == (
        f"--resume: {tmp_path / store.ENV_FILE}: missing (not a hyena-bench run directory?)"
    )
    assert len(store.read_rows(tmp_path)) == 2  # nothing added


def test_refusals_name_the_directory_and_the_cure(tmp_path, script):
    Runner(sweep_tasks(256), RunOptions(out=tmp_path, env_extra={"sweep": {"d": 1}})).run()
    with pytest.raises(UsageError) as caught:
        Runner(sweep_tasks(256), RunOptions(out=tmp_path)).run()
    assert str(caught.value) == (
        f"--out {tmp_path} already holds results; pass --resume or choose a new --out"
    )
    other = RunOptions(out=tmp_path, resume=True, env_extra={"sweep": {"d": 2, "e": 3}})
    with pytest.raises(UsageError) as caught:
        Runner(sweep_tasks(256), other).run()
    command = json.loads((tmp_path / store.ENV_FILE).read_text())["command"]
    assert str(caught.value) == (
        f"--resume: {tmp_path} was made for sweep d 1 (now 2); for sweep e None (now 3); resume "
        f"it with its own command ({command}) or choose a new --out"
    )
    (tmp_path / store.RESULTS_FILE).write_text("{oops\n{}\n")
    with pytest.raises(UsageError, match=r"^--resume: .*results.jsonl:1: not valid JSON"):
        Runner(sweep_tasks(256), RunOptions(out=tmp_path, resume=True)).run()


def test_an_empty_results_file_is_no_reason_to_refuse(tmp_path, script):
    (tmp_path / store.RESULTS_FILE).write_text("")
    assert Runner(sweep_tasks(256), RunOptions(out=tmp_path)).run()["rows"] == 2


def test_resume_differences_in_words():
    env = {"device": {"type": "cpu", "name": "x"}, "torch": "2.5", "sweep": {"a": 1, "b": 2}}
    same = json.loads(json.dumps(env))
    assert runner.resume_differences(env, same) == []
    now = {
        "device": {"type": "cpu", "name": "y"},
        "torch": "2.5",
        "sweep": {"a": 1, "c": 3},
        "shard": "1/2",
    }
    assert runner.resume_differences(env, now) == [
        "with device.name 'x' (now 'y')",
        "for sweep b 2 (now None)",
        "for sweep c None (now 3)",
        "for shard None (now '1/2')",
    ]
    assert runner.resume_differences({"sweep": "old"}, {"sweep": {"a": 1}}) == [
        "for sweep 'old' (now {'a': 1})"
    ]


def test_a_second_run_on_a_locked_directory_is_refused(tmp_path, script):
    lock = files.RunLock(tmp_path)
    lock.acquire()
    try:
        with pytest.raises(UsageError, match=r"^--out .*; wait for it or choose another --out$"):
            Runner(sweep_tasks(256), RunOptions(out=tmp_path)).run()
    finally:
        lock.release()


def test_a_directory_that_cannot_be_made_is_an_output_error(tmp_path, script):
    (tmp_path / "file").write_text("")
    with pytest.raises(files.OutputError, match=r"cannot write: .*file/run"):
        Runner(sweep_tasks(256), RunOptions(out=tmp_path / "file" / "run")).run()


def test_the_time_budget_leaves_the_rest_unrun(tmp_path, script):
    summary = Runner(sweep_tasks(256, 512), RunOptions(out=tmp_path, time_budget_s=0.0)).run()
    assert (summary["rows"], summary["not_run"]) == (0, 4)
    assert script.asked == []
    plenty = Runner(sweep_tasks(256), RunOptions(out=tmp_path / "b", time_budget_s=3600.0)).run()
    assert (plenty["rows"], plenty["not_run"]) == (2, 0)


def test_a_worker_that_cannot_start_fails_the_run(tmp_path, script):
    script.start_error = "worker for cpu could not start: planted"
    out = tmp_path / "run"
    with pytest.raises(WorkerStartError, match=r"^worker for cpu could not start: planted$"):
        Runner(sweep_tasks(256), RunOptions(out=out)).run()
    assert script.asked == []


def test_a_row_that_cannot_be_written_stops_the_run_keeping_the_others(
    tmp_path, script, monkeypatch
):
    real = store.ResultsWriter.append
    calls = []

    def append(self, row):
        calls.append(row["seqlen"])
        if len(calls) == 3:
            raise files.OutputError("disk full: planted")
        real(self, row)

    monkeypatch.setattr(store.ResultsWriter, "append", append)
    with pytest.raises(files.OutputError) as caught:
        Runner(sweep_tasks(256, 512, 1024), RunOptions(out=tmp_path)).run()
    assert str(caught.value) == (
        "disk full: planted; the 2 rows written before it are kept: rerun with --resume when "
        "there is room"
    )
    assert len(calls) == 3 and len(store.read_rows(tmp_path)) == 2


def test_a_failing_display_is_reported_once_and_the_sweep_goes_on(tmp_path, script, capsys):
    def broken(row, done, total):
        raise BrokenPipeError

    summary = Runner(sweep_tasks(256, 512), RunOptions(out=tmp_path), on_row=broken).run()
    assert summary["rows"] == 4
    err = capsys.readouterr().err
    assert err == (
        "hyena-bench run: warning: the progress display failed (BrokenPipeError); "
        "the sweep goes on\n"
    )


def test_a_row_that_would_not_load_becomes_an_error_row():
    identity = {"op": "hyena-fft", "seqlen": 256, "status": None}
    row = {**identity, "status": "ok", "unknown_field": 1, "started_at": "t"}
    fixed = runner.checked(row, identity)
    assert fixed["status"] == "error"
    assert fixed["reason"].startswith(
        "hyena-bench bug: the measured row does not fit bench.record ("
    )
    assert "unknown_field" in fixed["reason"]
    assert fixed["started_at"] == "t" and "unknown_field" not in fixed
    good = good_row(status="error", reason="x" * (record.MAX_TEXT + 10))
    kept = runner.checked(good, identity)
    assert kept is good
    assert kept["reason"] == "x" * (record.MAX_TEXT - 3) + "..."
    assert len(kept["reason"]) == record.MAX_TEXT
    exact = good_row(status="error", reason="y" * record.MAX_TEXT)
    assert runner.checked(exact, identity)["reason"] == "y" * record.MAX_TEXT


def test_base_row_takes_the_device_type_and_the_extras():
    task = sweep_tasks(256, ops=("hyena-fft",))[0]
    row = runner.base_row(task, "rid", "cuda:1", shard="1/2", worker_device="cuda:1")
    assert (row["run_id"], row["op"], row["device"], row["shard"]) == (
        "rid",
        "hyena-fft",
        "cuda",
        "1/2",
    )
    assert row["seqlen"] == 256 and row["d_model"] == 16 and row["heads"] == 2
    assert row["family"] == "hyena"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"status": "oom", "reason": "planted"}, "hyena-naive ran out of memory at L=256"),
        (
            ok(40.0),  # slower than the run's call limit (10 ms)
            "hyena-naive took 40 ms per call at L=256 (limit 10 ms); longer lengths skipped",
        ),
    ],
)
def test_a_shard_piece_probes_the_length_before_it(tmp_path, script, answer, reason):
    tasks = sweep_tasks(512, 1024, ops=("hyena-naive",))
    probed = [Task(t.op, t.config, probe_seqlen=256) for t in tasks]
    script.answers[("hyena-naive", 256)] = answer
    Runner(probed, RunOptions(out=tmp_path, timeout_s=12.5)).run(max_call_ms=10.0)
    assert script.asked == [("hyena-naive", 256)]  # probed once; nothing else runs
    assert script.timeouts == [12.5]  # the probe gets the row timeout: it cannot hang the run
    assert rows_of(tmp_path) == [("hyena-naive", 512, "skipped"), ("hyena-naive", 1024, "skipped")]
    assert store.read_rows(tmp_path)[0]["reason"] == reason


def test_a_probe_that_passes_is_not_recorded_and_runs_once(tmp_path, script):
    tasks = [Task(t.op, t.config, probe_seqlen=256) for t in sweep_tasks(512, 1024)]
    Runner(tasks, RunOptions(out=tmp_path)).run()
    assert script.asked.count(("hyena-fft", 256)) == 1
    assert script.asked.count(("hyena-naive", 256)) == 1
    assert len(script.asked) == 6
    assert len(store.read_rows(tmp_path)) == 4
    script.asked.clear()
    Runner(tasks, RunOptions(out=tmp_path / "b", oom_skip=False)).run()
    assert len(script.asked) == 4  # without skips a probe decides nothing


def test_several_devices_keep_a_group_on_one_worker():
    tasks = sweep_tasks(256, 512, ops=("hyena-fft", "hyena-naive", "attention-dense"))
    r = Runner(tasks, RunOptions(out=Path("unused"), devices=("cpu", "cpu")))
    queue = list(tasks)
    a = r._next(queue, 0)
    b = r._next(queue, 1)
    assert a.group() != b.group()
    assert r._next(queue, 0).group() == a.group()  # its own group's next length first
    c = r._next(queue, 0)  # its group done: a group nobody holds
    assert c.group() not in (a.group(), b.group())
    assert r._next(queue, 1).group() == b.group()
    assert r._next(queue, 1) is None  # only slot 0's group is left
    assert 1 not in r.held
    assert r._next(queue, 0).group() == c.group()
    assert queue == [] and r._next(queue, 0) is None


def test_a_write_error_stops_handing_out_tasks():
    tasks = sweep_tasks(256)
    r = Runner(tasks, RunOptions(out=Path("unused")))
    r.write_error = files.OutputError("x")
    assert r._next(list(tasks), 0) is None


def test_the_shard_and_the_scheduler_job_are_on_every_row_and_resume(tmp_path, script, monkeypatch):
    job = {"executor": "slurm", "job_id": "812_3", "pid": 99}
    monkeypatch.setattr(runner.envinfo, "scheduler_job", lambda: job)
    Runner(sweep_tasks(256), RunOptions(out=tmp_path, shard=(2, 3))).run()
    Runner(sweep_tasks(256, 512), RunOptions(out=tmp_path, shard=(2, 3), resume=True)).run()
    rows = store.read_rows(tmp_path)
    assert [(r["shard"], r["job_id"]) for r in rows] == [("2/3", "812_3")] * 4
    assert json.loads((tmp_path / store.ENV_FILE).read_text())["resumes"][0]["job"] == job


def test_an_ok_row_gets_its_roofline_fraction_from_the_measured_ceilings(tmp_path, script):
    # Ceilings of 1 TFLOP/s and 1 GB/s: 1e9 FLOPs take at least 1 ms, 5e5 bytes 0.5 ms, so
    # the roofline time is 1 ms; over a 4 ms median, 0.25.
    script.answers[("hyena-fft", 256)] = {**ok(4.0), "flops_issued": 1e9, "bytes": 5e5}
    script.answers[("hyena-fft", 512)] = {**ok(4.0), "flops_issued": 1e6, "bytes": 2e6}
    Runner(sweep_tasks(256, 512), RunOptions(out=tmp_path)).run()
    fraction = {(r["op"], r["seqlen"]): r["roofline_fraction"] for r in store.read_rows(tmp_path)}
    assert fraction[("hyena-fft", 256)] == pytest.approx(0.25, rel=1e-12)
    assert fraction[("hyena-fft", 512)] == pytest.approx(0.5, rel=1e-12)  # memory-bound: 2 ms
    assert fraction[("hyena-naive", 256)] is None  # no FLOPs or bytes reported


def test_a_measured_row_that_does_not_fit_the_record_is_written_as_an_error(tmp_path, script):
    script.answers[("hyena-fft", 256)] = {**ok(), "unknown_field": 1}
    summary = Runner(sweep_tasks(256), RunOptions(out=tmp_path)).run()
    rows = {r["op"]: r for r in store.read_rows(tmp_path)}
    bad = rows["hyena-fft"]
    assert bad["status"] == "error" and "unknown_field" in bad["reason"]
    assert (bad["seqlen"], bad["worker_device"], bad["run_id"]) == (256, "cpu", summary["run_id"])
    assert rows["hyena-naive"]["status"] == "ok"
    assert summary["counts"] == {"error": 1, "ok": 1}


def test_a_display_that_fails_with_stderr_closed_does_not_stop_the_sweep(
    tmp_path, script, monkeypatch
):
    closed = io.StringIO()
    closed.close()  # a closed terminal: printing the warning fails too
    monkeypatch.setattr(sys, "stderr", closed)

    def broken(row, done, total):
        raise BrokenPipeError

    summary = Runner(sweep_tasks(256, 512), RunOptions(out=tmp_path), on_row=broken).run()
    assert summary["rows"] == 4 and len(store.read_rows(tmp_path)) == 4


def test_the_run_directory_is_made_with_its_parents(tmp_path, script):
    out = tmp_path / "results" / "cpu" / "run"
    assert Runner(sweep_tasks(256), RunOptions(out=out)).run()["rows"] == 2
    assert len(store.read_rows(out)) == 2


def test_a_run_that_fails_before_writing_removes_only_a_directory_it_made(
    tmp_path, script, monkeypatch
):
    def full(path: Path, obj: Any) -> None:
        raise files.OutputError(f"disk full: {path}: planted")

    monkeypatch.setattr(store, "write_json_atomic", full)
    new = tmp_path / "new"
    with pytest.raises(files.OutputError, match=r"^disk full: .*env.json: planted$"):
        Runner(sweep_tasks(256), RunOptions(out=new)).run()
    assert not new.exists()  # no empty run directory left behind
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(files.OutputError):
        Runner(sweep_tasks(256), RunOptions(out=mine)).run()
    assert mine.is_dir() and list(mine.iterdir()) == []  # the user's own directory stays


def test_a_lock_that_cannot_be_written_is_an_output_error_and_the_new_directory_goes(
    tmp_path, script, monkeypatch
):
    def no_space(self: files.RunLock) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.RunLock, "acquire", no_space)
    out = tmp_path / "run"
    with pytest.raises(files.OutputError) as caught:
        Runner(sweep_tasks(256), RunOptions(out=out)).run()
    assert str(caught.value) == f"disk full: {out}: No space left on device"
    assert not out.exists() and script.started == 0


class Clock:
    """A planted time.monotonic: it moves only when a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock(100.0)
    monkeypatch.setattr(runner, "time", types.SimpleNamespace(monotonic=c, strftime=time.strftime))
    return c


def test_the_time_budget_ends_after_its_deadline(tmp_path, script, clock):
    def five_seconds(worker: Any, task: Task) -> None:
        clock.now += 5.0

    script.on_submit = five_seconds
    opts = RunOptions(out=tmp_path, time_budget_s=5.0)  # deadline 105
    summary = Runner(sweep_tasks(256, 512), opts).run()
    # Tasks start at 100, 105 (the deadline itself: still within the budget) and 110 (past it).
    assert (summary["rows"], summary["not_run"]) == (2, 2)
    assert summary["wall_s"] == 10.0


def test_two_workers_past_the_budget_count_each_task_not_run_once(tmp_path, script, clock):
    r = Runner(
        sweep_tasks(256, 512), RunOptions(out=tmp_path, devices=("cpu", "cpu"), time_budget_s=1.0)
    )
    clock.now = 102.0  # past the deadline before the first task: both workers find it so
    summary = r.run()
    assert (summary["rows"], summary["not_run"]) == (0, 4)
    assert (script.started, script.stopped, script.asked) == (2, 2, [])


def test_two_workers_run_two_groups_at_once_each_in_length_order(tmp_path, script):
    meet = threading.Barrier(2, timeout=30)

    def first_calls_meet(worker: Any, task: Task) -> None:
        if len(script.by_worker[worker.index]) == 1:
            meet.wait()  # both workers are measuring their first task at the same time

    script.on_submit = first_calls_meet
    tasks = sweep_tasks(256, 512, 1024)
    Runner(tasks, RunOptions(out=tmp_path, devices=("cpu", "cpu"))).run()
    ran = sorted(script.by_worker.values())
    assert ran == [
        [("hyena-fft", 256), ("hyena-fft", 512), ("hyena-fft", 1024)],
        [("hyena-naive", 256), ("hyena-naive", 512), ("hyena-naive", 1024)],
    ]
    assert len(store.read_rows(tmp_path)) == 6


def test_a_worker_with_nothing_to_do_is_told_so_again():
    r = Runner(sweep_tasks(256), RunOptions(out=Path("unused"), devices=("cpu", "cpu")))
    queue: list[Task] = []
    assert r._next(queue, 1) is None and r._next(queue, 1) is None
    assert r.held == {}


def test_resuming_a_finished_run_measures_nothing_and_stops_its_worker(tmp_path, script):
    tasks = sweep_tasks(256)
    Runner(tasks, RunOptions(out=tmp_path)).run()
    script.asked.clear()
    script.ceilings_asked.clear()
    summary = Runner(tasks, RunOptions(out=tmp_path, resume=True)).run()
    assert (summary["rows"], summary["already_done"], summary["not_run"]) == (0, 2, 0)
    assert script.asked == [] and script.ceilings_asked == []
    assert script.started == script.stopped == 2


def test_a_sweep_of_one_task_measures_the_ceilings_in_its_dtype(tmp_path, script):
    tasks = plan(Sweep(seqlens=(256,), ops=("hyena-fft",)).replace(d_model=16, dtype="fp16"))
    assert Runner(tasks, RunOptions(out=tmp_path)).run()["rows"] == 1
    assert script.ceilings_asked == ["fp16"]


def test_a_row_the_worker_did_not_time_gets_its_start_time(tmp_path, script, monkeypatch):
    monkeypatch.setattr(runner.envinfo, "now", lambda: "2026-01-01T00:00:00+00:00")
    script.answers[("hyena-fft", 256)] = {"status": "timeout", "reason": "planted"}
    script.answers[("hyena-naive", 256)] = {**ok(), "started_at": "2025-05-05T00:00:00+00:00"}
    script.answers[("hyena-naive", 512)] = {**ok(), "started_at": "2025-05-06T00:00:00+00:00"}
    Runner(sweep_tasks(256, 512), RunOptions(out=tmp_path, timeout_s=12.5)).run()
    started = {(r["op"], r["seqlen"]): r["started_at"] for r in store.read_rows(tmp_path)}
    assert started == {
        ("hyena-fft", 256): "2026-01-01T00:00:00+00:00",
        ("hyena-naive", 256): "2025-05-05T00:00:00+00:00",  # the worker's own time is kept
        ("hyena-fft", 512): "2026-01-01T00:00:00+00:00",  # skipped: when it was decided
        ("hyena-naive", 512): "2025-05-06T00:00:00+00:00",
    }
    assert script.timeouts == [12.5] * 3  # every measured row gets the run's timeout
