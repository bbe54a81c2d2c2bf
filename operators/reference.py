"""float64 references that every implementation is checked against.

Written for clarity, not speed: the direct definitions, in float64, on the caller's device.
"""

from __future__ import annotations

import math

import torch

# Above this many Toeplitz entries (D·L²) the direct convolution would not fit comfortably in
# memory; the float64 FFT (checked against the direct form in tests) takes over.
DIRECT_CONV_MAX_ENTRIES = 1 << 26


def causal_conv_direct(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """y[b,d,t] = sum_{s<=t} h[d,s]·u[b,d,t-s] + bias[d]·u[b,d,t], via the Toeplitz matrix."""
    u, h, bias = u.double(), h.double(), bias.double()
    n = u.shape[-1]
    t = torch.arange(n, device=u.device)
    lag = t[:, None] - t[None, :]  # lag[t, s] = t - s
    toeplitz = h[:, lag.clamp(min=0)] * (lag >= 0)  # (D, L, L), zero above the diagonal
    return torch.einsum("dts,bds->bdt", toeplitz, u) + bias[:, None] * u


def causal_conv_fft64(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The same convolution by a zero-padded (n = 2L, so not circular) float64 FFT."""
    u, h, bias = u.double(), h.double(), bias.double()
    n = u.shape[-1]
    spectrum = torch.fft.rfft(u, n=2 * n) * torch.fft.rfft(h, n=2 * n)
    return torch.fft.irfft(spectrum, n=2 * n)[..., :n] + bias[:, None] * u


def causal_conv(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """float64 causal long convolution with skip term: direct where it fits, else FFT."""
    d, n = h.shape
    if d * n * n <= DIRECT_CONV_MAX_ENTRIES:
        return causal_conv_direct(u, h, bias)
    return causal_conv_fft64(u, h, bias)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + causal mask) v in float64; q, k, v are (B, H, L, Dh)."""
    q, k, v = q.double(), k.double(), v.double()
    n = q.shape[-2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    future = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
    scores = scores.masked_fill(future, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
