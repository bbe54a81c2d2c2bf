"""The sweep loop: plan tasks, hand them to one worker subprocess per device, record every row.

Isolation: each worker is a spawned process; a dead worker is recorded as `error` and replaced,
a task past its timeout as `timeout` (the worker is killed and replaced). Durability: rows are
appended and fsynced as they finish, so an interrupted run resumes (`resume=True`) without losing
or duplicating rows. OOM (or a too-slow call) skips that implementation's longer lengths.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench import allocator, envinfo, record, store, worker
from bench.defaults import ROW_TIMEOUT_S
from bench.sweep import Sweep
from operators import registry
from operators.config import Config

WORKER_START_TIMEOUT_S = 120.0  # importing torch (and CUDA init) in a fresh process
WORKER_EXIT_WAIT_S = 10.0  # a worker that announced its exit has only to return; then it is killed


@dataclass(frozen=True)
class Task:
    op: str
    config: Config

    def group(self) -> tuple[Any, ...]:
        """Same implementation and shape except the length: OOM at one L skips longer L."""
        return (self.op, self.config.replace(seqlen=0))


@dataclass
class RunOptions:
    out: Path
    devices: tuple[str, ...] = ("cpu",)
    resume: bool = False
    shard: tuple[int, int] | None = None  # (k, n), 1-based
    timeout_s: float = ROW_TIMEOUT_S
    time_budget_s: float | None = None
    oom_skip: bool = True
    measure: worker.MeasureOptions = field(default_factory=worker.MeasureOptions)
    env_extra: dict[str, Any] = field(default_factory=dict)


def plan(sweep: Sweep, shard: tuple[int, int] | None = None) -> list[Task]:
    """Tasks in order: lengths ascending, implementations in table order within a length, so a
    cut-off run leaves whole length columns. A shard k/n takes every n-th task from the k-th."""
    specs = registry.select(sweep.ops, sweep.families)
    tasks = [Task(s.name, c) for c in sweep.configs() for s in specs]
    if shard is not None:
        k, n = shard
        tasks = [t for i, t in enumerate(tasks) if i % n == k - 1]
    return tasks


def base_row(task: Task, run_id: str, device: str) -> record.Row:
    """What the runner knows of a row before it is measured: its identity and configuration."""
    spec = registry.get(task.op)
    return record.new_row(
        run_id=run_id,
        op=spec.name,
        family=spec.family,
        impl_detail=spec.detail,
        device=torch.device(device).type,
        **task.config.as_dict(),
    )


def checked(row: record.Row, identity: record.Row) -> record.Row:
    """`row`, or an error row in its place if `row` would not load (a field the record does
    not declare, or of the wrong type): one bad row must not make the whole file unreadable."""
    problem = record.problem(row, strict=True)
    if problem is None:
        return row
    return {
        **identity,
        "status": "error",
        "reason": f"hyena-bench bug: the measured row does not fit bench.record ({problem})",
        "started_at": row.get("started_at"),
    }


class WorkerStartError(RuntimeError):
    """A worker process could not start: no configuration can run on that device."""


class WorkerProcess:
    """A spawned worker bound to one device; replaced after a crash or a timeout."""

    def __init__(self, device: str, opts: worker.MeasureOptions) -> None:
        self.device, self.opts = device, opts
        self.proc: Any = None
        self.conn: Any = None

    def start(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=worker.main,
            args=(child, self.device, self.opts),
            daemon=True,
            name=f"hyena-bench-worker-{self.device}",
        )
        with allocator.worker_environment(torch.device(self.device).type):
            self.proc.start()
        child.close()
        if not self.conn.poll(WORKER_START_TIMEOUT_S):
            self.stop()
            raise WorkerStartError(
                f"worker for {self.device} did not start within {WORKER_START_TIMEOUT_S:g} s"
            )
        try:
            self.conn.recv()
        except (EOFError, OSError):
            self.proc.join(5)
            reason = self.death()
            self.stop()
            raise WorkerStartError(
                f"worker for {self.device} could not start: {reason} (its traceback is above)"
            ) from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.proc = None

    def retire(self) -> None:
        """Wait for a worker that announced its exit, so no task is sent to it."""
        if self.proc is not None:
            self.proc.join(WORKER_EXIT_WAIT_S)
        self.stop()

    def death(self) -> str:
        code = self.proc.exitcode if self.proc is not None else None
        if code is not None and code < 0:
            return f"worker process died (signal {-code})"
        return f"worker process died (exit code {code})"

    def submit(self, task: Task, timeout_s: float) -> dict[str, Any]:
        """The row fields for `task`, or a timeout/error status; restarts the worker as needed."""
        if self.proc is None or not self.proc.is_alive():
            try:
                self.start()
            except WorkerStartError as exc:
                return {"status": "error", "reason": str(exc)}
        try:
            self.conn.send((task.op, task.config.as_dict()))
            if self.conn.poll(timeout_s):
                fields = self.conn.recv()
                if fields.get("worker_restarted"):
                    self.retire()  # it exits after a CUDA error: the next task gets a new one
                return fields
            self.stop()
            return {
                "status": "timeout",
                "reason": f"no result within {timeout_s:g} s (worker killed and replaced)",
            }
        except (EOFError, OSError, BrokenPipeError):
            self.proc.join(5)
            reason = self.death()
            self.stop()
            return {"status": "error", "reason": f"{reason} while measuring; replaced"}


class Runner:
    """Runs the planned tasks, writing each row as it finishes."""

    def __init__(
        self,
        tasks: list[Task],
        opts: RunOptions,
        on_row: Callable[[dict[str, Any], int, int], None] | None = None,
    ) -> None:
        self.opts, self.on_row = opts, on_row or (lambda row, done, total: None)
        self.out = Path(opts.out)
        self.tasks = tasks
        self.lock = threading.Lock()
        self.failed_at: dict[tuple[Any, ...], tuple[int, str]] = {}
        self.counts: Counter[str] = Counter()
        self.deadline = (
            time.monotonic() + opts.time_budget_s if opts.time_budget_s is not None else None
        )
        self.not_run = 0
        self.fatal: str | None = None  # set when a worker cannot start at all

    def prepare(self) -> tuple[str, list[Task]]:
        """Create or reopen the run directory; returns the run id and the tasks still to do."""
        self.out.mkdir(parents=True, exist_ok=True)
        env_path = self.out / store.ENV_FILE
        if self.opts.resume and env_path.exists():
            env = store.read_env(self.out)
            done = store.finished_keys(store.read_rows(self.out))
            env.setdefault("resumes", []).append(
                {"at": envinfo.now(), "command": envinfo.collect(self._device())["command"]}
            )
        else:
            env = envinfo.collect(self._device(), run_id=self._new_run_id(), **self.opts.env_extra)
            done = set()
        store.write_json_atomic(env_path, env)
        todo = [t for t in self.tasks if record.row_key(self._key_row(t)) not in done]
        return env["run_id"], todo

    def _device(self) -> torch.device:
        return torch.device(self.opts.devices[0])

    @staticmethod
    def _new_run_id() -> str:
        return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"

    @staticmethod
    def _key_row(task: Task) -> dict[str, Any]:
        return {"op": task.op, **task.config.as_dict()}

    def _skip_reason(self, task: Task) -> str | None:
        failed = self.failed_at.get(task.group())
        if failed and self.opts.oom_skip and task.config.seqlen > failed[0]:
            return failed[1]
        return None

    def _note_failure(self, task: Task, row: record.Row, max_call_ms: float | None) -> None:
        n, status = task.config.seqlen, row["status"]
        if status in ("oom", "timeout"):
            why = "ran out of memory" if status == "oom" else "timed out"
            self.failed_at.setdefault(task.group(), (n, f"{task.op} {why} at L={n}"))
        elif status == "ok" and max_call_ms is not None and row["latency_ms_median"] > max_call_ms:
            self.failed_at.setdefault(
                task.group(),
                (
                    n,
                    (
                        f"{task.op} took {row['latency_ms_median']:.0f} ms per call at L={n} "
                        f"(limit {max_call_ms:g} ms); longer lengths skipped"
                    ),
                ),
            )

    def _next(self, queue: list[Task]) -> Task | None:
        with self.lock:
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.not_run += len(queue)
                queue.clear()
            return queue.pop(0) if queue else None

    def _serve(
        self,
        device: str,
        queue: list[Task],
        run_id: str,
        writer: store.ResultsWriter,
        total: int,
        max_call_ms: float | None,
    ) -> None:
        proc = WorkerProcess(device, self.opts.measure)
        try:
            proc.start()
        except WorkerStartError as exc:
            with self.lock:
                self.fatal = str(exc)
            return
        try:
            while (task := self._next(queue)) is not None:
                identity = base_row(task, run_id, device)
                row = dict(identity)
                with self.lock:
                    reason = self._skip_reason(task)
                if reason:
                    row.update(status="skipped", reason=reason, started_at=envinfo.now())
                else:
                    row.update(proc.submit(task, self.opts.timeout_s))
                    row.setdefault("started_at", envinfo.now())
                row = checked(row, identity)
                with self.lock:
                    self._note_failure(task, row, max_call_ms)
                    writer.append(row)
                    self.counts[row["status"]] += 1
                    self.on_row(row, sum(self.counts.values()), total)
        finally:
            proc.stop()

    def run(self, max_call_ms: float | None = None) -> dict[str, Any]:
        run_id, todo = self.prepare()
        queue = list(todo)
        started = time.monotonic()
        with store.ResultsWriter(self.out) as writer:
            threads = [
                threading.Thread(
                    target=self._serve,
                    daemon=True,
                    args=(d, queue, run_id, writer, len(todo), max_call_ms),
                )
                for d in self.opts.devices
            ]
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.5)
        env = envinfo.finish(store.read_env(self.out), self._device())
        store.write_json_atomic(self.out / store.ENV_FILE, env)
        if self.fatal is not None and not self.counts:
            raise WorkerStartError(self.fatal)
        return {
            "run_id": run_id,
            "rows": sum(self.counts.values()),
            "counts": dict(self.counts),
            "already_done": len(self.tasks) - len(todo),
            "not_run": self.not_run,
            "wall_s": time.monotonic() - started,
        }
