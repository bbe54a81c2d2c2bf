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


def test_cuda_graph_refused_on_cpu():
    with pytest.raises(ValueError, match="CUDA"):
        measure(lambda: None, torch.device("cpu"), TimingOptions(cuda_graph=True))


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
