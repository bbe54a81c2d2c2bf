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


def test_long_convolution_switches_to_the_fft_above_the_direct_limit(monkeypatch):
    """The Toeplitz form while D·L² entries fit (the limit included), the float64 FFT above;
    both give the plain loop's values."""
    g = torch.Generator().manual_seed(6)
    u = torch.randn(2, 3, 19, generator=g, dtype=torch.float64)
    h = torch.randn(3, 19, generator=g, dtype=torch.float64)
    bias = torch.randn(3, generator=g, dtype=torch.float64)
    ran = []
    for name in ("causal_conv_direct", "causal_conv_fft64"):
        real = getattr(reference, name)
        monkeypatch.setattr(
            reference, name, lambda *a, real=real, name=name: ran.append(name) or real(*a)
        )
    entries = 3 * 19 * 19
    for limit, path in ((entries, "causal_conv_direct"), (entries - 1, "causal_conv_fft64")):
        ran.clear()
        monkeypatch.setattr(reference, "DIRECT_CONV_MAX_ENTRIES", limit)
        torch.testing.assert_close(reference.causal_conv(u, h, bias), loop_conv(u, h, bias))
        assert ran == [path], limit


def blocks_of(monkeypatch, q: torch.Tensor, entries: int) -> list[int]:
    """The query-block lengths causal_attention uses for q's shape under a score budget."""
    sizes = []
    real = reference._attention_block
    monkeypatch.setattr(reference, "ATTENTION_SCORE_ENTRIES", entries)
    monkeypatch.setattr(
        reference, "_attention_block", lambda q, *a: sizes.append(q.shape[-2]) or real(q, *a)
    )
    reference.causal_attention(q, q, q)
    return sizes


def test_attention_query_blocks_fit_the_score_budget(monkeypatch):
    """block = budget // (rows · L) queries, rows = the product of the leading dimensions (1
    for a single (L, Dh) matrix), at least one query and at most L."""
    g = torch.Generator().manual_seed(7)
    n = 11
    four = torch.randn(2, 3, n, 4, generator=g, dtype=torch.float64)
    assert blocks_of(monkeypatch, four, 6 * n * 4) == [4, 4, 3]
    assert blocks_of(monkeypatch, four, 6 * n * 2 - 1) == [1] * n  # budget below 2 rows of L
    assert blocks_of(monkeypatch, four, 10**9) == [n]
    three = torch.randn(3, n, 4, generator=g, dtype=torch.float64)
    assert blocks_of(monkeypatch, three, 3 * n * 5) == [5, 5, 1]
    two = torch.randn(n, 4, generator=g, dtype=torch.float64)
    assert blocks_of(monkeypatch, two, n * 3) == [3, 3, 3, 2]


def test_attention_blocks_are_checkpointed_only_when_gradients_flow(monkeypatch):
    """Memory stays O(L·block) in the backward pass because each block is recomputed there;
    without gradients no checkpoint is set up."""
    calls = []
    real = reference.checkpoint

    def spy(fn, *args, **kwargs):
        calls.append(kwargs)
        return real(fn, *args, **kwargs)

    monkeypatch.setattr(reference, "checkpoint", spy)
    monkeypatch.setattr(reference, "ATTENTION_SCORE_ENTRIES", 1 * 2 * 9 * 3)  # blocks of 3
    g = torch.Generator().manual_seed(8)
    q = torch.randn(1, 2, 9, 4, generator=g, dtype=torch.float64)
    reference.causal_attention(q, q, q)
    with torch.no_grad():
        reference.causal_attention(q.requires_grad_(True), q, q)
    assert calls == []
    reference.causal_attention(q, q, q).sum().backward()
    assert calls == [{"use_reentrant": False}] * 3
