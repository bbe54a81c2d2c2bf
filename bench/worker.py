"""Measuring one (implementation, config) in a worker process: check support, verify against the
float64 reference at the timed shape (bench.verification), time, measure peak memory and energy,
and note how far the row can be trusted (host load, page faults); return the row fields.

Runs inside a spawned subprocess (bench.runner), so a CUDA fault or a hard crash costs one row.
Every failure becomes a status (oom, error, skipped) with its reason; nothing here prints. After a
CUDA error that is not an OOM the worker exits once the row is sent (a sticky CUDA error would
poison every later row); the runner starts a fresh one. The fields it returns are declared in
bench.record; the runner checks each row against it.
"""

from __future__ import annotations

import gc
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import torch

from bench import ceilings, envinfo, nvml
from bench.memory import is_oom, measure_peak
from bench.record import Row
from bench.timing import Measurement, TimingOptions, l2_flush_buffer, measure
from bench.verification import DEFAULT_BUDGET_S, Checker
from operators import registry
from operators.case import Case
from operators.config import Config
from operators.registry import OperatorSpec

ENERGY_WINDOW_S = 0.15  # NVML's energy counter needs a window of >= 100 ms to be meaningful
# Text of errors from the CUDA runtime, driver and libraries (not OOM): after one of these the
# context may be unusable for every later call, so the worker is replaced.
CUDA_ERROR_MARKERS = (
    "CUDA error",
    "CUDA driver error",
    "CUBLAS_STATUS",
    "CUDNN_STATUS",
    "cuDNN error",
    "cuFFT error",
    "CUFFT_",
    "device-side assert",
    "illegal memory access",
    "Triton Error [CUDA]",
    "AcceleratorError",
)


@dataclass(frozen=True)
class MeasureOptions:
    timing: TimingOptions = field(default_factory=TimingOptions)
    verify: bool = True
    energy: bool = True
    telemetry: bool = False
    stages: bool = False
    verify_budget_s: float = DEFAULT_BUDGET_S  # bench.verification: the check's time budget


def one_line(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {first}"[:500]


def poisons_context(exc: BaseException, device: torch.device) -> bool:
    """A CUDA error that is not an OOM (by its text, or because the device no longer answers a
    tiny call afterwards): the worker must not measure another row in this process."""
    if is_oom(exc):
        return False
    text = f"{exc.__class__.__name__}: {exc}"
    if any(marker in text for marker in CUDA_ERROR_MARKERS):
        return True
    if device.type != "cuda":
        return False
    try:
        torch.cuda.synchronize(device)
        torch.ones(1, device=device).add_(1).item()
    except Exception:
        return True
    return False


def load_1m() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def energy_per_call(
    fn: Callable[[], None], device: torch.device, sync: Callable[[], None]
) -> float | None:
    """Joules per call from NVML's total-energy counter over a window of >= ENERGY_WINDOW_S."""
    index = device.index or 0
    start_mj = nvml.energy_mj(index)
    if start_mj is None:
        return None
    sync()
    start_mj, t0, calls = nvml.energy_mj(index), time.perf_counter(), 0
    while time.perf_counter() - t0 < ENERGY_WINDOW_S or calls < 1:
        fn()
        calls += 1
        if calls % 4 == 0:
            sync()
    sync()
    end_mj = nvml.energy_mj(index)
    return (end_mj - start_mj) / 1000 / calls if end_mj is not None else None


class Worker:
    """Measures tasks on one device; the checker remembers the float64 checks made."""

    def __init__(self, device: torch.device, opts: MeasureOptions) -> None:
        self.device, self.opts = device, opts
        self.checker = Checker(device, opts.verify_budget_s)
        self.exit_after_row = False  # set after a CUDA error: the process must be replaced
        # The L2-flush buffer lives as long as the worker, allocated before any case: it can
        # never be the allocation that runs out of memory inside an operator's row.
        self.flush = (
            l2_flush_buffer(device) if device.type == "cuda" and opts.timing.flush_l2 else None
        )

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def verification(self, spec: OperatorSpec, config: Config) -> Row:
        """The row's float64-check fields (bench.verification); also bench.ab_worker's."""
        if not self.opts.verify:
            return {"verified": None, "verify_reason": "not checked: run with --no-verify"}
        return self.checker.check(spec, config).fields()

    def measure(self, spec: OperatorSpec, config: Config) -> Row:
        fields: Row = self.verification(spec, config)
        case = spec.build(config, self.device)
        step = case.step
        sampler = self._telemetry()
        if sampler is not None:
            with sampler:
                m = measure(step, self.device, self.opts.timing, self.flush)
            summary = sampler.summary()
            fields.update(telemetry=summary, throttled=summary.get("throttled"))
        else:
            m = measure(step, self.device, self.opts.timing, self.flush)
        fields.update(self._latency(m, spec, config))
        fields.update(self.peak_fields(case))
        if self.opts.energy and self.device.type == "cuda":
            fields["energy_j"] = energy_per_call(step, self.device, self.sync)
        del case, step  # free the inputs before the stage profile builds its own case
        if self.opts.stages:
            fields.update(self._stages(spec, config))
        return fields

    def _telemetry(self) -> Any:
        if not (self.opts.telemetry and self.device.type == "cuda"):
            return None
        from bench.telemetry import TelemetrySampler

        return TelemetrySampler(self.device.index or 0)

    def _stages(self, spec: OperatorSpec, config: Config) -> Row:
        """A secondary measurement: its failure is noted in the row, not turned into an error."""
        from bench.stages import stage_times

        try:
            return {"stage_ms": stage_times(spec, config, self.device)}
        except Exception as exc:
            return {"stage_ms": None, "stage_error": one_line(exc)}

    def peak_fields(self, case: Case) -> Row:
        """Peak memory of the case's forward (and backward in fwd_bwd mode) as row fields."""
        peak = measure_peak(
            case.forward,
            case.backward if case.config.mode == "fwd_bwd" else None,
            self.device,
            before=case.clear_grads,
        )
        return {
            "peak_mem_bytes": peak.total_bytes,
            "peak_mem_fwd_bytes": peak.fwd_bytes,
            "peak_mem_bwd_bytes": peak.bwd_bytes,
            "memory_method": peak.method,
        }

    @staticmethod
    def _latency(m: Measurement, spec: OperatorSpec, config: Config) -> Row:
        seconds = m.median / 1e3
        flops, nbytes = spec.flops(config), spec.bytes(config)
        issued = spec.issued_flops(config) if spec.issued_flops is not None else None
        return {
            "flops_issued": issued,
            "tflops_issued": issued / seconds / 1e12 if issued is not None else None,
            "reps": m.reps,
            "latency_ms_median": m.median,
            "latency_ms_p10": m.p10,
            "latency_ms_p90": m.p90,
            "samples_ms": [round(s, 6) for s in m.samples_ms],
            "flops": flops,
            "tflops": flops / seconds / 1e12,
            "bytes": nbytes,
            "gbps": nbytes / seconds / 1e9,
            "tokens_per_s": config.batch * config.seqlen / seconds,
            "timer": m.timer,
            "noisy": m.noisy,
            "minor_faults_per_call": m.minor_faults_per_call,
        }

    def run(self, op: str, config: Config) -> Row:
        """The result fields for one task; failures become a status with a reason."""
        row: Row = {
            "started_at": envinfo.now(),
            "status": "ok",
            "reason": "",
            "cuda_graph": self.opts.timing.cuda_graph,
            "threads": torch.get_num_threads(),
            "load_1m_start": load_1m(),
        }
        t0 = time.perf_counter()
        try:
            spec = registry.get(op)
            why = spec.supports(config, self.device)
            if why:
                row.update(status="skipped", reason=why)
            else:
                row.update(self.measure(spec, config))
        except Exception as exc:
            row.update(status="oom" if is_oom(exc) else "error", reason=one_line(exc))
            if poisons_context(exc, self.device):
                self.exit_after_row = True
                row["worker_restarted"] = True
        finally:
            gc.collect()
            if self.device.type == "cuda" and not self.exit_after_row:
                torch.cuda.empty_cache()
        row.update(
            finished_at=envinfo.now(),
            wall_s=round(time.perf_counter() - t0, 3),
            load_1m_end=load_1m(),
        )
        return row


def serve(
    conn: Connection, answer: Callable[[Any], Any], done: Callable[[], bool] = lambda: False
) -> None:
    """Send answer(message) for each message received; return on None, when the parent is gone
    (EOF), or once done() says so after an answer. Shared by this worker and bench.ab_worker's."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        conn.send(answer(message))
        if done():
            return


def main(conn: Connection, device: str, opts: MeasureOptions) -> None:
    """Worker process loop: receive (op, config dict), send back the row fields, or a
    ceilings.Request, send back the device's ceilings; exit on EOF."""
    warnings.simplefilter("ignore", registry.PluginWarning)  # the runner has said it once
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    worker = Worker(dev, opts)
    conn.send({"ready": True, "pid": os.getpid()})

    def answer(message: Any) -> Any:
        if isinstance(message, ceilings.Request):
            return ceilings.measure_ceilings(dev, message.dtype, opts.timing)
        return worker.run(message[0], Config(**message[1]))

    # After a CUDA error that may have poisoned this process, it ends once the row is sent; the
    # runner starts a new one.
    serve(conn, answer, lambda: worker.exit_after_row)
