"""The Triton causal long convolutions (Toeplitz, Monarch FFT and the dispatcher) against a
float64 reference, forward and backward, at every path the interpreter can run.

Without a GPU the kernels run in Triton's interpreter on CPU tensors (TRITON_INTERPRET=1); the
interpreter computes bf16 wrongly, so bf16 is tested only by the `gpu` tests, on CUDA.
"""

from __future__ import annotations

import pytest
import torch

from tests.operators.triton_testing import (
    HAS_CUDA,
    RUNNABLE,
    TOL,
    errors,
    make_inputs,
    poisoned_empty,  # noqa: F401  (autouse fixture)
    reference,
    rel_err,
)

from operators.longconv import triton_auto, triton_monarch, triton_toeplitz  # isort: skip
from operators.longconv._triton_common import DTYPE_NAMES  # isort: skip
from operators.longconv.triton_work import plan_for  # isort: skip

pytestmark = RUNNABLE

STRATEGIES = {
    "toeplitz": triton_toeplitz.causal_conv,
    "monarch": triton_monarch.causal_conv,
    "auto": triton_auto.causal_conv,
}


def conv_errors(conv, B: int, D: int, L: int, dtype: torch.dtype) -> dict[str, float]:
    u, h, bias, grad_y = make_inputs(B, D, L, dtype, seed=B * 1000 + D * 100 + L)
    return errors(conv, (u, h, bias), grad_y, dtype)


# (B, D, L): B=1 and B > 1, odd L, L not a multiple of any block; B=70 spans two Toeplitz batch
# blocks, B=9 three Monarch row groups; D=5 > the interpreter's 3 persistent programs.
SHAPES = [(1, 2, 16), (3, 2, 17), (2, 3, 100), (1, 1, 333), (4, 2, 512), (2, 5, 64)]
CASES = [(s, shape) for s in ("toeplitz", "monarch") for shape in SHAPES]
CASES += [("toeplitz", (70, 1, 40)), ("monarch", (9, 1, 40))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize(
    ("strategy", "shape"), CASES, ids=lambda c: "B{}-D{}-L{}".format(*c) if len(c) == 3 else c
)
def test_matches_float64_reference(strategy, shape, dtype):
    errs = conv_errors(STRATEGIES[strategy], *shape, dtype)
    assert max(errs.values()) <= TOL[dtype], errs


# Monarch over lengths, B=1, D=2, forward and backward: every register-path plan (L <= 2048,
# tiles 16x16 .. 32x64; fp32 only up to 1024, beyond which it takes the scratch path), the first
# lengths of the scratch path (P = 16, 32, 64) and beyond 32k points, the edges of each plan
# (2^k and 2^k + 1) and odd lengths.
LENGTHS = [(L, torch.float32) for L in (1, 2, 3, 255, 256, 257, 1000)]
LENGTHS += [(L, torch.float16) for L in (1025, 2048)]
LONG_LENGTHS = [2049, 4097, 33000]


@pytest.mark.parametrize(("L", "dtype"), LENGTHS, ids=str)
def test_monarch_lengths(L, dtype):
    errs = conv_errors(triton_monarch.causal_conv, 1, 2, L, dtype)
    assert max(errs.values()) <= TOL[dtype], (plan_for(L, DTYPE_NAMES[dtype]), errs)


@pytest.mark.slow
@pytest.mark.parametrize("L", LONG_LENGTHS)
def test_monarch_long_lengths(L):
    """The persistent three-pass kernel: P = 16, 32 and 64, up to an FFT of 131072 points."""
    assert plan_for(L, "fp32").p > 1
    errs = conv_errors(triton_monarch.causal_conv, 1, 1, L, torch.float32)
    assert max(errs.values()) <= TOL[torch.float32], (plan_for(L, "fp32"), errs)


@pytest.mark.parametrize("L", [1000, 2100])
def test_monarch_fp16_both_paths(L):
    """fp16 on the register path (L=1000) and the scratch path (L=2100), with several rows per
    persistent program (B·D = 4 > 3 programs)."""
    errs = conv_errors(triton_monarch.causal_conv, 1, 4, L, torch.float16)
    assert max(errs.values()) <= TOL[torch.float16], (plan_for(L), errs)


@pytest.mark.parametrize("L", [100, 2100])
def test_auto_follows_the_dispatch_table(L):
    strategy = triton_auto.choose(64, torch.float32, L)
    assert strategy == ("toeplitz" if L <= 768 else "monarch")  # fp32, B=64: Toeplitz to 768
    errs = conv_errors(triton_auto.causal_conv, 64 if L < 1000 else 1, 1, L, torch.float32)
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


# GPU: the benchmark's dtypes at sizes the interpreter cannot reach. D=768 is the paper's width;
# L=16384 is the longest on-chip FFT (32k points), 65536 the scratch path at P=64 beyond L2.
GPU_SHAPES = [(4, 64, 1024), (4, 768, 2048), (2, 64, 16384), (1, 16, 65536)]


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", GPU_SHAPES, ids=lambda s: "B{}-D{}-L{}".format(*s))
@pytest.mark.parametrize("strategy", ["toeplitz", "monarch", "auto"])
def test_gpu_matches_float64_reference(strategy, shape, dtype):
    if strategy == "toeplitz" and shape[2] > 16384:
        pytest.skip("Toeplitz at 64k is O(L²): minutes, and never dispatched there")
    errs = conv_errors(STRATEGIES[strategy], *shape, dtype)
    print(f"{strategy} {shape} {dtype}: " + ", ".join(f"{k} {v:.2e}" for k, v in errs.items()))
    assert max(errs.values()) <= TOL[dtype], errs
