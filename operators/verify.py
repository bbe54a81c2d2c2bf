"""The check the runner makes before timing: output (and gradients) against the float64 reference.

Error metric: max|out - ref| / max|ref| (the largest deviation relative to the output's scale;
an element-wise relative error would blow up where the reference is near zero). NaN never passes.
The reference is the case's own `reference` function (operators.reference), given float64 copies of
the module's weights: it never runs the module's code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from operators.case import Case

# Largest accepted forward error per dtype where fp32 arithmetic is IEEE fp32 (CPU). Worst cases
# measured on CPU (2026-11-29, 2 cores, every implementation incl. Triton's interpreter, at the
# `hyena-bench verify` shapes and at B=1, L=4095, D=768): fp32 1.4e-06 (hyena-naive layer,
# L=4095; 4.2e-07 at the small shapes); fp16 1.1e-03; bf16 9.1e-03. fp32 keeps about 7x headroom
# and fails a convolution that wraps a single lag around (a slightly circular FFT: 8e-05..6e-04).
TOLERANCE = {"fp64": 1e-9, "fp32": 1e-5, "fp16": 1e-2, "bf16": 5e-2}
# Gradients (inputs and parameters) add the rounding of the backward pass: sums over L and the
# batch. Worst cases measured as above: fp32 1.5e-06 (attention-sdpa-flash layer, L=4095);
# fp16 2.4e-03; bf16 1.8e-02.
GRAD_TOLERANCE = {"fp64": 1e-9, "fp32": 2e-5, "fp16": 2e-2, "bf16": 1e-1}
# On CUDA, fp32 matmuls and convolutions may run in TF32 (10-bit mantissa, unit roundoff 2^-11):
# cuDNN convolutions and Triton's tl.dot use it by default. fp32 there gets TF32's headroom (the
# forward bound is the project's earlier one; neither is measured on a GPU yet).
TF32_TOLERANCE = 2e-3
TF32_GRAD_TOLERANCE = 1e-2


def tolerance(dtype: str, device: torch.device | str, *, grad: bool = False) -> float:
    """The largest accepted relative error for `dtype` on `device` (forward, or gradients)."""
    if dtype == "fp32" and torch.device(device).type == "cuda":
        return TF32_GRAD_TOLERANCE if grad else TF32_TOLERANCE
    return (GRAD_TOLERANCE if grad else TOLERANCE)[dtype]


@dataclass(frozen=True)
class Verification:
    max_rel_err: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.max_rel_err <= self.tolerance


def relative_error(out: torch.Tensor | None, ref: torch.Tensor | None) -> float:
    """max|out - ref| / max|ref|; inf when out has NaN/inf or the shapes differ. A missing
    gradient (None) counts as zeros."""
    if out is None or ref is None:
        if out is None and ref is None:
            return 0.0
        out = torch.zeros_like(ref) if out is None else out
        ref = torch.zeros_like(out, dtype=torch.float64) if ref is None else ref
    if out.shape != ref.shape:
        return math.inf
    out = out.detach().double()
    if not bool(torch.isfinite(out).all()):
        return math.inf
    scale = ref.abs().max().item()
    err = (out - ref).abs().max().item()
    return err / scale if scale > 0 else err


def reference_inputs(case: Case, requires_grad: bool = False) -> list[torch.Tensor]:
    return [x.detach().double().requires_grad_(requires_grad) for x in case.inputs]


def reference_weights(case: Case, requires_grad: bool = False) -> dict[str, torch.Tensor]:
    """float64 copies of the module's state dict (parameters and buffers). A tensor the module
    shares under several names (safari's one Sin frequency) is one copy under all of them, so
    its gradient is one sum, as in the module."""
    copies: dict[int, torch.Tensor] = {}
    weights = {}
    for name, tensor in case.module.state_dict(keep_vars=True).items():
        if id(tensor) not in copies:
            grad = requires_grad and isinstance(tensor, torch.nn.Parameter)
            copies[id(tensor)] = tensor.detach().double().requires_grad_(grad)
        weights[name] = copies[id(tensor)]
    return weights


def verify(case: Case) -> Verification:
    """Run the case's forward and its float64 reference on the same inputs and weights."""
    with torch.no_grad():
        out = case.forward()
        ref = case.reference(reference_weights(case), *reference_inputs(case))
    return Verification(relative_error(out, ref), tolerance(case.config.dtype, out.device))


def gradient_errors(case: Case) -> dict[str, float]:
    """Relative error of every input and parameter gradient against float64 autograd through
    the reference. The case's inputs and parameters must require grad (mode fwd_bwd)."""
    grad = case.grad_output
    if grad is None:
        raise ValueError("gradient check needs a case built with mode='fwd_bwd'")
    weights = reference_weights(case, requires_grad=True)
    ref_inputs = reference_inputs(case, requires_grad=True)
    out = case.forward()
    case.backward(out)
    case.reference(weights, *ref_inputs).backward(grad.double())
    errors = {}
    for i, (x, rx) in enumerate(zip(case.inputs, ref_inputs, strict=True)):
        if x.requires_grad:
            errors[f"input{i}"] = relative_error(x.grad, rx.grad)
    for name, p in case.module.named_parameters():
        if p.requires_grad:
            errors[name] = relative_error(p.grad, weights[name].grad)
    return errors


def verify_gradients(case: Case) -> Verification:
    """The worst gradient error of a fwd_bwd case, against the gradient tolerance."""
    errors = gradient_errors(case)
    worst = max(errors.values(), default=math.inf)
    return Verification(worst, tolerance(case.config.dtype, case.inputs[0].device, grad=True))
