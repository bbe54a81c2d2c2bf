"""Timers: statistics from raw samples, repetition rules, and (on a GPU) agreement with triton."""

import time

import pytest
import torch

from bench.timing import Measurement, TimingOptions, measure, time_cpu


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
