"""hyena-fused: its short-convolution kernel against a float64 reference written here, the layer's
weights (HyenaOperator's state dict), the paths the generic tests do not reach (Toeplitz
dispatch with gates, an input longer than l_max), the prepared filter split by step, and the
kernels compiling for sm_90. The layer's forward and gradients against the float64 reference at
the shared shapes are in test_correctness.py, its causality in test_causality.py."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO
from tests.operators.triton_testing import RUNNABLE

from operators import hyena, hyena_fused, reference, registry  # isort: skip
from operators.config import Config  # isort: skip
from operators.longconv import triton_auto  # isort: skip
from operators.verify import gradient_errors, tolerance, verify  # isort: skip

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
TOL = {torch.float32: 1e-5, torch.float16: 3e-3}  # fp16: operands and outputs rounded to 11 bits


def short_conv_reference(u, weight, bias, order, n):
    """float64: the depthwise causal convolution of u (B, L, C), first n positions, as streams;
    the last two multiplied."""
    d = u.shape[-1] // (order + 1)
    s = reference.causal_short_conv(u.double().transpose(1, 2), weight, bias)[..., :n]
    streams = [s[:, i * d : (i + 1) * d] for i in range(order + 1)]
    return [*streams[: order - 1], streams[order - 1] * streams[order]]


def rel(out, ref):
    return ((out.double() - ref).abs().max() / ref.abs().max()).item()


@RUNNABLE
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize(
    ("B", "L", "D", "order", "n"),
    [(2, 67, 5, 2, 67), (1, 130, 70, 3, 100)],  # odd L; D over one block; cut to n < L; order 3
)
def test_short_conv_kernel_matches_float64(B, L, D, order, n, dtype):
    from operators.fused.short_conv import short_conv_gate

    g = torch.Generator().manual_seed(L)
    C = (order + 1) * D
    leaves = [
        torch.randn(B, L, C, generator=g).to(DEVICE, dtype).requires_grad_(),
        torch.randn(C, 1, 3, generator=g).to(DEVICE, dtype).requires_grad_(),
        torch.randn(C, generator=g).to(DEVICE, dtype).requires_grad_(),
    ]
    grads = [torch.randn(B, D, n, generator=g).to(DEVICE, dtype) for _ in range(order)]
    outs = short_conv_gate(*leaves, order, n)
    torch.autograd.backward(outs, grads)
    refs64 = [t.detach().double().requires_grad_() for t in leaves]
    refs = short_conv_reference(*refs64, order, n)
    torch.autograd.backward(refs, [g.double() for g in grads])
    assert [tuple(o.shape) for o in outs] == [(B, D, n)] * order
    assert all(o.is_contiguous() and o.dtype == dtype for o in outs)
    errors = {f"stream{i}": rel(o, r) for i, (o, r) in enumerate(zip(outs, refs, strict=True))}
    for name, leaf, ref in zip(("u", "weight", "bias"), leaves, refs64, strict=True):
        errors[f"grad_{name}"] = rel(leaf.grad, ref.grad)
    assert max(errors.values()) <= TOL[dtype], errors


def test_short_conv_rejects_wrong_shapes():
    from operators.fused.short_conv import short_conv_gate

    u = torch.zeros(1, 8, 12, device=DEVICE)
    with pytest.raises(ValueError, match="want weight"):
        short_conv_gate(u, torch.zeros(12, 1, 5, device=DEVICE), torch.zeros(12), 2, 8)
    with pytest.raises(ValueError, match="do not split"):
        short_conv_gate(u, torch.zeros(12, 1, 3), torch.zeros(12), 4, 8)


def test_state_dict_is_hyena_operators():
    """Same names, shapes and seeded values as HyenaOperator (hyena-fft's), so safari's state
    dicts load into it and it is checked against the same reference."""
    config = Config(batch=1, seqlen=16, d_model=8, order=3, level="layer")
    fused = hyena_fused.FusedHyenaOperator(8, 16, 3)
    plain = hyena.HyenaOperator(8, 16, 3, long_conv=None)
    assert {k: v.shape for k, v in fused.state_dict().items()} == {
        k: v.shape for k, v in plain.state_dict().items()
    }
    fft_case = registry.get("hyena-fft").build(config, "cpu")
    fused_case = hyena_fused.build(config, "cpu")
    for key, value in fft_case.module.state_dict().items():
        assert torch.equal(value, fused_case.module.state_dict()[key]), key


def test_channel_rows_slices_per_channel_fields_only():
    @dataclasses.dataclass(frozen=True)
    class Prepared:
        plan: tuple
        values: torch.Tensor
        scale: torch.Tensor

    prepared = Prepared((4, 8), torch.arange(6 * 2).view(6, 2), torch.arange(6))
    part = hyena_fused.channel_rows(prepared, 3, 6, 6)
    assert part.plan == (4, 8) and part.values.tolist() == [[6, 7], [8, 9], [10, 11]]
    assert part.scale.tolist() == [3, 4, 5]
    assert hyena_fused.channel_rows(torch.arange(6), 0, 3, 6).tolist() == [0, 1, 2]


@RUNNABLE
def test_toeplitz_dispatch_with_both_gates_matches_float64():
    """B=8 fp32 at L=40 dispatches to Toeplitz (the generic shapes all go to Monarch); order 3
    puts a pre-gate on the second step and the post-gate on it too."""
    config = Config(batch=8, seqlen=40, d_model=8, heads=2, order=3, level="layer")
    assert triton_auto.choose(8, torch.float32, 40) == "toeplitz"
    assert verify(hyena_fused.build(config, DEVICE)).passed
    errors = gradient_errors(hyena_fused.build(config.replace(mode="fwd_bwd"), DEVICE))
    assert max(errors.values()) <= tolerance("fp32", DEVICE, grad=True), errors


@RUNNABLE
def test_input_longer_than_l_max_is_cut_like_the_reference():
    module = hyena_fused.FusedHyenaOperator(8, 24, 2).to(DEVICE)
    weights = {k: v.double() for k, v in module.state_dict().items()}
    x = torch.randn(2, 30, 8, device=DEVICE)
    with torch.no_grad():
        out = module(x)
    assert out.shape == (2, 24, 8)
    assert rel(out, reference.hyena_layer(weights, x, order=2)) <= 1e-5


def test_limits_and_levels():
    spec = registry.get("hyena-fused")
    assert spec.levels == ("layer",)
    assert "bf16" in spec.limits(Config(dtype="bf16"), torch.device("cpu"))
    assert "exceeds" in spec.limits(Config(seqlen=256 * 1024), torch.device("cuda"))
    assert spec.limits(Config(dtype="bf16"), torch.device("cuda")) is None
    assert "no core level" in spec.supports(Config(level="core"), "cpu")


@pytest.mark.slow
def test_kernels_compile_for_sm90():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "operators.fused.aot", "--dtypes", "fp16"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode == 2:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [r.split("|") for r in proc.stdout.splitlines() if r.startswith("| short_conv")]
    assert len(rows) == 4 and all(int(r[5]) == 0 for r in rows), proc.stdout  # no spill stores


# GPU: every dtype (bf16 cannot be checked in the interpreter), both dispatched strategies
# (B=8 fp16 at L=256 goes to Toeplitz), the register path (L=1000) and the scratch path (8k),
# order 3 (two gated steps).
GPU_CASES = [(8, 256, 64, 2), (2, 1000, 96, 3), (8, 8192, 64, 2)]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize(("B", "L", "D", "order"), GPU_CASES)
def test_gpu_layer_and_gradients_match_float64(B, L, D, order, dtype):
    cuda = torch.device("cuda")
    config = Config(batch=B, seqlen=L, d_model=D, heads=4, order=order, dtype=dtype)
    result = verify(hyena_fused.build(config, cuda))
    assert result.passed, f"{result.max_rel_err:.2e}"
    errors = gradient_errors(hyena_fused.build(config.replace(mode="fwd_bwd"), cuda))
    assert max(errors.values()) <= tolerance(dtype, cuda, grad=True), errors
