"""One side of `hyena-bench ab`, in its own worker process: the measuring code (bench, the timer)
is this checkout's, the measured code (`operators`) is the side's checkout. The parent
(bench.ab_runner) asks it to prepare a row, then to time small blocks of calls, alternating with
the other side's worker, then for the row's fields.

Nothing at the top of this module imports `operators`: the spawned process first puts the side's
checkout in front of the import path (`isolate`), so that `operators`, and every plugin that
imports it, comes from there, while `bench` stays the harness's.
"""

from __future__ import annotations

import os
import statistics
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HARNESS_ROOT = Path(__file__).resolve().parent.parent
# Calls timed after the warm-up to size the blocks: their median, since one call may be hit by
# another process (the warm-up's last call alone once sized a 1.8 ms row as a 15 ms one).
ESTIMATE_CALLS = 5


def isolate(side_root: str) -> str:
    """Import `operators` from `side_root` in this process; returns where it came from.

    The harness's own root leaves the path (its `bench` is imported already and stays), the
    side's root goes first, and any `operators` module loaded before (the spawn start-up imports
    the parent's main module, which may import operators.config) is forgotten."""
    side = Path(side_root).resolve()
    keep = [p for p in sys.path if Path(p or ".").resolve() != HARNESS_ROOT]
    sys.path[:] = [str(side), *keep]
    for name in [m for m in sys.modules if m == "operators" or m.startswith("operators.")]:
        del sys.modules[name]
    import operators

    origin = Path(operators.__file__).resolve().parent.parent
    if origin != side:
        raise ImportError(f"operators imported from {origin}, not from {side}")
    return str(origin)


def block_worker(device: Any, timing: dict[str, Any], verify: bool) -> Any:
    """A bench.worker.Worker (imported only now, after `isolate`) that prepares a case, times it
    in blocks and keeps the samples until the row's fields are asked for."""
    import torch

    from bench import envinfo, worker
    from bench.memory import is_oom
    from bench.timing import (
        Measurement,
        TimingOptions,
        cpu_call_ms,
        cuda_calls_ms,
        minor_faults,
        warm_up,
    )

    class BlockWorker(worker.Worker):
        def measure(self, spec: Any, config: Any) -> dict[str, Any]:
            """`prepare`: verify, build and warm up; the first calls compile and autotune."""
            fields = {**self.verification(spec, config), "family": spec.family}
            fields["impl_detail"] = spec.detail
            self.spec, self.config = spec, config
            self.case = spec.build(config, self.device)
            self.samples, self.blocks, self.faults = [], [], 0
            warm_up(self.case.step, self.opts.timing, self.sync)
            fields["estimate_ms"] = statistics.median(self.calls(ESTIMATE_CALLS))
            return fields

        def calls(self, n: int) -> list[float]:
            if self.device.type == "cuda":
                return list(cuda_calls_ms(self.case.step, n, self.flush))
            return [cpu_call_ms(self.case.step) for _ in range(n)]

        def block(self, calls: int) -> dict[str, Any]:
            faults = minor_faults()
            try:
                times = self.calls(calls)
            except Exception as exc:
                self.release()
                status = "oom" if is_oom(exc) else "error"
                reply = {"status": status, "reason": worker.one_line(exc)}
                if worker.poisons_context(exc, self.device):
                    self.exit_after_row = True  # as run's worker: this process measures no more
                    reply["worker_restarted"] = True
                return reply
            self.faults += minor_faults() - faults
            self.samples += times
            self.blocks.append(calls)
            return {"status": "ok", "samples_ms": times}

        def finish(self, timer: str) -> dict[str, Any]:
            """The row's measured fields from every block's samples, then peak memory."""
            m = Measurement(tuple(self.samples), timer, self.faults / max(1, len(self.samples)))
            fields = {**self._latency(m, self.spec, self.config), "block_calls": self.blocks}
            try:
                fields.update(self.peak_fields(self.case))
            finally:
                self.release()
            fields.update(finished_at=envinfo.now())
            return fields

        def release(self) -> None:
            self.case = None
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    opts = worker.MeasureOptions(timing=TimingOptions(**timing), verify=verify, energy=False)
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)  # events and synchronise act on the current device
    # Both sides' processes allocate alike: they start with the same glibc malloc setting
    # (bench.allocator, applied by bench.runner.WorkerProcess.start).
    return BlockWorker(dev, opts)


def main(conn: Connection, device: str, side_root: str, timing: dict, verify: bool) -> None:
    """Worker loop. Messages: ("prepare", op, config dict) -> row fields (with estimate_ms);
    ("block", calls) -> {"status", "samples_ms"}; ("finish", timer) -> row fields; None or EOF
    ends it. The ready message says where `operators` came from, or why it could not load."""
    try:
        origin = isolate(side_root)
        from operators.config import Config

        work = block_worker(device, timing, verify)
    except Exception as exc:  # a side whose operators package cannot serve this harness
        conn.send({"ready": False, "reason": f"{exc.__class__.__name__}: {exc}"[:500]})
        return
    conn.send({"ready": True, "pid": os.getpid(), "operators": origin})
    from bench.worker import serve

    def answer(message: tuple[Any, ...]) -> Any:
        kind, *args = message
        if kind == "prepare":
            op, config = args
            return work.run(op, Config(**config))
        return work.block(*args) if kind == "block" else work.finish(*args)

    # After a CUDA error that may have poisoned this process (in `prepare` or a block), it ends
    # once the reply is sent and bench.runner.WorkerProcess starts a new one for the next task.
    serve(conn, answer, lambda: work.exit_after_row)
