"""Causal convolution by FFT in float32: rfft of u and h zero-padded to n = 2L, pointwise
product, irfft, first L outputs. O(L log L) work; computed in float32 whatever the input dtype
(torch's FFT has no half-precision path for arbitrary sizes), then cast back.
"""

from __future__ import annotations

import torch

from operators import counts
from operators.hyena import register_longconv


def causal_conv(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    n = u.shape[-1]
    fft_size = 2 * n  # zero padding to 2L makes the circular convolution causal
    h_f = torch.fft.rfft(h.float(), n=fft_size)
    u_f = torch.fft.rfft(u.float(), n=fft_size)
    y = torch.fft.irfft(u_f * h_f, n=fft_size)[..., :n]
    return (y + bias.float()[:, None] * u.float()).to(u.dtype)


register_longconv(
    "fft",
    causal_conv,
    "torch.fft rfft/irfft with n = 2L (zero-padded, causal), computed in float32 whatever the "
    "input dtype, result cast back",
    issued=counts.fft_conv_issued,
)
