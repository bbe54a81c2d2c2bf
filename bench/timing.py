"""Timers. CUDA: warm-up, L2 flush before every repetition (outside the timed region), CUDA events
around each call, optional CUDA-graph replay. CPU: host perf_counter around each call.

Both repeat until a target time AND a minimum count are reached and keep every sample; the
statistics are derived from the samples (`Measurement`), never stored instead of them. Both also
count the process's minor page faults over the timed calls: on a CPU a call that faults in fresh
pages every time (large tensors the allocator hands back to the OS between calls) measures the
kernel's page-zeroing as much as the operator.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from bench.defaults import MAX_REPS, MIN_REPS, NOISY_SPREAD, TARGET_S, WARMUP_CALLS, WARMUP_S

L2_FLUSH_FACTOR = 2  # the flush buffer is at least twice the L2, so nothing of the last call stays
L2_FLUSH_MIN_BYTES = 256 << 20  # triton.testing.do_bench's flush size, when the L2 is unknown


@dataclass(frozen=True)
class Measurement:
    """Raw per-call samples (ms) and the method that produced them."""

    samples_ms: tuple[float, ...]
    timer: str
    minor_faults_per_call: float | None = None  # getrusage ru_minflt over the timed calls

    @property
    def reps(self) -> int:
        return len(self.samples_ms)

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    def quantile(self, q: float) -> float:
        s = sorted(self.samples_ms)
        if len(s) == 1:
            return s[0]
        pos = q * (len(s) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo)

    @property
    def p10(self) -> float:
        return self.quantile(0.10)

    @property
    def p90(self) -> float:
        return self.quantile(0.90)

    @property
    def spread(self) -> float:
        return self.p90 / self.p10 if self.p10 > 0 else float("inf")

    @property
    def noisy(self) -> bool:
        return self.spread > NOISY_SPREAD


@dataclass(frozen=True)
class TimingOptions:
    target_s: float = TARGET_S
    min_reps: int = MIN_REPS
    max_reps: int = MAX_REPS
    warmup_s: float = WARMUP_S
    cuda_graph: bool = False
    flush_l2: bool = True


def _reps_for(estimate_s: float, opts: TimingOptions) -> int:
    wanted = int(opts.target_s / max(estimate_s, 1e-9)) + 1
    return max(opts.min_reps, min(opts.max_reps, wanted))


def warm_up(fn: Callable[[], object], opts: TimingOptions, sync: Callable[[], None]) -> float:
    """Call fn until WARMUP_CALLS calls and warmup_s have passed; returns the last call's time."""
    start = time.perf_counter()
    calls, last = 0, 0.0
    while calls < WARMUP_CALLS or time.perf_counter() - start < opts.warmup_s:
        t0 = time.perf_counter()
        fn()
        sync()
        last = time.perf_counter() - t0
        calls += 1
    return last


def cpu_call_ms(fn: Callable[[], object]) -> float:
    """One call of fn, timed on the host clock, in ms."""
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def minor_faults() -> int:
    """Minor page faults of this process so far (pages mapped in without disk I/O)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_cpu(fn: Callable[[], object], opts: TimingOptions = TimingOptions()) -> Measurement:
    """Host timer: perf_counter around each call, repeated to target_s and min_reps."""
    warm_up(fn, opts, lambda: None)
    samples: list[float] = []
    faults = minor_faults()
    start = time.perf_counter()
    while len(samples) < opts.min_reps or (
        time.perf_counter() - start < opts.target_s and len(samples) < opts.max_reps
    ):
        samples.append(cpu_call_ms(fn))
    faults = minor_faults() - faults
    timer = (
        f"host perf_counter per call, {torch.get_num_threads()} torch threads, "
        f">= {opts.min_reps} reps and >= {opts.target_s:g} s after >= {WARMUP_CALLS} "
        f"warm-up calls"
    )
    return Measurement(tuple(samples), timer, faults / len(samples))


def l2_flush_buffer(device: torch.device) -> torch.Tensor:
    l2 = getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0) or 0
    size = max(L2_FLUSH_FACTOR * l2, L2_FLUSH_MIN_BYTES)
    return torch.empty(size, dtype=torch.int8, device=device)


def capture_graph(fn: Callable[[], object], device: torch.device) -> Callable[[], None]:
    """Capture fn (already warmed up) into a CUDA graph; returns its replay."""
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        fn()  # one eager call on the side stream, as torch.cuda.graphs recommends
    torch.cuda.current_stream(device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def cuda_calls_ms(
    call: Callable[[], object], reps: int, flush: torch.Tensor | None
) -> tuple[float, ...]:
    """`reps` calls, each between two CUDA events, the L2 flushed before each (outside the
    events); one synchronise at the end. Milliseconds per call."""
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for start, end in zip(starts, ends, strict=True):
        if flush is not None:
            flush.zero_()
        start.record()
        call()
        end.record()
    torch.cuda.synchronize()
    return tuple(s.elapsed_time(e) for s, e in zip(starts, ends, strict=True))


def time_cuda(
    fn: Callable[[], object],
    device: torch.device,
    opts: TimingOptions = TimingOptions(),
    flush: torch.Tensor | None = None,
) -> Measurement:
    """CUDA events around each call (or graph replay), L2 flushed before each, outside timing.

    The flush buffer (`flush`, e.g. held by the worker for its lifetime, or else allocated here)
    exists before the first warm-up call: allocated after it, it could be the allocation that
    runs out of memory, and the OOM would be blamed on the operator (and skip its longer
    lengths)."""
    sync = torch.cuda.synchronize
    if opts.flush_l2 and flush is None:
        flush = l2_flush_buffer(device)
    elif not opts.flush_l2:
        flush = None
    estimate = warm_up(fn, opts, sync)
    call = capture_graph(fn, device) if opts.cuda_graph else fn
    if opts.cuda_graph:
        estimate = warm_up(call, opts, sync)
    reps = _reps_for(estimate, opts)
    faults = minor_faults()
    samples = cuda_calls_ms(call, reps, flush)
    faults = minor_faults() - faults
    timer = (
        f"CUDA events per call{' (CUDA graph replay)' if opts.cuda_graph else ''}, "
        f"L2 flushed before each ({'on' if flush is not None else 'off'}), "
        f"{reps} reps sized to {opts.target_s:g} s (>= {opts.min_reps}) after >= "
        f"{WARMUP_CALLS} warm-up calls and {opts.warmup_s:g} s"
    )
    return Measurement(samples, timer, faults / reps)


def measure(
    fn: Callable[[], object],
    device: torch.device,
    opts: TimingOptions = TimingOptions(),
    flush: torch.Tensor | None = None,
) -> Measurement:
    """Time `fn` on `device`; `flush` is the L2-flush buffer to use on CUDA (see time_cuda)."""
    if device.type == "cuda":
        return time_cuda(fn, device, opts, flush)
    if opts.cuda_graph:
        raise ValueError("CUDA graphs need a CUDA device")
    return time_cpu(fn, opts)
