"""`hyena-fused`: the whole Hyena layer with its elementwise work fused into a few kernels, the same
function and the same weights (state dict) as operators.hyena.HyenaOperator.

One forward, for order o and D channels per stream:
1. in-projection x (B, L, D) -> u (B, L, (o+1)·D): torch's matmul in the input dtype (cuBLAS);
2. one Triton kernel (operators/fused/short_conv.py) for the depthwise short convolution of every
   channel and the first gate, reading u in its own layout and writing the streams x_0 .. x_(o-2)
   and x_(o-1) ⊙ v as (B, D, L): no transpose through HBM;
3. the implicit filter for all o-1 steps in one call of the filter network, its spectrum (or
   Toeplitz operand) prepared once for all steps (kept by autograd for the backward);
4. o-1 Triton long convolutions (operators/longconv/triton_gated.py, strategy by shape), each
   with the next gate multiplied on load and, on the last, x_0 multiplied on store;
5. out-projection of the (B, D, L) result read through a transposed view (torch's matmul).
Forward and backward; fp32, fp16, bf16 (bf16 on a GPU: Triton's interpreter computes it wrongly).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib

import torch
import torch.nn.functional as F

from operators import capabilities, counts, reference
from operators.case import Case, generator, init_module, randn, stage
from operators.config import Config
from operators.hyena import HyenaOperator, issued_flops
from operators.longconv.triton_specs import dispatched_variant, triton_issued
from operators.registry import OperatorSpec, register, same_variant_batch

MAX_SEQLEN = 128 * 1024  # the Monarch plan's largest FFT (operators/longconv/triton_specs.py)
INTERPRETER_NOTE = (
    "; here under TRITON_INTERPRET=1, Triton's CPU interpreter: correct but not a "
    "performance measurement"
)


@functools.cache
def kernels(name: str):
    """A Triton kernel module, imported on first use: `hyena-bench list` must not import Triton
    (it says why Triton cannot run instead)."""
    return importlib.import_module(f"operators.{name}")


def channel_rows(prepared: object, start: int, stop: int, channels: int) -> object:
    """Channels start..stop of a filter prepared for `channels` channels: a per-channel tensor is
    sliced, and so is every per-channel tensor of a prepared dataclass (a Monarch spectrum's
    values, scale and sum); other fields (the plan) are shared."""
    if isinstance(prepared, torch.Tensor):
        return prepared[start:stop]
    changes = {}
    for f in dataclasses.fields(prepared):
        value = getattr(prepared, f.name)
        if isinstance(value, torch.Tensor) and value.dim() and value.shape[0] == channels:
            changes[f.name] = value[start:stop]
    return dataclasses.replace(prepared, **changes)


class FusedHyenaOperator(HyenaOperator):
    """HyenaOperator's parameters and function; forward through the fused kernels above."""

    def __init__(self, d_model: int, l_max: int, order: int, stages: bool = False) -> None:
        super().__init__(d_model, l_max, order, long_conv=None, stages=stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, n = x.shape[0], min(x.shape[1], self.l_max)
        d, steps = self.d_model, self.order - 1
        with stage("hyena.in_proj", self.stages):
            u = F.linear(x, self.in_proj.weight, self.in_proj.bias)  # (B, L, (order+1)·D)
        with stage("hyena.short_conv", self.stages):
            conv = self.short_filter
            *xs, v = kernels("fused.short_conv").short_conv_gate(
                u, conv.weight, conv.bias, self.order, n
            )
        with stage("hyena.filter", self.stages):
            # filter channel c·steps + o belongs to step o: step-major rows, (steps·D, n)
            h = self.filter_fn(n).view(d, steps, n).transpose(0, 1).reshape(steps * d, n)
            bias = self.filter_fn.bias.view(d, steps).t().reshape(steps * d)
            prepared = kernels("longconv.triton_auto").prepare_filter(h, n, batch, x.dtype)
        with stage("hyena.long_conv", self.stages):
            for o in range(steps):
                rows = slice(o * d, (o + 1) * d)
                filt = dataclasses.replace(
                    prepared, value=channel_rows(prepared.value, o * d, (o + 1) * d, steps * d)
                )
                pre = xs[self.order - 1 - o] if o > 0 else None  # step 0's gate: in the kernel
                post = xs[0] if o == steps - 1 else None
                gated_conv = kernels("longconv.triton_gated").gated_conv
                v = gated_conv(v, h[rows], bias[rows], pre, post, filt=filt)
        with stage("hyena.out_proj", self.stages):
            return self.out_proj(v.transpose(1, 2))


def build(config: Config, device: torch.device | str, stages: bool = False) -> Case:
    if config.level != "layer":
        raise ValueError("hyena-fused is a layer; its long convolution alone is hyena-triton")
    device = torch.device(device)
    b, n, d = config.batch, config.seqlen, config.d_model
    gen = generator(device)
    module = init_module(
        lambda: FusedHyenaOperator(d, n, config.order, stages=stages), config, device
    )
    grad_output = None
    if config.mode == "fwd_bwd":
        grad_output = randn((b, n, d), config, device, gen=gen, requires_grad=False)
    inputs = (randn((b, n, d), config, device, gen=gen),)
    return Case(
        config=config,
        module=module,
        inputs=inputs,
        reference=functools.partial(reference.hyena_layer, order=config.order),
        grad_output=grad_output,
    )


def limits(config: Config, device: torch.device) -> str | None:
    if config.seqlen > MAX_SEQLEN:
        return f"L={config.seqlen} exceeds the Monarch plan's maximum {MAX_SEQLEN}"
    if device.type == "cpu" and config.dtype == "bf16":
        return "Triton's CPU interpreter computes bf16 incorrectly; bf16 runs on a GPU only"
    return None


SPEC = register(
    OperatorSpec(
        name="hyena-fused",
        family="hyena",
        build=build,
        flops=counts.hyena_flops,
        bytes=counts.hyena_bytes,
        detail=(
            "Hyena layer with fused kernels: projections by torch matmul (cuBLAS); one Triton "
            "kernel for the short convolution of all channels and the first gate, (B, L, C) in, "
            "(B, D, L) out; the filter network once for all orders and its spectrum prepared "
            "once; Triton long convolutions (Toeplitz or Monarch by shape) with the gates on "
            "their loads and stores; backward in Triton"
            + (INTERPRETER_NOTE if capabilities.triton_interpreting() else "")
        ),
        requires=("triton",),
        levels=("layer",),
        limits=limits,
        # the long convolutions dispatch as hyena-triton's (triton_auto): same count, same check
        issued_flops=issued_flops(triton_issued(None)),
        verify_batch=same_variant_batch(dispatched_variant),
    )
)
