"""Causal long convolution in Triton that picks the strategy by length: Toeplitz matmuls for short
sequences (O(L^2) work, no transforms), the Monarch FFT for long ones (O(L log L))."""

from __future__ import annotations

import torch

from . import _triton_common, triton_monarch, triton_toeplitz

# Longest L that uses the Toeplitz strategy. A PLACEHOLDER until measured on a GPU (to be measured
# on an H200, fp16/bf16, B=64, D=768, forward). Estimates (TRITON_NOTES.md) put the crossover
# between 2k and 4k: Toeplitz's O(L^2) tensor-core work against Monarch's HBM scratch traffic.
TOEPLITZ_MAX_L = 2048


def strategy_for(L: int) -> str:
    """'toeplitz' or 'monarch': the strategy `causal_conv` uses at sequence length L."""
    return "toeplitz" if L <= TOEPLITZ_MAX_L else "monarch"


def runnable_reason(*tensors: torch.Tensor) -> str:
    """Empty when the Triton kernels can run on `tensors` here, else why not (for the registry)."""
    return _triton_common.runnable_reason(triton_monarch._conv_rows_kernel, *tensors)


def causal_conv(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """y[b,d,t] = sum_{s<=t} h[d,s] u[b,d,t-s] + bias[d] u[b,d,t], differentiable, in u's dtype."""
    if strategy_for(u.shape[-1]) == "toeplitz":
        return triton_toeplitz.causal_conv(u, h, bias)
    return triton_monarch.causal_conv(u, h, bias)
