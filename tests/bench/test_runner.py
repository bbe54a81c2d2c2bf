"""The runner in-process: planning, OOM bookkeeping, and a worker that cannot start."""

import os

import pytest

from bench.runner import Runner, RunOptions, Task, WorkerStartError, plan
from bench.sweep import Sweep


class DiesWhenUnpickled:
    """Worker options whose unpickling in the spawned process ends it (exit code 5)."""

    def __reduce__(self):
        return (os._exit, (5,))


def test_a_worker_that_cannot_start_is_an_error_not_an_empty_run(tmp_path):
    tasks = plan(Sweep(seqlens=(256,), ops=("hyena-fft",)).replace(d_model=16, heads=2))
    runner = Runner(tasks, RunOptions(out=tmp_path / "run", measure=DiesWhenUnpickled()))
    with pytest.raises(
        WorkerStartError, match=r"could not start: worker process died \(exit code 5\)"
    ):
        runner.run()


def test_oom_and_slow_calls_skip_longer_lengths_of_the_same_group(tmp_path):
    tasks = plan(Sweep(seqlens=(256, 512, 1024), ops=("hyena-fft", "hyena-naive")))
    runner = Runner(tasks, RunOptions(out=tmp_path))
    fft_256, naive_256 = tasks[0], tasks[1]
    runner._note_failure(fft_256, {"status": "oom"}, None)
    runner._note_failure(naive_256, {"status": "ok", "latency_ms_median": 50.0}, 10.0)
    by = {(t.op, t.config.seqlen): runner._skip_reason(t) for t in tasks}
    assert by[("hyena-fft", 512)] == "hyena-fft ran out of memory at L=256"
    assert "took 50 ms per call at L=256" in by[("hyena-naive", 1024)]
    assert by[("hyena-fft", 256)] is None
    other = Task("hyena-fft", fft_256.config.replace(batch=2, seqlen=512))
    assert runner._skip_reason(other) is None, "another shape is another group"
