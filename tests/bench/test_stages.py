"""bench.stages: time per named stage, from the profiler, for `run --stages` and `profile`."""

from __future__ import annotations

import pytest
import torch

from bench.stages import STEP_RANGE, profile_case, stage_times, step_times
from bench.timing import TimingOptions, time_cuda
from operators import attention, hyena, registry
from operators.config import Config

pytestmark = pytest.mark.usefixtures("one_thread")

HYENA_STAGES = set(hyena.STAGES)
ATTENTION_STAGES = set(attention.STAGES)
CPU = torch.device("cpu")
SMALL = Config(batch=1, seqlen=256, d_model=32, heads=4)  # a few ms per call on a small CPU


def test_every_hyena_stage_has_a_positive_time() -> None:
    times = stage_times(registry.get("hyena-fft"), SMALL, CPU, reps=3)
    assert set(times) == HYENA_STAGES
    assert all(ms > 0 for ms in times.values())


def test_attention_layer_and_hyena_core_report_their_own_stages() -> None:
    assert set(stage_times(registry.get("attention-dense"), SMALL, CPU, reps=2)) == (
        ATTENTION_STAGES
    )
    core = SMALL.replace(level="core")
    assert set(stage_times(registry.get("hyena-naive"), core, CPU, reps=2)) == {"hyena.long_conv"}


def test_steps_count_ranges_and_stay_within_the_call() -> None:
    case = registry.get("hyena-fft").build(SMALL.replace(order=3), CPU, stages=True)
    steps = step_times(profile_case(case, CPU, 2, warmup_calls=1).events(), "cpu")
    assert len(steps) == 2
    for step in steps:
        assert step.ranges["hyena.long_conv"] == 2  # order 3: two long convolutions
        assert step.ranges["hyena.gating"] == 3  # one per long conv, plus the final gate
        assert step.backward == {}
        assert 0 < sum(step.stage_us().values()) <= step.total_us


def test_backward_time_goes_to_the_stage_that_ran_the_forward_op() -> None:
    config = SMALL.replace(mode="fwd_bwd")
    case = registry.get("hyena-fft").build(config, CPU, stages=True)
    events = profile_case(case, CPU, 2, warmup_calls=1).events()
    assert sum(e.name == STEP_RANGE for e in events) == 2
    for step in step_times(events, "cpu"):
        # in_proj and out_proj have weights, so they have gradient work of their own
        assert {"hyena.in_proj", "hyena.long_conv", "hyena.out_proj"} <= set(step.backward)
        assert all(us > 0 for us in step.backward.values())
        assert sum(step.stage_us().values()) <= step.total_us
    assert set(stage_times(registry.get("hyena-fft"), config, CPU, reps=2)) == HYENA_STAGES


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_stage_time_is_gpu_time_of_the_kernels() -> None:
    """The quadratic core dominates dense attention at this length: its stage time must match the
    GPU time of a whole call (CUDA events), far above the microseconds it takes to launch."""
    device = torch.device("cuda")
    config = Config(batch=1, seqlen=8192, d_model=1024, heads=16, dtype="fp16")
    spec = registry.get("attention-dense")
    times = stage_times(spec, config, device)
    assert set(times) == ATTENTION_STAGES
    call_ms = time_cuda(spec.build(config, device).step, device, TimingOptions(target_s=0.2)).median
    assert 0.5 * call_ms < times["attention.core"] <= 1.2 * call_ms
    assert sum(times.values()) <= 1.2 * call_ms


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_backward_is_attributed_from_the_autograd_thread() -> None:
    device = torch.device("cuda")
    config = Config(batch=2, seqlen=4096, d_model=256, mode="fwd_bwd")
    case = registry.get("hyena-fft").build(config, device, stages=True)
    for step in step_times(profile_case(case, device, 3).events(), "cuda"):
        assert set(step.forward) == HYENA_STAGES
        assert {"hyena.in_proj", "hyena.long_conv", "hyena.out_proj"} <= set(step.backward)
        assert 0 < sum(step.stage_us().values()) <= step.total_us
