"""The check the runner makes before timing: output against the float64 reference.

Error metric: max|out - ref| / max|ref| (the largest deviation relative to the output's scale;
an element-wise relative error would blow up where the reference is near zero). NaN never passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from operators.case import Case

# Largest accepted error per dtype. fp32 allows TF32 (10-bit mantissa), which cuDNN convolutions
# and Triton dots use by default on GPUs; fp16/bf16 allow their output rounding plus the
# intermediate roundings of a whole layer (bf16 keeps 8 bits of mantissa).
TOLERANCE = {"fp64": 1e-9, "fp32": 2e-3, "fp16": 1e-2, "bf16": 5e-2}


@dataclass(frozen=True)
class Verification:
    max_rel_err: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.max_rel_err <= self.tolerance


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """max|out - ref| / max|ref|; inf when out has NaN/inf or the shapes differ."""
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


def verify(case: Case) -> Verification:
    """Run the case's forward and its float64 reference on the same inputs and weights."""
    with torch.no_grad():
        out = case.forward()
        ref = case.make_reference()(*reference_inputs(case))
    return Verification(relative_error(out, ref), TOLERANCE[case.config.dtype])


def gradient_errors(case: Case) -> dict[str, float]:
    """Relative error of every input and parameter gradient against float64 autograd.

    The case's inputs and parameters must require grad (mode fwd_bwd)."""
    reference = case.make_reference()
    ref_inputs = reference_inputs(case, requires_grad=True)
    for p in reference.parameters():
        p.requires_grad_(True)
    grad = case.grad_output
    if grad is None:
        raise ValueError("gradient check needs a case built with mode='fwd_bwd'")
    out = case.forward()
    case.backward(out)
    reference(*ref_inputs).backward(grad.double())
    errors = {}
    for i, (x, rx) in enumerate(zip(case.inputs, ref_inputs, strict=True)):
        if x.requires_grad:
            errors[f"input{i}"] = relative_error(x.grad, rx.grad)
    ref_params = dict(reference.named_parameters())
    for name, p in case.module.named_parameters():
        if p.requires_grad and p.grad is not None:
            errors[name] = relative_error(p.grad, ref_params[name].grad)
    return errors
