"""The float64 references against independent, even more direct definitions."""

import math

import torch

from operators import reference


def loop_conv(u, h, bias):
    b, d, n = u.shape
    y = torch.zeros(b, d, n, dtype=torch.float64)
    for t in range(n):
        for s in range(t + 1):
            y[..., t] += h[:, s] * u[..., t - s]
    return y + bias[:, None] * u


def test_direct_and_fft_convolutions_match_a_plain_loop():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(2, 3, 37, generator=g, dtype=torch.float64)
    h = torch.randn(3, 37, generator=g, dtype=torch.float64)
    bias = torch.randn(3, generator=g, dtype=torch.float64)
    expected = loop_conv(u, h, bias)
    torch.testing.assert_close(reference.causal_conv_direct(u, h, bias), expected)
    torch.testing.assert_close(reference.causal_conv_fft64(u, h, bias), expected)


def test_convolution_is_causal():
    g = torch.Generator().manual_seed(1)
    u = torch.randn(1, 2, 50, generator=g, dtype=torch.float64)
    h = torch.randn(2, 50, generator=g, dtype=torch.float64)
    bias = torch.randn(2, generator=g, dtype=torch.float64)
    y = reference.causal_conv(u, h, bias)
    u2 = u.clone()
    u2[..., 30:] += 1.0  # changing the future must not change the past
    torch.testing.assert_close(reference.causal_conv(u2, h, bias)[..., :30], y[..., :30])


def test_attention_reference_matches_per_query_softmax():
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(1, 2, 9, 4, generator=g, dtype=torch.float64) for _ in range(3))
    out = reference.causal_attention(q, k, v)
    for t in range(9):
        scores = (q[..., t : t + 1, :] @ k[..., : t + 1, :].transpose(-1, -2)) / math.sqrt(4)
        expected = torch.softmax(scores, dim=-1) @ v[..., : t + 1, :]
        torch.testing.assert_close(out[..., t : t + 1, :], expected)
