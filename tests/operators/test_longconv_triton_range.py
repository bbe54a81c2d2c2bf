"""fp16 range: inputs with a large constant (DC) component make FFT intermediates coherent, the
worst case for overflow. Every path (Toeplitz, Monarch in registers, Monarch's three-pass scratch
kernel, the dispatcher), forward and backward, against float64, at magnitudes near fp16's largest
value (65504) whose true results still fit."""

from __future__ import annotations

import pytest
import torch

from tests.operators.triton_testing import (
    DEVICE,
    RUNNABLE,
    TOL,
    errors,
    poisoned_empty,  # noqa: F401  (autouse fixture)
    reference,
)

from operators.longconv import triton_auto, triton_monarch, triton_toeplitz  # isort: skip

pytestmark = RUNNABLE

CONV = {
    "toeplitz": triton_toeplitz.causal_conv,
    "monarch": triton_monarch.causal_conv,
    "auto": triton_auto.causal_conv,
}
# (strategy, L): L=1000 and 1025 run Monarch in registers, 2100 its scratch kernel (P = 16).
PATHS = [("toeplitz", 1000), ("monarch", 1000), ("monarch", 1025), ("monarch", 2100)]
PATHS += [("auto", 1000)]
FP16_MAX = 65504.0


def fp16(*ts: torch.Tensor) -> list[torch.Tensor]:
    return [t.to(DEVICE, torch.float16) for t in ts]


@pytest.mark.parametrize(("strategy", "L"), PATHS)
def test_issue_backward_case(strategy, L):
    """u = 0.8 + 0.1·randn and grad_y = 1 (the loss y.sum()): grad_h and grad_bias came back
    inf or NaN from the previous kernels (true values about 3.2e3)."""
    B, D = (4, 2) if L < 2048 else (2, 1)
    g = torch.Generator().manual_seed(L)
    u = 0.8 + 0.1 * torch.randn(B, D, L, generator=g)
    h = torch.randn(D, L, generator=g) * torch.exp(-torch.arange(L) / 250) / 16
    bias = 0.1 * torch.randn(D, generator=g)
    grad_y = torch.ones(B, D, L)
    u, h, bias, grad_y = fp16(u, h, bias, grad_y)
    errs = errors(CONV[strategy], (u, h, bias), grad_y, torch.float16)
    assert max(errs.values()) <= TOL[torch.float16], errs


@pytest.mark.parametrize(("strategy", "L"), PATHS)
def test_constant_input_near_fp16_max(strategy, L):
    """A constant input c and a non-negative filter summing to S: y[L-1] = c·S (plus bias·c). The
    issue's case (c=40, S=100, y=4000) gave inf; here y reaches about 60000, grad_h about 3e4."""
    B, D = 2, 1
    c, S = 600.0, 100.0
    g = torch.Generator().manual_seed(L + 1)
    u = torch.full((B, D, L), c)
    h = torch.rand(D, L, generator=g) * torch.exp(-torch.arange(L) / 100)
    h = h * S / h.sum()
    bias = torch.zeros(D)
    grad_y = torch.randn(B, D, L, generator=g)
    u, h, bias, grad_y = fp16(u, h, bias, grad_y)
    y_ref = reference(u.double(), h.double(), bias.double())
    assert 0.8 * FP16_MAX < y_ref.abs().max() < FP16_MAX  # at the edge of fp16's range
    errs = errors(CONV[strategy], (u, h, bias), grad_y, torch.float16)
    assert max(errs.values()) <= TOL[torch.float16], errs


@pytest.mark.parametrize(("strategy", "L"), [("monarch", 1000), ("monarch", 2100)])
def test_small_inputs_keep_their_precision(strategy, L):
    """The other end of the range: inputs of 1e-3 (fp16 normal down to 6e-5) lose no more than
    unit-scale ones: the inverse is scaled by a bound of the output, not by a fixed factor."""
    g = torch.Generator().manual_seed(7)
    u = 1e-3 * torch.randn(1, 2, L, generator=g)
    h = torch.randn(2, L, generator=g) * torch.exp(-torch.arange(L) / 250) / 16
    bias = 0.1 * torch.randn(2, generator=g)
    grad_y = 1e-3 * torch.randn(1, 2, L, generator=g)
    u, h, bias, grad_y = fp16(u, h, bias, grad_y)
    errs = errors(CONV[strategy], (u, h, bias), grad_y, torch.float16)
    assert max(errs.values()) <= TOL[torch.float16], errs
