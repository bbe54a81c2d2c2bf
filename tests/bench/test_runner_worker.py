"""bench.runner's worker handle (`WorkerProcess`) without a real process: its bookkeeping on a fake
pipe (a reply with the worker's pid, retiring a worker that will restart, a timeout, death by
signal or exit code, the ceilings, stop) and its start on a fake multiprocessing spawn context
(a named daemon with the allocator setting, a start that times out or dies). The sweep loop that
drives it is tests/bench/test_runner_loop.py; the real worker process is exercised by tests/cli
and test_runner.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench import runner
from bench.runner import WorkerStartError
from tests.bench.test_runner_loop import sweep_tasks

# --- the worker handle on a fake pipe ---------------------------------------------------------


class FakeProc:
    def __init__(self, alive: bool = True, exitcode: int | None = None) -> None:
        self.alive, self.exitcode, self.pid = alive, exitcode, 77
        self.joined: list[float] = []
        self.killed = False

    def is_alive(self) -> bool:
        return self.alive

    def kill(self) -> None:
        self.killed, self.alive = True, False

    def join(self, timeout: float) -> None:
        self.joined.append(timeout)


class FakeConn:
    def __init__(self, replies: list[Any] | None = None, ready: bool = True, broken: bool = False):
        self.replies, self.ready, self.broken = list(replies or []), ready, broken
        self.sent: list[Any] = []
        self.polled: list[float] = []

    def send(self, message: Any) -> None:
        if self.broken:
            raise BrokenPipeError
        self.sent.append(message)

    def poll(self, timeout: float) -> bool:
        self.polled.append(timeout)
        return self.ready

    def recv(self) -> Any:
        if not self.replies:
            raise EOFError
        return self.replies.pop(0)


def handle(proc: FakeProc, conn: FakeConn) -> runner.WorkerProcess:
    w = runner.WorkerProcess("cpu", None)
    w.proc, w.conn = proc, conn
    return w


def test_a_reply_is_the_rows_fields_with_the_workers_pid():
    task = sweep_tasks(256, ops=("hyena-fft",))[0]
    w = handle(FakeProc(), FakeConn([{"status": "ok"}]))
    assert w.submit(task, 7.0) == {"status": "ok", "worker_pid": 77}
    assert w.conn.sent == [("hyena-fft", task.config.as_dict())]
    assert w.conn.polled == [7.0]
    assert w.proc is not None


def test_a_worker_that_will_restart_is_retired():
    proc = FakeProc()
    w = handle(proc, FakeConn([{"status": "error", "worker_restarted": True}]))
    assert w.request("m", 1.0)["worker_pid"] == 77
    assert proc.joined[0] == runner.WORKER_EXIT_WAIT_S
    assert proc.killed and w.proc is None


def test_no_reply_in_time_is_a_timeout_and_the_worker_is_killed():
    proc = FakeProc()
    w = handle(proc, FakeConn(ready=False))
    assert w.request("m", 2.5) == {
        "status": "timeout",
        "reason": "no result within 2.5 s (worker killed and replaced)",
        "worker_pid": 77,
    }
    assert proc.killed and w.proc is None


@pytest.mark.parametrize(
    ("exitcode", "words"),
    [(-9, "worker process died (signal 9)"), (3, "worker process died (exit code 3)")],
)
def test_a_worker_that_dies_is_an_error_naming_how(exitcode, words):
    proc = FakeProc(alive=False, exitcode=exitcode)
    w = handle(proc, FakeConn(broken=True))
    w.start = lambda: None  # a dead worker is restarted first: keep the fake
    assert w.request("m", 1.0) == {
        "status": "error",
        "reason": f"{words} while measuring; replaced",
        "worker_pid": 77,
    }
    assert proc.joined == [5] and w.proc is None
    assert w.death() == "worker process died (exit code None)"


def test_a_worker_that_cannot_be_restarted_is_an_error_row():
    w = handle(FakeProc(alive=False), FakeConn())

    def refuse() -> None:
        raise WorkerStartError("worker for cpu did not start within 120 s")

    w.start = refuse
    assert w.request("m", 1.0) == {
        "status": "error",
        "reason": "worker for cpu did not start within 120 s",
    }


def test_the_ceilings_or_why_not():
    w = handle(FakeProc(), FakeConn([{"dtype": "fp32", "matmul_tflops": 1.0}]))
    assert w.ceilings("fp32") == {"dtype": "fp32", "matmul_tflops": 1.0}
    assert w.conn.polled == [runner.CEILINGS_TIMEOUT_S]
    assert w.conn.sent[0].dtype == "fp32"
    slow = handle(FakeProc(), FakeConn(ready=False))
    assert slow.ceilings("fp16") == {
        "dtype": "fp16",
        "error": "no answer within 300 s (worker replaced)",
    }
    assert slow.proc is None
    dead = handle(FakeProc(exitcode=-11), FakeConn(broken=True))
    assert dead.ceilings("fp32") == {
        "dtype": "fp32",
        "error": "worker process died (signal 11) while measuring the ceilings; replaced",
    }
    assert dead.proc is None


def test_stop_kills_only_a_live_worker():
    alive, dead = FakeProc(), FakeProc(alive=False)
    handle(alive, FakeConn()).stop()
    handle(dead, FakeConn()).stop()
    assert alive.killed and alive.joined == [5]
    assert not dead.killed and dead.joined == []


# --- starting a worker, on a fake multiprocessing context ---------------------------------------


class FakeContext:
    """Stands in for multiprocessing's spawn context: records the Process's arguments and the
    environment it would inherit at start; the parent's end of the pipe is `parent`."""

    def __init__(self, parent: FakeConn) -> None:
        self.parent, self.child = parent, FakeChild()
        self.kwargs: dict[str, Any] = {}
        self.env_at_start: dict[str, str] = {}
        self.proc = FakeProc()

    def Pipe(self):  # multiprocessing's name
        return self.parent, self.child

    def Process(self, **kwargs):
        self.kwargs = kwargs
        ctx = self

        def start() -> None:
            import os

            ctx.env_at_start = dict(os.environ)

        self.proc.start = start
        return self.proc


class FakeChild:
    closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_spawn(monkeypatch):
    def make(parent: FakeConn) -> FakeContext:
        ctx = FakeContext(parent)
        monkeypatch.setattr(runner.mp, "get_context", lambda how: ctx if how == "spawn" else None)
        monkeypatch.setattr(runner.allocator, "applied", lambda kind: {"HB_TEST_ALLOC": str(kind)})
        return ctx

    return make


def test_a_worker_is_a_named_daemon_process_started_with_the_allocator_setting(fake_spawn):
    ctx = fake_spawn(FakeConn([{"ready": True, "pid": 77}]))
    w = runner.WorkerProcess("cpu", "opts")
    w.start()
    assert ctx.kwargs == {
        "target": runner.worker.main,
        "args": (ctx.child, "cpu", "opts"),
        "daemon": True,  # it dies with the runner
        "name": "hyena-bench-worker-cpu",
    }
    assert ctx.env_at_start["HB_TEST_ALLOC"] == "cpu"  # the CPU setting, inherited at start
    assert ctx.child.closed and w.ready == {"ready": True, "pid": 77}
    assert ctx.parent.polled == [runner.WORKER_START_TIMEOUT_S]


def test_a_worker_that_does_not_answer_in_time_is_stopped_and_named(fake_spawn):
    ctx = fake_spawn(FakeConn(ready=False))
    w = runner.WorkerProcess("cpu", "opts")
    with pytest.raises(WorkerStartError) as raised:
        w.start()
    assert str(raised.value) == "worker for cpu did not start within 120 s"
    assert ctx.proc.killed and w.proc is None


def test_a_worker_that_dies_while_starting_says_how(fake_spawn):
    ctx = fake_spawn(FakeConn([]))  # EOF instead of the ready message
    ctx.proc.exitcode = 0
    w = runner.WorkerProcess("cpu", "opts")
    with pytest.raises(WorkerStartError) as raised:
        w.start()
    assert ctx.proc.joined[0] == 5
    assert str(raised.value) == (
        "worker for cpu could not start: worker process died (exit code 0) (its traceback is above)"
    )


def test_a_fresh_handle_holds_no_process_and_a_dead_ceilings_worker_is_joined():
    w = runner.WorkerProcess("cpu", "opts")
    assert w.proc is None and w.conn is None and w.ready == {}
    w.stop()  # nothing to stop
    proc = FakeProc(exitcode=-11)
    handle(proc, FakeConn(broken=True)).ceilings("fp32")
    assert proc.joined == [5, 5]  # once after the broken pipe, once in stop()
