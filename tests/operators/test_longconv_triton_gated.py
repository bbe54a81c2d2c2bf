"""The gated convolution the fused Hyena layer calls, y = post ⊙ (h * x + bias ⊙ x), x = pre ⊙ v:
every gradient against float64 autograd of a reference written in the tests, on each strategy
and Monarch path; and a filter prepared once and passed in."""

from __future__ import annotations

import pytest
import torch

from tests.operators.triton_testing import (
    RUNNABLE,
    TOL,
    errors,
    make_inputs,
    poisoned_empty,  # noqa: F401  (autouse fixture)
    reference,
    rel_err,
)

from operators.longconv import triton_auto, triton_gated  # isort: skip

pytestmark = RUNNABLE

# (strategy, B, D, L): Toeplitz; Monarch in registers; Monarch's scratch kernel (L > 2048).
CASES = [("toeplitz", 3, 2, 77), ("monarch", 3, 2, 77), ("monarch", 1, 2, 2100)]


def gated(strategy: str):
    return lambda v, h, bias, pre, post: triton_gated.gated_conv(
        v, h, bias, pre, post, strategy=strategy
    )


# fp32 and fp16 everywhere, but the scratch path (slow in the interpreter) in fp16 only.
DTYPED = [(*c, dt) for c in CASES for dt in (torch.float32, torch.float16) if c[3] < 2048]
DTYPED += [(*c, torch.float16) for c in CASES if c[3] >= 2048]


@pytest.mark.parametrize(("strategy", "B", "D", "L", "dtype"), DTYPED)
def test_gated_matches_float64_reference(strategy, B, D, L, dtype):
    u, h, bias, grad_y, pre, post = make_inputs(B, D, L, dtype, seed=L, gates=True)
    errs = errors(gated(strategy), (u, h, bias, pre, post), grad_y, dtype)
    assert max(errs.values()) <= TOL[dtype], errs


@pytest.mark.parametrize("strategy", ["toeplitz", "monarch"])
def test_only_some_gates_and_some_gradients(strategy):
    """pre alone (its gradient not wanted: the kernel's store gate gives grad_v directly), then
    post alone with v needing no gradient."""
    u, h, bias, grad_y, pre, post = make_inputs(2, 2, 50, torch.float32, gates=True)
    v = u.clone().requires_grad_()
    y = triton_gated.gated_conv(v, h, bias, pre=pre, strategy=strategy)
    y.backward(grad_y)
    vr = u.double().requires_grad_()
    reference(vr, h.double(), bias.double(), pre=pre.double()).backward(grad_y.double())
    assert rel_err(y, reference(u.double(), h.double(), bias.double(), pre.double())) < 1e-5
    assert rel_err(v.grad, vr.grad) < 1e-5
    p = post.clone().requires_grad_()
    y = triton_gated.gated_conv(u, h, bias, post=p, strategy=strategy)
    y.backward(grad_y)
    pr = post.double().requires_grad_()
    reference(u.double(), h.double(), bias.double(), post=pr).backward(grad_y.double())
    assert rel_err(p.grad, pr.grad) < 1e-5


@pytest.mark.parametrize("L", [60])
def test_prepared_filter_is_reused(L):
    """One prepared filter for two orders (two calls), kept for the backward; h still gets its
    gradient through grad_h, and the result equals the unprepared call's."""
    u, h, bias, grad_y, pre, post = make_inputs(1, 2, L, torch.float16, seed=3, gates=True)
    hl = h.clone().requires_grad_()
    filt = triton_auto.prepare_filter(hl, L, 1, torch.float16)
    y1 = triton_auto.gated_conv(u, hl, bias, pre, None, filt=filt)
    y2 = triton_auto.gated_conv(y1, hl, bias, None, post, filt=filt)
    y2.backward(grad_y)
    hr = h.double().requires_grad_()
    ref = reference(reference(u.double(), hr, bias.double(), pre.double()), hr, bias.double())
    ref = post.double() * ref
    ref.backward(grad_y.double())
    assert rel_err(y2, ref) <= TOL[torch.float16]
    assert rel_err(hl.grad, hr.grad) <= TOL[torch.float16]
    assert torch.equal(y1, triton_auto.gated_conv(u, h, bias, pre, None))


def test_prepared_filter_must_match_the_input():
    u, h, bias, _ = make_inputs(1, 2, 64, torch.float32)
    filt = triton_gated.prepare_filter(h, 32, 1, torch.float32)
    with pytest.raises(ValueError, match="prepared filter is for L=32"):
        triton_gated.gated_conv(u, h, bias, filt=filt)
    with pytest.raises(ValueError, match="gate must be"):
        triton_gated.gated_conv(u, h, bias, pre=u[:, :1])
    with pytest.raises(ValueError, match="unknown strategy"):
        triton_gated.gated_conv(u, h, bias, strategy="winograd")
