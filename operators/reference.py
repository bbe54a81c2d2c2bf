"""float64 references that every implementation is checked against.

Written from the definitions, for clarity, in float64 on the caller's device. The layer references
take the module's weights as a dict named like its `state_dict()` and never call the module's code,
so a bug in a layer's own code (the gating order, the head split, the filter layout) is not
repeated here. Costs are stated per function: the runner checks rows at their timed length.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

Weights = Mapping[str, torch.Tensor]

# Above this many Toeplitz entries (D·L²) the direct convolution would not fit comfortably in
# memory (2^26 float64 = 512 MiB); the float64 FFT (checked against the direct form in tests)
# takes over.
DIRECT_CONV_MAX_ENTRIES = 1 << 26
# float64 attention scores held at once (2^26 = 512 MiB): sets the query block, so memory stays
# O(L·block) at any L, forward and backward (each block is recomputed in the backward pass).
ATTENTION_SCORE_ENTRIES = 1 << 26


# --- the causal long convolution -----------------------------------------------------------------


def causal_conv_direct(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """y[b,d,t] = sum_{s<=t} h[d,s]·u[b,d,t-s] + bias[d]·u[b,d,t], via the Toeplitz matrix.
    Cost: D·L² float64 memory, B·D·L² multiply-adds."""
    u, h, bias = u.double(), h.double(), bias.double()
    n = u.shape[-1]
    t = torch.arange(n, device=u.device)
    lag = t[:, None] - t[None, :]  # lag[t, s] = t - s
    toeplitz = h[:, lag.clamp(min=0)] * (lag >= 0)  # (D, L, L), zero above the diagonal
    return torch.einsum("dts,bds->bdt", toeplitz, u) + bias[:, None] * u


def causal_conv_fft64(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The same convolution by a zero-padded (n = 2L, so not circular) float64 FFT.
    Cost: O(B·D·L) float64 memory, O(B·D·L·log L) work."""
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


# --- causal softmax attention --------------------------------------------------------------------


def _attention_block(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int) -> torch.Tensor:
    """Queries start.. start+len(q) against keys 0..len(k): softmax(q k^T / sqrt(d), causal) v."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    t = start + torch.arange(q.shape[-2], device=q.device)[:, None]
    s = torch.arange(k.shape[-2], device=q.device)[None, :]
    scores = scores.masked_fill(s > t, float("-inf"))  # key s is in query t's future
    return torch.softmax(scores, dim=-1) @ v


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + causal mask) v in float64; q, k, v are (..., L, Dh).

    Computed in blocks of queries, each against the keys up to its end, so at most
    ATTENTION_SCORE_ENTRIES scores exist at once. Cost: O(rows·L·block + rows·L·Dh) float64 memory
    (rows = the product of the leading dims), about rows·L²·Dh multiply-adds (the causal half of
    the 2·rows·L²·Dh dense work, plus the diagonal blocks). With gradients on, each block is
    checkpointed: the backward pass recomputes it, so memory stays O(L·block) there too."""
    q, k, v = q.double(), k.double(), v.double()
    n = q.shape[-2]
    rows = max(1, math.prod(q.shape[:-2]))
    block = max(1, min(n, ATTENTION_SCORE_ENTRIES // (rows * n)))
    grad = torch.is_grad_enabled() and any(x.requires_grad for x in (q, k, v))
    outs = []
    for start in range(0, n, block):
        end = min(start + block, n)
        args = (q[..., start:end, :], k[..., :end, :], v[..., :end, :], start)
        outs.append(
            checkpoint(_attention_block, *args, use_reentrant=False)
            if grad
            else _attention_block(*args)
        )
    return torch.cat(outs, dim=-2)


# --- layers from their definitions --------------------------------------------------------------


def linear(x: torch.Tensor, weights: Weights, name: str) -> torch.Tensor:
    """x W^T + b for the nn.Linear called `name` (no bias term when the weights have none)."""
    y = x @ weights[f"{name}.weight"].double().T
    bias = weights.get(f"{name}.bias")
    return y if bias is None else y + bias.double()


def causal_short_conv(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Depthwise causal convolution with a K-tap kernel per channel, u (B, C, L), weight (C, 1, K):
    y[c,t] = bias[c] + sum_j weight[c,0,j]·u[c, t-(K-1)+j], with u = 0 before t = 0 (PyTorch's
    cross-correlation with K-1 zeros on the left, first L outputs). Cost: K·B·C·L."""
    taps, n = weight.shape[-1], u.shape[-1]
    y = bias.double()[:, None].expand_as(u)
    for j in range(taps):
        lag = taps - 1 - j
        y = y + weight[:, 0, j, None].double() * F.pad(u, (lag, 0))[..., :n]
    return y


def shared_frequency(weights: Weights, prefix: str) -> torch.Tensor:
    """safari's filter network uses one Sin module for all its activations: one frequency
    vector, found in the state dict under each activation's index. Different values there are
    not safari's network."""
    keys = sorted(k for k in weights if k.startswith(prefix) and k.endswith(".freq"))
    first = weights[keys[0]]
    for key in keys[1:]:
        if not torch.equal(weights[key], first):
            raise ValueError(f"{key} differs from {keys[0]}: safari shares one Sin frequency")
    return first.double()


def hyena_filter(weights: Weights, n: int, prefix: str = "filter_fn.") -> torch.Tensor:
    """The implicit filter, (channels, n): h = FFN(z(t)) ⊙ exp(-t·|delta|) for the first n
    positions, FFN = Linear, then (sin(freq ⊙ .), Linear) repeated, the last Linear without
    bias. Cost: n·width² for the FFN."""
    z = weights[f"{prefix}pos_emb.z"][0, :n].double()  # (n, emb_dim)
    t = weights[f"{prefix}pos_emb.t"][0, :n].double()  # (n, 1)
    body = f"{prefix}implicit_filter"
    layers = sorted(
        int(k.split(".")[-2]) for k in weights if k.startswith(body) and k.endswith(".weight")
    )
    freq = shared_frequency(weights, body)
    a = z
    for i, index in enumerate(layers):
        a = linear(a, weights, f"{body}.{index}")
        if i < len(layers) - 1:
            a = torch.sin(freq * a)
    decay = torch.exp(-t * weights[f"{prefix}modulation.deltas"][0].double().abs())  # (n, C)
    return (a * decay).T


def hyena_layer(weights: Weights, x: torch.Tensor, *, order: int) -> torch.Tensor:
    """safari's HyenaOperator (one head, one block, no dropout) from its definition, x (B, L, D).

    in-projection to order+1 streams [x_0, ..., x_(order-1), v] of D channels each; causal short
    convolution; inputs longer than l_max cut to l_max; for step o = 0..order-2: gate first,
    v <- v ⊙ x_(order-1-o), then convolve, v <- h_o * v + bias_o ⊙ v, where channel c of step o's
    filter (and bias) is channel c·(order-1) + o of the filter network (safari's `(v o)`
    interleave); finally y = out_proj(v ⊙ x_0).
    Cost: the projections (2(order+2)·B·L·D² flops) plus order-1 convolutions by `causal_conv`;
    memory O((order+1)·B·L·D) float64."""
    x = x.double()
    d, steps = x.shape[-1], order - 1
    n = min(x.shape[1], weights["filter_fn.pos_emb.z"].shape[1])
    u = linear(x, weights, "in_proj").transpose(1, 2)
    u = causal_short_conv(u, weights["short_filter.weight"], weights["short_filter.bias"])
    streams = [u[:, i * d : (i + 1) * d, :n] for i in range(order + 1)]
    filters = hyena_filter(weights, n)
    skip = weights["filter_fn.bias"].double()
    v = streams[order]
    for o in range(steps):
        v = v * streams[order - 1 - o]
        v = causal_conv(v, filters[o::steps], skip[o::steps])
    return linear((v * streams[0]).transpose(1, 2), weights, "out_proj")


def attention_layer(weights: Weights, x: torch.Tensor, *, heads: int) -> torch.Tensor:
    """Causal multi-head attention from its definition, x (B, L, D), one head at a time.

    The fused projection `qkv` stacks the q, k and v projections (rows 0..D, D..2D, 2D..3D); in
    each, head i owns rows i·Dh..(i+1)·Dh, Dh = D / heads. Head i's output fills channels
    i·Dh..(i+1)·Dh of the out-projection's input.
    Cost: 8·B·L·D² flops of projections plus `causal_attention` per head; memory O(B·L·D) float64
    plus one head's score block."""
    x = x.double()
    d = x.shape[-1]
    dh = d // heads
    w, b = weights["qkv.weight"].double(), weights["qkv.bias"].double()
    outs = []
    for i in range(heads):
        q, k, v = (
            x @ w[part * d + i * dh : part * d + (i + 1) * dh].T
            + b[part * d + i * dh : part * d + (i + 1) * dh]
            for part in range(3)
        )
        outs.append(causal_attention(q, k, v))
    return linear(torch.cat(outs, dim=-1), weights, "out_proj")
