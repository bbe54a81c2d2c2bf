"""Causal long convolution in Triton that picks the strategy by shape: Toeplitz matmuls where they
are faster (short L), the Monarch FFT elsewhere, by the table in triton_dispatch."""

from __future__ import annotations

import torch

from . import _triton_common, triton_gated, triton_monarch
from ._triton_common import DTYPE_NAMES
from .triton_dispatch import strategy_for


def runnable_reason(*tensors: torch.Tensor) -> str:
    """Empty when the Triton kernels can run on `tensors` here, else why not (for the registry)."""
    return _triton_common.runnable_reason(triton_monarch.FIRST_KERNEL, *tensors)


def choose(batch: int, dtype: torch.dtype, seqlen: int) -> str:
    """The strategy `causal_conv` runs for inputs (batch, ·, seqlen) of `dtype`."""
    return strategy_for(batch, DTYPE_NAMES.get(dtype, "fp32"), seqlen)


def prepare_filter(
    h: torch.Tensor, seqlen: int, batch: int, dtype: torch.dtype
) -> triton_gated.PreparedFilter:
    """h prepared once for the strategy this shape dispatches to (pass it as `filt`)."""
    return triton_gated.prepare_filter(h, seqlen, batch, dtype, choose(batch, dtype, seqlen))


def gated_conv(
    v: torch.Tensor,
    h: torch.Tensor,
    bias: torch.Tensor,
    pre: torch.Tensor | None = None,
    post: torch.Tensor | None = None,
    filt: triton_gated.PreparedFilter | None = None,
) -> torch.Tensor:
    """triton_gated.gated_conv with the strategy chosen by shape (or by `filt`)."""
    strategy = choose(v.shape[0], v.dtype, v.shape[-1])
    return triton_gated.gated_conv(v, h, bias, pre, post, filt, strategy)


def causal_conv(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """y[b,d,t] = sum_{s<=t} h[d,s] u[b,d,t-s] + bias[d] u[b,d,t], differentiable, in u's dtype."""
    return gated_conv(u, h, bias)
