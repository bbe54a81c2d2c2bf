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


def test_attention_in_query_blocks_matches_one_block(monkeypatch):
    """Values and gradients do not depend on the block size (blocks of 2 queries here)."""
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, 11, 4, generator=g, dtype=torch.float64) for _ in range(3))
    grad = torch.randn(2, 3, 11, 4, generator=g, dtype=torch.float64)

    def run() -> list[torch.Tensor]:
        leaves = [x.clone().requires_grad_(True) for x in (q, k, v)]
        out = reference.causal_attention(*leaves)
        out.backward(grad)
        return [out.detach()] + [x.grad for x in leaves]

    whole = run()
    monkeypatch.setattr(reference, "ATTENTION_SCORE_ENTRIES", 2 * 2 * 3 * 11)
    for a, b in zip(run(), whole, strict=True):
        torch.testing.assert_close(a, b)


def test_attention_layer_matches_torch_multihead_attention():
    """torch.nn.MultiheadAttention stacks q, k, v projections and gives head i a contiguous slice
    of each, as the reference does: same weights, same outputs."""
    g = torch.Generator().manual_seed(4)
    d, heads, n = 12, 3, 9
    mha = torch.nn.MultiheadAttention(d, heads, batch_first=True, dtype=torch.float64)
    weights = {
        "qkv.weight": mha.in_proj_weight.detach(),
        "qkv.bias": torch.randn(3 * d, generator=g, dtype=torch.float64),
        "out_proj.weight": mha.out_proj.weight.detach(),
        "out_proj.bias": torch.randn(d, generator=g, dtype=torch.float64),
    }
    with torch.no_grad():
        mha.in_proj_bias.copy_(weights["qkv.bias"])
        mha.out_proj.bias.copy_(weights["out_proj.bias"])
    x = torch.randn(2, n, d, generator=g, dtype=torch.float64)
    future = torch.ones(n, n, dtype=torch.bool).triu(1)
    expected, _ = mha(x, x, x, attn_mask=future, need_weights=False)
    torch.testing.assert_close(reference.attention_layer(weights, x, heads=heads), expected)


def test_short_convolution_matches_a_plain_loop():
    g = torch.Generator().manual_seed(5)
    u = torch.randn(2, 4, 13, generator=g, dtype=torch.float64)
    w = torch.randn(4, 1, 3, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    expected = b[None, :, None].repeat(2, 1, 13)
    for t in range(13):
        for j in range(3):  # tap j multiplies u[t - 2 + j]
            if t - 2 + j >= 0:
                expected[..., t] += w[:, 0, j] * u[..., t - 2 + j]
    torch.testing.assert_close(reference.causal_short_conv(u, w, b), expected)
