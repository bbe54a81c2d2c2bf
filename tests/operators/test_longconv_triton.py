"""The Triton causal long convolutions (Toeplitz, Monarch FFT, and the length dispatcher) against a
float64 reference, forward and backward.

Without a GPU the kernels run in Triton's interpreter on CPU tensors (TRITON_INTERPRET=1, set by
tests/conftest.py before triton is imported, and again below); the interpreter computes bf16
wrongly, so bf16 is tested only by the `gpu` tests, which run larger sizes on CUDA.
"""

from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():  # a second guard: must precede the first import of triton
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest

from operators.longconv import triton_auto, triton_monarch, triton_toeplitz

HAS_CUDA = torch.cuda.is_available()
DEVICE = "cuda" if HAS_CUDA else "cpu"  # the interpreter runs CPU tensors, compiled kernels CUDA

# Allowed max|out - ref| / max|ref|, per input dtype (measured on the interpreter: fp32 about
# 3e-7, fp16 about 9e-4 at worst, over outputs and all three gradients).
# fp32: tl.dot runs with input_precision="ieee" (not TF32) on the GPU too, so errors stay ~1e-7.
# fp16: operands, fp16 intermediates of the FFT and the output each rounded to 11 bits.
# bf16: 8 bits; a torch emulation of the Monarch kernels' roundings gave about 6e-3 at L=2048.
TOL = {torch.float32: 1e-5, torch.float16: 3e-3, torch.bfloat16: 3e-2}

STRATEGIES = {
    "toeplitz": triton_toeplitz.causal_conv,
    "monarch": triton_monarch.causal_conv,
    "auto": triton_auto.causal_conv,
}


def reference(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Float64 causal convolution by FFT with n = 2L (differentiable), plus bias ⊙ u."""
    L = u.shape[-1]
    y = torch.fft.irfft(torch.fft.rfft(u, n=2 * L) * torch.fft.rfft(h, n=2 * L), n=2 * L)[..., :L]
    return y + bias[:, None] * u


def make_inputs(B: int, D: int, L: int, dtype: torch.dtype, seed: int = 0):
    """Fresh random inputs: a decaying Hyena-like filter and a small skip bias, so the convolution,
    not the skip term, dominates the output; grad_y is random too."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(B, D, L, generator=g)
    decay = torch.exp(-torch.arange(L) / (0.25 * L + 1))
    h = torch.randn(D, L, generator=g) * decay / (0.25 * L + 1) ** 0.5
    bias = 0.1 * torch.randn(D, generator=g)
    grad_y = torch.randn(B, D, L, generator=g)
    return [t.to(DEVICE, dtype) for t in (u, h, bias, grad_y)]


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out.double() - ref).abs().max() / ref.abs().max()).item()


def errors(conv, B: int, D: int, L: int, dtype: torch.dtype) -> dict[str, float]:
    """Relative errors of y and of the three gradients against the float64 reference."""
    u, h, bias, grad_y = make_inputs(B, D, L, dtype, seed=B * 1000 + D * 100 + L)
    leaves = [t.clone().requires_grad_() for t in (u, h, bias)]
    y = conv(*leaves)
    y.backward(grad_y)
    refs = [t.double().requires_grad_() for t in (u, h, bias)]
    y_ref = reference(*refs)
    y_ref.backward(grad_y.double())
    assert y.dtype == dtype and y.shape == (B, D, L)
    outs = {"y": (y, y_ref)} | {
        f"grad_{name}": (a.grad, r.grad)
        for name, a, r in zip(("u", "h", "bias"), leaves, refs, strict=True)
    }
    for name, (out, _) in outs.items():
        assert out.dtype == dtype, name
        assert torch.isfinite(out).all(), f"{name} has non-finite entries (unwritten or overflow)"
    return {name: rel_err(out, ref) for name, (out, ref) in outs.items()}


@pytest.fixture(autouse=True)
def poisoned_empty(monkeypatch):
    """torch.empty / empty_like return NaN-filled floats, so any output or scratch element a kernel
    fails to write shows up as a non-finite result."""
    empty, empty_like = torch.empty, torch.empty_like

    def poison(t: torch.Tensor) -> torch.Tensor:
        return t.fill_(float("nan")) if t.is_floating_point() else t

    monkeypatch.setattr(torch, "empty", lambda *a, **k: poison(empty(*a, **k)))
    monkeypatch.setattr(torch, "empty_like", lambda *a, **k: poison(empty_like(*a, **k)))


# (B, D, L): B=1 and B > 1, odd L, L not a multiple of any block, up to 512; B=70 spans two
# Toeplitz batch blocks and several Monarch row groups.
SHAPES = [(1, 2, 16), (3, 2, 17), (2, 3, 100), (1, 1, 333), (4, 2, 512), (70, 1, 40)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}-D{}-L{}".format(*s))
@pytest.mark.parametrize("strategy", ["toeplitz", "monarch"])
def test_matches_float64_reference(strategy, shape, dtype):
    errs = errors(STRATEGIES[strategy], *shape, dtype)
    assert max(errs.values()) <= TOL[dtype], errs


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_monarch_unfused_path(dtype, monkeypatch):
    """L > 1024 takes the column DFT / row / inverse column path; a small scratch limit also
    makes it walk the channels in chunks (one channel each here)."""
    B, D, L = 1, 3, 1100
    plan = triton_monarch.plan_for(L)
    assert plan.p > 1 and plan.n >= 2 * L - 1
    monkeypatch.setattr(triton_monarch, "MAX_SCRATCH_ELEMS", B * 2 * plan.n)
    errs = errors(triton_monarch.causal_conv, B, D, L, dtype)
    assert max(errs.values()) <= TOL[dtype], errs


@pytest.mark.parametrize("L", [100, triton_auto.TOEPLITZ_MAX_L + 1])
def test_auto_dispatches_by_length(L):
    expected = "toeplitz" if L <= triton_auto.TOEPLITZ_MAX_L else "monarch"
    assert triton_auto.strategy_for(L) == expected
    errs = errors(triton_auto.causal_conv, 1, 1, L, torch.float32)
    assert max(errs.values()) <= TOL[torch.float32], errs


@pytest.mark.parametrize("strategy", ["toeplitz", "monarch"])
def test_mixed_dtypes_and_partial_grads(strategy):
    """fp16 input with an fp32 filter and bias (the filter is often generated in fp32): y is fp16,
    each gradient has its tensor's dtype, and u needs no gradient."""
    u, h, bias, grad_y = make_inputs(2, 2, 40, torch.float16)
    h, bias = h.float().requires_grad_(), bias.float().requires_grad_()
    y = STRATEGIES[strategy](u, h, bias)
    y.backward(grad_y)
    assert y.dtype == torch.float16
    assert h.grad.dtype == torch.float32 and bias.grad.dtype == torch.float32
    refs = [u.double(), *(t.detach().double().requires_grad_() for t in (h, bias))]
    reference(*refs).backward(grad_y.double())
    for out, ref in ((h.grad, refs[1].grad), (bias.grad, refs[2].grad)):
        assert rel_err(out, ref) <= TOL[torch.float16]


def test_plan_factors_the_fft_size():
    for L in (1, 16, 17, 128, 129, 1024, 1025, 4097, 65536, 131072):
        plan = triton_monarch.plan_for(L)
        assert plan.n >= 2 * L - 1 and plan.n == plan.p * plan.m1 * plan.m2
        assert min(plan.m1, plan.m2) >= 16 and plan.m1 * plan.m2 <= triton_monarch.FUSED_MAX_N
        assert plan.p == 1 or plan.p >= 16
    with pytest.raises(ValueError, match="FFT size"):
        triton_monarch.plan_for(131073)


@pytest.mark.parametrize("strategy", ["toeplitz", "monarch"])
def test_rejects_bad_inputs_and_unrunnable_devices(strategy):
    conv = STRATEGIES[strategy]
    u, h, bias, _ = make_inputs(1, 2, 16, torch.float32)
    with pytest.raises(ValueError, match="want u"):
        conv(u[0], h, bias)
    with pytest.raises(ValueError, match="must be"):
        conv(u, h[:, :8], bias)
    with pytest.raises(TypeError, match="dtype"):
        conv(u.double(), h, bias)
    assert triton_auto.runnable_reason(u) == ""
    assert "tensors" in triton_auto.runnable_reason(u.to("meta"))
    with pytest.raises(RuntimeError, match="triton"):  # never a silent fallback
        conv(*(t.to("meta") for t in (u, h, bias)))


# GPU: the benchmark's dtypes at sizes the interpreter cannot reach. D=768 and B=4 is the paper's
# width; L=16384 takes Monarch's unfused path (P=16 x M=2048) and Toeplitz's longest loop.
GPU_SHAPES = [(4, 64, 1024), (4, 768, 2048), (4, 64, 16384)]


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", GPU_SHAPES, ids=lambda s: "B{}-D{}-L{}".format(*s))
@pytest.mark.parametrize("strategy", ["toeplitz", "monarch", "auto"])
def test_gpu_matches_float64_reference(strategy, shape, dtype):
    errs = errors(STRATEGIES[strategy], *shape, dtype)
    print(f"{strategy} {shape} {dtype}: " + ", ".join(f"{k} {v:.2e}" for k, v in errs.items()))
    assert max(errs.values()) <= TOL[dtype], errs
