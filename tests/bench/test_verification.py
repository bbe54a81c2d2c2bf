"""The float64 check of a row at its timed shape: the length and kernel variant that are timed,
gradients in fwd_bwd, and `verified` null (never true) with a reason where the check is not made."""

import dataclasses

import torch

from bench import verification
from bench.verification import Checker
from operators import registry
from operators.config import Config
from operators.registry import same_variant_batch

CPU = torch.device("cpu")
SMALL = Config(batch=3, seqlen=300, d_model=16, heads=2, order=2, level="layer")


def test_a_row_is_checked_at_its_own_length_at_batch_one():
    check = Checker(CPU).check(registry.get("hyena-fft"), SMALL)
    assert check.verified is True and check.reason == ""
    fields = check.fields()
    assert (fields["verify_seqlen"], fields["verify_batch"]) == (300, 1)
    assert fields["max_rel_err"] < 1e-5 and "max_rel_err_grad" not in fields


def test_fwd_bwd_rows_check_the_gradients_too():
    config = SMALL.replace(mode="fwd_bwd")
    check = Checker(CPU).check(registry.get("attention-dense"), config)
    assert check.verified is True
    assert 0 < check.fields()["max_rel_err_grad"] < 2e-5


def test_a_wrong_gradient_fails_the_row():
    """A forward that is right and a backward that is not: only the gradient check sees it."""

    class WrongGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return 1.5 * g

    real = registry.get("hyena-fft")

    def build(config, device, stages=False):
        case = real.build(config, device, stages)
        module = case.module
        forward = module.forward
        module.forward = lambda x: forward(WrongGrad.apply(x))
        return case

    spec = dataclasses.replace(real, name="test-wrong-grad", build=build)
    fwd = Checker(CPU).check(spec, SMALL)
    assert fwd.verified is True, "the forward is right"
    both = Checker(CPU).check(spec, SMALL.replace(mode="fwd_bwd"))
    assert both.verified is False and both.max_rel_err < 1e-5 and both.max_rel_err_grad > 0.1


def test_checks_are_made_once_per_shape():
    checker = Checker(CPU)
    spec = registry.get("hyena-fft")
    first = checker.check(spec, SMALL)
    assert checker.check(spec, SMALL.replace(batch=7)) is first, "same check shape (batch 1)"
    assert checker.check(spec, SMALL.replace(seqlen=301)) is not first


def test_over_the_time_budget_the_row_says_not_checked_never_true():
    """A length beyond the calibration length is estimated from the longest check before it:
    over a tiny budget, it is not made."""
    checker = Checker(CPU, budget_s=1e-6)
    spec = registry.get("hyena-fft")
    short = verification.CALIBRATION_SEQLEN
    assert checker.check(spec, SMALL.replace(seqlen=short)).verified is True  # not estimated
    check = checker.check(spec, SMALL.replace(seqlen=2 * short))
    assert check.verified is None and check.max_rel_err is None
    assert "not checked" in check.reason and "budget" in check.reason
    fields = check.fields()
    assert fields["verified"] is None and fields["verify_reason"] == check.reason
    assert fields["verify_seqlen"] == 2 * short


def test_a_long_first_length_is_estimated_through_checks_at_half_its_length():
    checker = Checker(CPU, budget_s=1e-6)
    spec = registry.get("hyena-fft")
    short = verification.CALIBRATION_SEQLEN
    check = checker.check(spec, SMALL.replace(seqlen=4 * short))
    assert check.verified is None and "budget" in check.reason
    made = {config.seqlen: c.verified for (_, config), c in checker.done.items()}
    assert made == {short: True, 2 * short: None, 4 * short: None}


def test_a_big_jump_in_length_is_not_scaled_from_fixed_costs():
    """From L=256 to 3000 the work grows 95x: the time is scaled from a check at 1500 (itself
    from one at 750, short enough not to be estimated) instead, so it is made within the budget."""
    checker = Checker(CPU)
    spec = registry.get("attention-sdpa-math")
    config = Config(batch=1, d_model=32, heads=2, mode="fwd_bwd")
    assert checker.check(spec, config.replace(seqlen=256)).verified is True
    check = checker.check(spec, config.replace(seqlen=3000))
    assert check.verified is True, check.reason
    assert {c.seqlen for _, c in checker.done} == {256, 750, 1500, 3000}


def test_a_reference_too_large_for_memory_is_not_attempted():
    config = Config(batch=1, seqlen=1 << 24, d_model=1024, heads=8, level="core")
    check = Checker(CPU).check(registry.get("hyena-fft"), config)
    assert check.verified is None
    assert "needs about" in check.reason and "GiB" in check.reason


def test_a_reference_that_runs_out_of_memory_leaves_the_row_unchecked():
    real = registry.get("hyena-fft")

    def build(config, device, stages=False):
        case = real.build(config, device, stages)

        def reference(*args):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. (injected)")

        case.reference = reference
        return case

    spec = dataclasses.replace(real, name="test-reference-oom", build=build)
    check = Checker(CPU).check(spec, SMALL)
    assert check.verified is None and "ran out of memory" in check.reason


def test_verify_batch_is_the_smallest_batch_with_the_timed_variant():
    def variant(config):
        return min(max(1 << (config.batch - 1).bit_length(), 16), 64)  # a block of 16..64

    smallest = same_variant_batch(variant)
    assert [smallest(SMALL.replace(batch=b)) for b in (1, 8, 16, 17, 32, 33, 64, 100)] == [
        1,
        1,
        1,
        17,
        17,
        33,
        33,
        33,
    ]


def test_the_triton_specs_ask_their_kernels_for_the_verify_batch():
    from operators.longconv import triton_dispatch, triton_work

    core = Config(batch=64, seqlen=1024, d_model=16, heads=2, level="core")
    toeplitz = registry.get("hyena-triton-toeplitz")
    assert toeplitz.verify_config(core).batch == 33  # 64 batch columns per program
    assert toeplitz.verify_config(core.replace(batch=20)).batch == 17  # 32 columns
    assert toeplitz.verify_config(core.replace(batch=9)).batch == 1  # 16 columns
    assert registry.get("hyena-triton-monarch").verify_config(core).batch == 1

    def runs(config):  # what hyena-triton runs: the dispatched strategy and its batch block
        strategy = triton_dispatch.strategy_for(config.batch, config.dtype, config.seqlen)
        block = triton_work.toeplitz_batch_block(config.batch) if strategy == "toeplitz" else 0
        return strategy, block

    auto = registry.get("hyena-triton")
    for dtype in ("fp16", "fp32"):
        for batch in (1, 8, 64):
            for seqlen in (256, 512, 1024, 4096):
                config = core.replace(batch=batch, seqlen=seqlen, dtype=dtype)
                checked = auto.verify_config(config).batch
                assert runs(config.replace(batch=checked)) == runs(config), config
                assert all(
                    runs(config.replace(batch=b)) != runs(config) for b in range(1, checked)
                ), config
