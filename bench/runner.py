"""The sweep loop: plan tasks, hand them to one worker subprocess per device, record every row.

Isolation: each worker is a spawned process; a dead worker is recorded as `error` and replaced,
a task past its timeout as `timeout` (the worker is killed and replaced). Durability: rows are
appended and fsynced as they finish, so an interrupted run resumes (`resume=True`) without losing
or duplicating rows. OOM (or a too-slow call) skips that implementation's longer lengths.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench import allocator, ceilings, envinfo, files, record, store, worker
from bench.defaults import ROW_TIMEOUT_S
from bench.errors import UsageError
from bench.shards import Task, plan  # noqa: F401 - plan: where callers have found it
from operators import registry
from operators.config import CONFIG_NAMES, Config

WORKER_START_TIMEOUT_S = 120.0  # importing torch (and CUDA init) in a fresh process
WORKER_EXIT_WAIT_S = 10.0  # a worker that announced its exit has only to return; then it is killed
# The ceilings take about a second on a GPU and a few on a loaded CPU; a worker that does not
# answer in this time is replaced and the run goes on without them.
CEILINGS_TIMEOUT_S = 300.0


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


# What must match for --resume to add rows to a run: the environment (bench.store.ENV_IDENTITY)
# and what was asked for (the sweep and the shard, recorded in env.json by `run`).
RESUME_FIELDS = ("sweep", "shard")


def resume_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """How the stored run's environment or sweep differs from this one's, in words."""
    found = []
    for name in store.ENV_IDENTITY:
        a, b = store.env_value(stored, name), store.env_value(current, name)
        if a != b:
            found.append(f"with {name} {a!r} (now {b!r})")
    for name in RESUME_FIELDS:
        a, b = stored.get(name), current.get(name)
        if isinstance(a, dict) and isinstance(b, dict):
            found += [
                f"for {name} {k} {a.get(k)!r} (now {b.get(k)!r})"
                for k in dict.fromkeys([*a, *b])
                if a.get(k) != b.get(k)
            ]
        elif a != b:
            found.append(f"for {name} {a!r} (now {b!r})")
    return found


def base_row(task: Task, run_id: str, device: str, **more: Any) -> record.Row:
    """What the runner knows of a row before it is measured: its identity and configuration
    (and `more`: its shard, job and worker)."""
    spec = registry.get(task.op)
    return record.new_row(
        run_id=run_id,
        op=spec.name,
        family=spec.family,
        impl_detail=spec.detail,
        device=torch.device(device).type,
        **task.config.as_dict(),
        **more,
    )


def checked(row: record.Row, identity: record.Row) -> record.Row:
    """`row`, or an error row in its place if `row` would not load (a field the record does
    not declare, or of the wrong type): one bad row must not make the whole file unreadable."""
    if isinstance(row.get("reason"), str) and len(row["reason"]) > record.MAX_TEXT:
        row["reason"] = row["reason"][: record.MAX_TEXT - 3] + "..."
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
        self.ready: dict[str, Any] = {}  # the worker's first message

    def entry(self, child: Any) -> tuple[Callable[..., None], tuple[Any, ...]]:
        """The process's target and its arguments (bench.ab_runner's sides start their own)."""
        return worker.main, (child, self.device, self.opts)

    def start(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        target, args = self.entry(child)
        self.proc = ctx.Process(
            target=target,
            args=args,
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
            self.ready = self.conn.recv()
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

    def ceilings(self, dtype: str) -> dict[str, Any]:
        """The device's ceilings in `dtype` (bench/ceilings.py), or {"dtype", "error"}."""
        try:
            self.conn.send(ceilings.Request(dtype))
            if self.conn.poll(CEILINGS_TIMEOUT_S):
                return self.conn.recv()
            self.stop()
            error = f"no answer within {CEILINGS_TIMEOUT_S:g} s (worker replaced)"
        except (EOFError, OSError, BrokenPipeError):
            self.proc.join(5)
            error = f"{self.death()} while measuring the ceilings; replaced"
            self.stop()
        return {"dtype": dtype, "error": error}

    def submit(self, task: Task, timeout_s: float) -> dict[str, Any]:
        """The row fields for `task`, or a timeout/error status; restarts the worker as needed."""
        return self.request((task.op, task.config.as_dict()), timeout_s)

    def request(self, message: Any, timeout_s: float) -> dict[str, Any]:
        """Send `message`, wait for the reply: a timeout or a dead worker becomes a status."""
        if self.proc is None or not self.proc.is_alive():
            try:
                self.start()
            except WorkerStartError as exc:
                return {"status": "error", "reason": str(exc)}
        pid = {"worker_pid": self.proc.pid}
        try:
            self.conn.send(message)
            if self.conn.poll(timeout_s):
                fields = {**self.conn.recv(), **pid}
                if fields.get("worker_restarted"):
                    self.retire()  # it exits after a CUDA error: the next task gets a new one
                return fields
            self.stop()
            return {
                "status": "timeout",
                "reason": f"no result within {timeout_s:g} s (worker killed and replaced)",
                **pid,
            }
        except (EOFError, OSError, BrokenPipeError):
            self.proc.join(5)
            reason = self.death()
            self.stop()
            return {"status": "error", "reason": f"{reason} while measuring; replaced", **pid}


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
        self.max_call_ms: float | None = None
        self.fatal: str | None = None  # set when a worker cannot start at all
        self.ceilings: dict[str, Any] | None = None  # env.json's, measured once a run
        self.ceilings_lock = threading.Lock()  # other devices' rows wait while they are measured
        self.probed: set[tuple[Any, ...]] = set()  # groups whose probe length was measured
        self.held: dict[int, tuple[Any, ...]] = {}  # several devices: the group each runs
        self.job = envinfo.scheduler_job()
        self.shard = f"{opts.shard[0]}/{opts.shard[1]}" if opts.shard else None
        self.write_error: files.OutputError | None = None  # a row could not be written
        self.display_failed = False

    def prepare(self) -> tuple[str, list[Task]]:
        """Start or reopen the run directory (its lock held); returns the run id and the tasks
        still to do. Resuming refuses a directory made in another environment or for another
        sweep, and one whose files do not load: rows of two setups never share a file."""
        env_path = self.out / store.ENV_FILE
        results = self.out / store.RESULTS_FILE
        current = envinfo.collect(self._device(), run_id=self._new_run_id(), **self.opts.env_extra)
        if self.opts.resume and (os.path.lexists(env_path) or os.path.lexists(results)):
            env, rows = self._resumable(current)
            done = store.finished_keys(rows)
            self.failures_of(rows)
            env.setdefault("resumes", []).append(
                {"at": envinfo.now(), "command": current["command"], "job": self.job or None}
            )
        elif os.path.lexists(results) and os.path.getsize(results):
            raise UsageError(
                f"--out {self.out} already holds results; pass --resume or choose a new --out"
            )
        else:
            env, done = current, set()
        store.write_json_atomic(env_path, env)
        self.ceilings = env.get("ceilings")
        todo = [t for t in self.tasks if record.row_key(t.key_row()) not in done]
        return env["run_id"], todo

    def failures_of(self, rows: list[record.Row]) -> None:
        """Resuming: the OOM, timeout and slow-call skips of the rows already measured, so the
        remaining lengths of those groups are skipped as they would have been."""
        for row in sorted(rows, key=lambda r: r["seqlen"]):
            config = Config(**{name: row[name] for name in CONFIG_NAMES})
            self._note_failure(Task(row["op"], config), row, self.max_call_ms)

    def _resumable(self, current: dict[str, Any]) -> tuple[dict[str, Any], list[record.Row]]:
        """The stored environment and the rows already measured, if this run may continue them."""
        try:
            env = store.read_env(self.out)
            rows = store.read_rows(self.out) if (self.out / store.RESULTS_FILE).exists() else []
        except store.ResultsError as exc:
            raise UsageError(f"--resume: {exc}") from None
        differences = resume_differences(env, current)
        if differences:
            raise UsageError(
                f"--resume: {self.out} was made {'; '.join(differences)}; resume it with its "
                f"own command ({env.get('command')}) or choose a new --out"
            )
        return env, rows

    def _device(self) -> torch.device:
        return torch.device(self.opts.devices[0])

    @staticmethod
    def _new_run_id() -> str:
        return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"

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

    def _measure_ceilings(self, proc: WorkerProcess, queue: list[Task]) -> None:
        """Once a run, before its first row: the first worker measures the ceilings in the
        sweep's dtype, stored in env.json (kept on resume unless they failed)."""
        with self.ceilings_lock:
            dtype = queue[0].config.dtype if queue else None
            if dtype is None or ceilings.usable(self.ceilings, dtype):
                return
            self.ceilings = proc.ceilings(dtype)
            with self.lock:
                env = store.read_env(self.out)
                env["ceilings"] = self.ceilings
                store.write_json_atomic(self.out / store.ENV_FILE, env)

    def _next(self, queue: list[Task], slot: int) -> Task | None:
        """The next task for the worker in `slot`. With several devices, a worker keeps to one
        group until its lengths are done and takes no group another worker holds, so a group's
        lengths run in order on one worker and its skips see every shorter length. A worker
        that finds only groups held by others is done: those workers finish them."""
        with self.lock:
            if self.write_error is not None:
                return None
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.not_run += len(queue)
                queue.clear()
            if len(self.opts.devices) == 1:
                return queue.pop(0) if queue else None
            mine = self.held.get(slot)
            others = {g for s, g in self.held.items() if s != slot}
            pick = next((t for t in queue if t.group() == mine), None) or next(
                (t for t in queue if t.group() not in others), None
            )
            if pick is None:
                self.held.pop(slot, None)
                return None
            self.held[slot] = pick.group()
            queue.remove(pick)
            return pick

    def _probe(self, task: Task, proc: WorkerProcess) -> None:
        """A group whose shorter lengths run in another shard: measure the length before this
        piece (not recorded), so its OOM, timeout or slow call skips this piece as it would
        have in one run."""
        group = task.group()
        with self.lock:
            done = group in self.probed or group in self.failed_at
            if task.probe_seqlen is None or done or not self.opts.oom_skip:
                return
            self.probed.add(group)
        before = Task(task.op, task.config.replace(seqlen=task.probe_seqlen))
        fields = proc.submit(before, self.opts.timeout_s)
        with self.lock:
            self._note_failure(before, fields, self.max_call_ms)

    def _serve(
        self, slot: int, queue: list[Task], run_id: str, writer: store.ResultsWriter, total: int
    ) -> None:
        device = self.opts.devices[slot]
        proc = WorkerProcess(device, self.opts.measure)
        try:
            proc.start()
        except WorkerStartError as exc:
            with self.lock:
                self.fatal = str(exc)
            return
        self._measure_ceilings(proc, queue)
        where = {"shard": self.shard, "job_id": self.job.get("job_id"), "worker_device": device}
        try:
            while (task := self._next(queue, slot)) is not None:
                identity = base_row(task, run_id, device, **where)
                row = dict(identity)
                self._probe(task, proc)
                with self.lock:
                    reason = self._skip_reason(task)
                if reason:
                    row.update(status="skipped", reason=reason, started_at=envinfo.now())
                else:
                    started = envinfo.now()
                    row.update(proc.submit(task, self.opts.timeout_s))
                    # A timeout or a dead worker sends no start time; the identity row holds
                    # every field, None included, so only an explicit check fills it in.
                    if row["started_at"] is None:
                        row["started_at"] = started
                row["roofline_fraction"] = ceilings.fraction(row, self.ceilings)
                row = checked(row, identity)
                with self.lock:
                    self._note_failure(task, row, self.max_call_ms)
                    try:
                        writer.append(row)
                    except files.OutputError as exc:
                        self.write_error = self.write_error or exc
                        return
                    self.counts[row["status"]] += 1
                    self._show(row, sum(self.counts.values()), total)
        finally:
            proc.stop()

    def _show(self, row: record.Row, done: int, total: int) -> None:
        """Tell the display about a row; a display that fails (a closed terminal, text it
        cannot print) is said once and never stops the sweep."""
        try:
            self.on_row(row, done, total)
        except Exception as exc:
            if not self.display_failed:
                self.display_failed = True
                with contextlib.suppress(Exception):
                    print(
                        f"hyena-bench run: warning: the progress display failed "
                        f"({type(exc).__name__}); the sweep goes on",
                        file=sys.stderr,
                    )

    def run(self, max_call_ms: float | None = None) -> dict[str, Any]:
        """Run the sweep with the directory locked; UsageError if another run holds it or it
        cannot be resumed, OutputError if rows cannot be written (those written are kept)."""
        self.max_call_ms = max_call_ms
        created = not self.out.exists()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            lock = files.RunLock(self.out)
            lock.acquire()
        except files.LockedError as exc:
            raise UsageError(f"--out {exc}; wait for it or choose another --out") from None
        except OSError as exc:
            self._remove_if_empty(created)
            raise files.output_error(exc, self.out) from None
        try:
            return self._run_locked()
        finally:
            lock.release()
            self._remove_if_empty(created)

    def _remove_if_empty(self, created: bool) -> None:
        """A run directory this run created and left empty (it failed before writing) goes."""
        if created:
            with contextlib.suppress(OSError):
                self.out.rmdir()

    def _run_locked(self) -> dict[str, Any]:
        run_id, todo = self.prepare()
        queue = list(todo)
        started = time.monotonic()
        with store.ResultsWriter(self.out) as writer:
            threads = [
                threading.Thread(
                    target=self._serve,
                    daemon=True,
                    args=(slot, queue, run_id, writer, len(todo)),
                )
                for slot in range(len(self.opts.devices))
            ]
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.5)
        if self.write_error is not None:
            written = sum(self.counts.values())
            raise files.OutputError(
                f"{self.write_error}; the {written} rows written before it are kept: rerun with "
                "--resume when there is room"
            )
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
