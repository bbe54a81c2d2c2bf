"""Measuring one (implementation, config) in a worker process: check support, verify against the
float64 reference at a reduced size, time, measure peak memory and energy, return the row fields.

Runs inside a spawned subprocess (bench.runner), so a CUDA fault or a hard crash costs one row.
Every failure becomes a status (oom, error, skipped) with its reason; nothing here prints. The
fields it returns are declared in bench.record; the runner checks each row against it.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import torch

from bench import envinfo, nvml
from bench.memory import measure_peak
from bench.record import Row
from bench.timing import Measurement, TimingOptions, measure
from operators import registry
from operators.config import Config
from operators.registry import OperatorSpec
from operators.verify import Verification, verify

VERIFY_MAX_BATCH = 2  # verification runs at a reduced size: the float64 reference is slow
VERIFY_MAX_SEQLEN = 2048
ENERGY_WINDOW_S = 0.15  # NVML's energy counter needs a window of >= 100 ms to be meaningful


@dataclass(frozen=True)
class MeasureOptions:
    timing: TimingOptions = field(default_factory=TimingOptions)
    verify: bool = True
    energy: bool = True
    telemetry: bool = False
    stages: bool = False


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "DefaultCPUAllocator: can't allocate" in text
    )


def one_line(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {first}"[:500]


def reduced(config: Config) -> Config:
    return config.replace(
        batch=min(config.batch, VERIFY_MAX_BATCH), seqlen=min(config.seqlen, VERIFY_MAX_SEQLEN)
    )


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
    """Measures tasks on one device, caching verification results per reduced config."""

    def __init__(self, device: torch.device, opts: MeasureOptions) -> None:
        self.device, self.opts = device, opts
        self._verified: dict[tuple[str, Config], Verification] = {}

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def check(self, spec: OperatorSpec, config: Config) -> Verification:
        key = (spec.name, reduced(config))
        if key not in self._verified:
            case = spec.build(key[1], self.device)
            try:
                self._verified[key] = verify(case)
            finally:
                del case
        return self._verified[key]

    def verification(self, spec: OperatorSpec, config: Config) -> Row:
        """The row's float64-check fields (none with verification off)."""
        if not self.opts.verify:
            return {}
        v = self.check(spec, config)
        return {
            "max_rel_err": v.max_rel_err,
            "verified": v.passed,
            "verify_batch": reduced(config).batch,
            "verify_seqlen": reduced(config).seqlen,
        }

    def measure(self, spec: OperatorSpec, config: Config) -> Row:
        fields: Row = self.verification(spec, config)
        case = spec.build(config, self.device)
        step = case.step
        sampler = self._telemetry()
        if sampler is not None:
            with sampler:
                m = measure(step, self.device, self.opts.timing)
            summary = sampler.summary()
            fields.update(telemetry=summary, throttled=summary.get("throttled"))
        else:
            m = measure(step, self.device, self.opts.timing)
        fields.update(self._latency(m, spec, config))
        peak = measure_peak(
            case.forward, case.backward if config.mode == "fwd_bwd" else None, self.device
        )
        fields.update(
            peak_mem_bytes=peak.total_bytes,
            peak_mem_fwd_bytes=peak.fwd_bytes,
            peak_mem_bwd_bytes=peak.bwd_bytes,
            memory_method=peak.method,
        )
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

    @staticmethod
    def _latency(m: Measurement, spec: OperatorSpec, config: Config) -> Row:
        seconds = m.median / 1e3
        flops, nbytes = spec.flops(config), spec.bytes(config)
        return {
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
        }

    def run(self, op: str, config: Config) -> Row:
        """The result fields for one task; failures become a status with a reason."""
        row: Row = {
            "started_at": envinfo.now(),
            "status": "ok",
            "reason": "",
            "cuda_graph": self.opts.timing.cuda_graph,
            "threads": torch.get_num_threads(),
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
        finally:
            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
        row.update(finished_at=envinfo.now(), wall_s=round(time.perf_counter() - t0, 3))
        return row


def serve(conn: Connection, answer: Callable[[Any], Any]) -> None:
    """Send answer(message) for each message received; return on None or when the parent is
    gone (EOF). Shared by this worker and bench.ab_worker's."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        conn.send(answer(message))


def main(conn: Connection, device: str, opts: MeasureOptions) -> None:
    """Worker process loop: receive (op, config dict), send back the row fields; exit on EOF."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    worker = Worker(dev, opts)
    conn.send({"ready": True, "pid": os.getpid()})
    serve(conn, lambda message: worker.run(message[0], Config(**message[1])))
