"""Shared by the Triton long-convolution tests: an independent float64 reference of the gated
causal convolution, random Hyena-like inputs, error measurement, and the NaN-poisoning fixture.

The reference is plain torch.fft in float64 (n = 2L zero padding), written here, not taken from
the kernels' modules.
"""

from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():  # must precede the first import of triton (tests/conftest.py too)
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest

from operators.longconv._triton_common import INTERPRETER_PROBLEM  # isort: skip

HAS_CUDA = torch.cuda.is_available()
# Module mark for the tests that run kernels: a known-broken Triton/NumPy pair is a skip with its
# reason (the kernels raise the same reason to a user), not 60 obscure interpreter errors.
RUNNABLE = pytest.mark.skipif(
    not HAS_CUDA and bool(INTERPRETER_PROBLEM), reason=INTERPRETER_PROBLEM or "runnable"
)
DEVICE = "cuda" if HAS_CUDA else "cpu"  # the interpreter runs CPU tensors, compiled kernels CUDA

# Allowed max|out - ref| / max|ref|, per input dtype (measured on the interpreter: fp32 about
# 3e-7, fp16 about 8e-4 at worst, over outputs and all gradients; TRITON_NOTES.md).
# fp32: tl.dot runs with input_precision="ieee" (not TF32) on the GPU too, so errors stay ~1e-7.
# fp16: operands, fp16 intermediates of the FFT and the output each rounded to 11 bits.
# bf16: 8 bits; a torch emulation of the Monarch kernels' roundings gave about 6e-3 at L=2048.
TOL = {torch.float32: 1e-5, torch.float16: 3e-3, torch.bfloat16: 3e-2}


def reference(v, h, bias, pre=None, post=None):
    """post ⊙ (h * x + bias ⊙ x), x = pre ⊙ v, in float64 by FFT with n = 2L (differentiable)."""
    x = v if pre is None else pre * v
    L = x.shape[-1]
    y = torch.fft.irfft(torch.fft.rfft(x, n=2 * L) * torch.fft.rfft(h, n=2 * L), n=2 * L)[..., :L]
    y = y + bias[:, None] * x
    return y if post is None else post * y


def make_inputs(B: int, D: int, L: int, dtype: torch.dtype, seed: int = 0, gates: bool = False):
    """u, h, bias, grad_y (and pre, post when `gates`): a decaying Hyena-like filter and a small
    skip bias, so the convolution, not the skip term, dominates the output."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(B, D, L, generator=g)
    decay = torch.exp(-torch.arange(L) / (0.25 * L + 1))
    h = torch.randn(D, L, generator=g) * decay / (0.25 * L + 1) ** 0.5
    bias = 0.1 * torch.randn(D, generator=g)
    grad_y = torch.randn(B, D, L, generator=g)
    out = [u, h, bias, grad_y]
    if gates:
        out += [torch.randn(B, D, L, generator=g), torch.randn(B, D, L, generator=g)]
    return [t.to(DEVICE, dtype) for t in out]


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out.double() - ref).abs().max() / ref.abs().max()).item()


def check_finite(name: str, out: torch.Tensor) -> None:
    assert torch.isfinite(out).all(), f"{name} has non-finite entries (unwritten or overflow)"


def errors(conv, inputs, grad_y, dtype: torch.dtype, **kwargs) -> dict[str, float]:
    """Relative errors of y and of every input's gradient against the float64 reference.
    `inputs`: (v, h, bias[, pre, post]); conv(*inputs, **kwargs) -> y."""
    names = ("v", "h", "bias", "pre", "post")[: len(inputs)]
    leaves = [t.clone().requires_grad_() for t in inputs]
    y = conv(*leaves, **kwargs)
    y.backward(grad_y)
    refs = [t.double().requires_grad_() for t in inputs]
    y_ref = reference(*refs)
    y_ref.backward(grad_y.double())
    assert y.dtype == dtype and y.shape == inputs[0].shape
    outs = {"y": (y, y_ref)} | {
        f"grad_{n}": (a.grad, r.grad) for n, a, r in zip(names, leaves, refs, strict=True)
    }
    for name, (out, _) in outs.items():
        assert out.dtype == dtype, name
        check_finite(name, out)
    return {name: rel_err(out, ref) for name, (out, ref) in outs.items()}


@pytest.fixture(autouse=True)
def poisoned_empty(monkeypatch):
    """torch.empty / empty_like return NaN-filled floats, so any output or scratch element a kernel
    fails to write (or reads before writing) shows up as a non-finite result."""
    empty, empty_like = torch.empty, torch.empty_like

    def poison(t: torch.Tensor) -> torch.Tensor:
        return t.fill_(float("nan")) if t.is_floating_point() else t

    monkeypatch.setattr(torch, "empty", lambda *a, **k: poison(empty(*a, **k)))
    monkeypatch.setattr(torch, "empty_like", lambda *a, **k: poison(empty_like(*a, **k)))
