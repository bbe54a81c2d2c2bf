"""Timers: statistics from raw samples, repetition rules, and (on a GPU) agreement with triton."""

import statistics
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bench import timing
from bench.defaults import NOISY_SPREAD, WARMUP_CALLS
from bench.timing import Measurement, TimingOptions, _reps_for, measure, time_cpu, warm_up
from bench.worker import MeasureOptions, Worker
from operators.case import Case
from operators.config import Config
from operators.registry import OperatorSpec


def test_statistics_are_derived_from_the_samples():
    m = Measurement(tuple(float(x) for x in range(1, 12)), "test")
    assert m.reps == 11 and m.median == 6.0
    assert m.p10 == pytest.approx(2.0) and m.p90 == pytest.approx(10.0)
    assert m.spread == pytest.approx(5.0) and m.noisy


def test_cpu_timer_reaches_min_reps_and_measures_real_time():
    opts = TimingOptions(target_s=0.05, min_reps=7)
    m = time_cpu(lambda: time.sleep(0.002), opts)
    assert m.reps >= 7
    assert 1.9 <= m.median <= 50, "a 2 ms sleep takes at least 2 ms"
    assert "perf_counter" in m.timer


def test_cpu_timer_counts_the_page_faults_of_each_call():
    """A fresh 64 MiB tensor per call is mmapped and unmapped by glibc (above its largest mmap
    threshold, 32 MiB): every call faults its 16,384 pages in again. Reusing one tensor does not."""
    opts = TimingOptions(target_s=0.02, min_reps=5)
    fresh = time_cpu(lambda: torch.ones(16 << 20), opts)
    kept = torch.empty(16 << 20)
    reused = time_cpu(lambda: kept.fill_(1.0), opts)
    assert fresh.minor_faults_per_call > 8000
    assert reused.minor_faults_per_call < 100


def test_cuda_graph_refused_on_cpu():
    with pytest.raises(ValueError, match="CUDA"):
        measure(lambda: None, torch.device("cpu"), TimingOptions(cuda_graph=True))


@pytest.mark.gpu
def test_the_l2_flush_buffer_given_is_used_not_allocated_again():
    """The worker allocates the flush buffer once, before any case: timing allocates nothing."""
    from bench.timing import l2_flush_buffer

    device = torch.device("cuda")
    flush = l2_flush_buffer(device)
    a = torch.randn(256, 256, device=device)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    m = measure(lambda: a.add_(0), device, TimingOptions(target_s=0.05), flush)
    assert m.reps >= 10 and m.minor_faults_per_call is not None
    assert torch.cuda.max_memory_allocated(device) - before < flush.numel() // 2


@pytest.mark.gpu
@pytest.mark.parametrize("cuda_graph", [False, True])
def test_cuda_median_agrees_with_triton_do_bench(cuda_graph):
    import triton.testing

    a = torch.randn(4096, 4096, device="cuda", dtype=torch.float16)

    def fn():
        return a @ a

    ours = measure(fn, torch.device("cuda"), TimingOptions(target_s=0.3, cuda_graph=cuda_graph))
    theirs = triton.testing.do_bench(fn, warmup=50, rep=300, return_mode="median")
    assert abs(ours.median / theirs - 1) < 0.05, (ours.median, theirs)


# --- the timers' loops on a planted clock (issue 19) ---------------------------------------------
class PlantedClock:
    """Stands in for `time` in bench.timing: only the timed function moves it, by planted
    durations, so loop counts and samples are exact (binary fractions keep the sums exact)."""

    def __init__(self, durations: list[float], start: float = 100.0) -> None:
        self.now, self.durations, self.calls = start, durations, 0

    def perf_counter(self) -> float:
        return self.now

    def call(self) -> None:
        self.now += self.durations[min(self.calls, len(self.durations) - 1)]
        self.calls += 1


@pytest.fixture
def clock(monkeypatch):
    def make(durations: list[float]) -> PlantedClock:
        planted = PlantedClock(durations)
        monkeypatch.setattr(timing, "time", planted)
        return planted

    return make


def test_warm_up_runs_the_minimum_calls_then_until_its_time(clock):
    c = clock([0.125])
    assert warm_up(c.call, TimingOptions(warmup_s=0.0), lambda: None) == 0.125
    assert c.calls == WARMUP_CALLS
    c = clock([0.125])
    warm_up(c.call, TimingOptions(warmup_s=0.75), lambda: None)
    assert c.calls == 6, "0.75 s of 0.125 s calls; the 6th call reaches it exactly"
    c = clock([0.25, 0.5, 0.125])
    assert warm_up(c.call, TimingOptions(warmup_s=0.0), lambda: None) == 0.125, "the last call"


def test_cpu_samples_are_the_calls_in_milliseconds(clock):
    c = clock([0.25] * WARMUP_CALLS + [0.125, 0.5, 0.25, 0.0625])
    m = time_cpu(c.call, TimingOptions(target_s=0.0, min_reps=4, warmup_s=0.0))
    assert m.samples_ms == (125.0, 500.0, 250.0, 62.5)
    assert c.calls == WARMUP_CALLS + 4


def test_cpu_minor_faults_are_counted_over_the_timed_calls_and_shared_per_call(clock, monkeypatch):
    """The fault count is read before the first timed call and after the last (the warm-up's
    faults are not in it) and divided by the number of timed calls."""
    c = clock([0.125])
    faults = iter([1000, 1012])  # before and after the 4 timed calls
    monkeypatch.setattr(timing, "minor_faults", lambda: next(faults))
    m = time_cpu(c.call, TimingOptions(target_s=0.0, min_reps=4, warmup_s=0.0))
    assert m.reps == 4 and m.minor_faults_per_call == 3.0


@pytest.mark.parametrize(
    ("target_s", "min_reps", "max_reps", "reps"),
    [
        (0.0, 5, 100, 5),  # the minimum count alone
        (1.0, 1, 100, 8),  # 1 s of 0.125 s calls: the 8th call reaches it exactly
        (10.0, 1, 7, 7),  # the maximum count stops a long target
        (10.0, 9, 7, 9),  # the minimum count wins over the maximum
    ],
)
def test_cpu_timer_stops_at_target_time_and_counts(clock, target_s, min_reps, max_reps, reps):
    c = clock([0.125])
    opts = TimingOptions(target_s=target_s, min_reps=min_reps, max_reps=max_reps, warmup_s=0.0)
    assert time_cpu(c.call, opts).reps == reps


@pytest.mark.parametrize(
    ("estimate_s", "reps"),
    [(0.01, 51), (0.5, 10), (1e-6, 2000), (0.0, 2000), (0.04, 13)],
)
def test_cuda_rep_count_is_sized_to_the_target(estimate_s, reps):
    opts = TimingOptions(target_s=0.5, min_reps=10, max_reps=2000)
    assert _reps_for(estimate_s, opts) == reps


def test_measure_dispatches_by_device(clock, monkeypatch):
    seen = []
    monkeypatch.setattr(timing, "time_cuda", lambda *args: seen.append(args) or "cuda timer")
    opts = TimingOptions(min_reps=3)
    flush = torch.empty(0)
    assert measure(print, torch.device("cuda"), opts, flush) == "cuda timer"
    assert seen == [(print, torch.device("cuda"), opts, flush)]
    c = clock([0.125])
    m = measure(c.call, torch.device("cpu"), TimingOptions(target_s=0.0, min_reps=3))
    assert m.samples_ms == (125.0,) * 3
    with pytest.raises(ValueError, match=r"^CUDA graphs need a CUDA device$"):
        measure(c.call, torch.device("cpu"), TimingOptions(cuda_graph=True))


@pytest.mark.parametrize(
    ("l2_bytes", "flush_bytes"), [(200 << 20, 400 << 20), (50 << 20, 256 << 20), (None, 256 << 20)]
)
def test_l2_flush_buffer_is_twice_the_l2_and_at_least_256_mib(monkeypatch, l2_bytes, flush_bytes):
    props = SimpleNamespace() if l2_bytes is None else SimpleNamespace(L2_cache_size=l2_bytes)
    asked = []
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: asked.append(d) or props)
    meta = torch.device("meta")  # a device without storage: the size is checked, not allocated
    buffer = timing.l2_flush_buffer(meta)
    assert buffer.numel() == flush_bytes and buffer.dtype == torch.int8
    assert buffer.device == meta and asked == [meta]


# --- statistics of a sample set whose median and mean differ -------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 10, 11])
def test_quantiles_match_numpy_linear_interpolation(n):
    values = [float(v) for v in np.random.default_rng(n).lognormal(0, 1, n)]
    m = Measurement(tuple(values), "test")
    for q in (0.0, 0.1, 0.25, 0.5, 0.9, 0.97, 1.0):
        assert m.quantile(q) == pytest.approx(np.percentile(values, q * 100), rel=1e-12)
    assert m.median == pytest.approx(np.median(values), rel=1e-12)


def test_spread_without_a_positive_p10_is_infinite_and_noisy_is_strict():
    assert Measurement((0.0, 0.0, 1.0), "test").spread == float("inf")
    at_limit = Measurement((1.0,) * 5 + (NOISY_SPREAD,) * 5, "test")
    assert at_limit.p10 == 1.0 and at_limit.p90 == NOISY_SPREAD
    assert not at_limit.noisy


class Outliers(torch.nn.Module):
    """Every 4th call is 20x slower: the samples' mean lies far above their median."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self) -> torch.Tensor:
        self.calls += 1
        time.sleep(0.04 if self.calls % 4 == 0 else 0.002)
        return torch.zeros(1)


def test_the_row_records_the_median_not_the_mean():
    """Through the worker's real path (timer -> Measurement -> row fields): the row's latency is
    the median of its own samples, and the derived rates are computed from it."""
    config = Config(batch=2, seqlen=64, d_model=8, heads=2, level="core")
    spec = OperatorSpec(
        name="test-outliers",
        family="hyena",
        build=lambda cfg, device, stages=False: Case(cfg, Outliers(), (), lambda w: None),
        flops=lambda cfg: 1e9,
        bytes=lambda cfg: 1e6,
        detail="sleeps, with an outlier every 4th call",
    )
    timing_opts = TimingOptions(target_s=0.0, min_reps=12, warmup_s=0.0)
    opts = MeasureOptions(timing=timing_opts, verify=False, energy=False)
    row = Worker(torch.device("cpu"), opts).measure(spec, config)
    samples = row["samples_ms"]
    assert row["reps"] == len(samples) == 12
    median = statistics.median(samples)
    assert row["latency_ms_median"] == pytest.approx(median, abs=1e-5)
    assert statistics.fmean(samples) > 1.5 * median, "the planted outliers pull the mean up"
    assert row["latency_ms_p10"] == pytest.approx(np.percentile(samples, 10), abs=1e-5)
    assert row["latency_ms_p90"] == pytest.approx(np.percentile(samples, 90), abs=1e-5)
    seconds = row["latency_ms_median"] / 1e3
    assert row["tflops"] == pytest.approx(1e9 / seconds / 1e12)
    assert row["gbps"] == pytest.approx(1e6 / seconds / 1e9)
    assert row["tokens_per_s"] == pytest.approx(2 * 64 / seconds)
    assert row["noisy"] is (row["latency_ms_p90"] / row["latency_ms_p10"] > NOISY_SPREAD)
