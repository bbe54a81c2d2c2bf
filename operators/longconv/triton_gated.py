"""The gated causal long convolution the fused Hyena layer calls, differentiable, in Triton:

    y = post ⊙ (h * x + bias ⊙ x),   x = pre ⊙ v,   (h * x)[t] = sum_{s<=t} h[s]·x[t - s]

v, pre, post, y: (B, D, L) in one dtype (fp32, fp16 or bf16); h (D, L) and bias (D,) in any of
them. `pre` and `post` are optional and fused into the kernels' loads and stores (no extra pass
over HBM). The filter can be prepared once per forward and passed in, so a layer that applies it
to several orders (or a backward that reuses it) does not redo it:

    filt = prepare_filter(h, seqlen=L, batch=B, dtype=torch.float16)   # e.g. the spectrum
    y = gated_conv(v, h, bias, pre=x1, post=x2, filt=filt)             # h still gets grad_h

Gradients: grad_v and grad_pre from the anti-causal convolution of grad_y ⊙ post; grad_h and
grad_bias from one batch-summed correlation kernel; grad_post = grad_y ⊙ (h * x + bias ⊙ x), the
forward recomputed (only when post needs a gradient). Each gradient is in its input's dtype.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch

from ._triton_common import check_inputs, require_runnable

STRATEGIES = ("toeplitz", "monarch")


def strategy_module(strategy: str):
    """The kernel module of a strategy: prepare, conv and correlate, and its first kernel."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    return importlib.import_module(f"operators.longconv.triton_{strategy}")


@dataclass(frozen=True)
class PreparedFilter:
    """A filter made ready for one strategy's kernels (Toeplitz: h in the dot dtype; Monarch: its
    spectrum), for inputs of `seqlen` and `dtype`."""

    strategy: str
    seqlen: int
    dtype: torch.dtype
    value: object


def prepare_filter(
    h: torch.Tensor, seqlen: int, batch: int, dtype: torch.dtype, strategy: str = "monarch"
) -> PreparedFilter:
    """Prepare h (D, L) once for `strategy` (triton_auto.prepare_filter picks it by shape)."""
    value = strategy_module(strategy).prepare(h, seqlen, batch, dtype)
    return PreparedFilter(strategy, seqlen, dtype, value)


class GatedConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, h, bias, pre, post, filt: PreparedFilter):
        mod = strategy_module(filt.strategy)
        v, bias = v.contiguous(), bias.contiguous()
        pre = None if pre is None else pre.contiguous()
        post = None if post is None else post.contiguous()
        ctx.save_for_backward(v, h, bias, pre, post)
        ctx.filt = filt
        return mod.conv(v, filt.value, bias, pre, post)

    @staticmethod
    def backward(ctx, grad_y):
        v, h, bias, pre, post = ctx.saved_tensors
        mod, filt = strategy_module(ctx.filt.strategy), ctx.filt.value
        need_v, need_h, need_bias, need_pre, need_post = ctx.needs_input_grad[:5]
        gy = grad_y.to(v.dtype).contiguous()
        grad_v = grad_h = grad_bias = grad_pre = grad_post = None
        if need_v or need_pre:
            # grad_x = (h ⋆ (gy ⊙ post)) + bias ⊙ gy ⊙ post; when pre needs no gradient the
            # kernel's store gate gives grad_v = grad_x ⊙ pre directly.
            fused = pre is not None and not need_pre
            gx = mod.conv(gy, filt, bias, post, pre if fused else None, anticausal=True)
            if pre is None or fused:
                grad_v = gx
            else:
                grad_v = (gx.float() * pre.float()).to(v.dtype) if need_v else None
                grad_pre = (gx.float() * v.float()).to(pre.dtype)
        if need_post:
            c = mod.conv(v, filt, bias, pre, None)
            grad_post = (gy.float() * c.float()).to(post.dtype)
        if need_h or need_bias:
            gh = mod.correlate(gy, v, filt, post, pre)  # lag 0 is the bias gradient
            grad_h, grad_bias = gh.to(h.dtype), gh[:, 0].to(bias.dtype)
        return grad_v, grad_h, grad_bias, grad_pre, grad_post, None


def gated_conv(
    v: torch.Tensor,
    h: torch.Tensor,
    bias: torch.Tensor,
    pre: torch.Tensor | None = None,
    post: torch.Tensor | None = None,
    filt: PreparedFilter | None = None,
    strategy: str = "monarch",
) -> torch.Tensor:
    """post ⊙ (h * (pre ⊙ v) + bias ⊙ (pre ⊙ v)), differentiable in v, h, bias, pre and post."""
    check_inputs(v, h, bias, pre, post)
    B, _, L = v.shape
    mod = strategy_module(strategy if filt is None else filt.strategy)
    require_runnable(mod.FIRST_KERNEL, v, h, bias)
    if filt is None:
        filt = prepare_filter(h, L, B, v.dtype, strategy)
    elif filt.seqlen != L or filt.dtype != v.dtype:
        raise ValueError(
            f"the prepared filter is for L={filt.seqlen}, {filt.dtype}; the input is L={L}, "
            f"{v.dtype}"
        )
    return GatedConv.apply(v, h, bias, pre, post, filt)
