"""Causal long convolution y = h * u + bias ⊙ u as blocked Toeplitz matrix products in Triton,
optionally gated (y = post ⊙ (h * x + bias ⊙ x), x = pre ⊙ v; triton_gated has the API).

Per channel d, Y[t, b] = sum_s T[t, s] U[s, b] with T[t, s] = h[t - s] (t >= s): each program owns
one output time block and walks the input time blocks, gathering the Toeplitz tile of h by index
arithmetic and feeding it to `tl.dot` with the batch as the dot's N dimension. O(L^2) work on
tensor cores, meant for short and medium L; `triton_monarch` is the O(L log L) strategy.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._triton_common import dot_precision
from .triton_work import CORR_BLOCK, CORR_ROWS, TOEPLITZ_BLOCK_T, toeplitz_batch_block

# 64x64 Toeplitz tiles: each gathered h element feeds BLOCK_B multiply-adds, and 64 keeps the
# wasted upper triangle of the diagonal tile (the only partly causal one) small.
BLOCK_T = TOEPLITZ_BLOCK_T
# Batch columns per program (triton_work.toeplitz_batch_block): B rounded up to a power of two,
# 16..64: tl.dot needs >= 16; 64 covers the benchmark's B=64 in one program, so each Toeplitz tile
# is gathered once per (channel, time block).
# grad_h (triton_work.CORR_BLOCK, CORR_ROWS): lag tiles of 32 x 32 contracted over 64 (batch, time
# block) rows per dot; 32 keeps the fp32 scratch (D x L x 32 x 4 bytes) small.
# Warps per program: 4, and 8 for 64 batch columns, whose [64, 64] fp32 accumulator and gathered
# tiles spilled at 4 warps (ptxas, sm_90); the grad_h kernels use 4.
NUM_WARPS = 4


@triton.jit
def _gated(ptr, gate_ptr, offs, mask, HAS_GATE: tl.constexpr):
    """x[offs] (times gate[offs]) in x's dtype, zero where not `mask`."""
    x = tl.load(ptr + offs, mask=mask, other=0.0)
    if HAS_GATE:
        gate = tl.load(gate_ptr + offs, mask=mask, other=0.0)
        x = (x.to(tl.float32) * gate.to(tl.float32)).to(x.dtype)
    return x


@triton.jit
def _toeplitz_kernel(x_ptr, pre_ptr, post_ptr, h_ptr, bias_ptr, y_ptr, B, D, L,
                     ANTICAUSAL: tl.constexpr, HAS_PRE: tl.constexpr, HAS_POST: tl.constexpr,
                     BLOCK_T: tl.constexpr, BLOCK_B: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """y[b,t] = sum_s h[t-s] x[b,s] + bias x[b,t]; ANTICAUSAL: sum_s h[s-t] x[b,s] + bias x[b,t];
    x times pre on load, y times post on store when given.

    x, pre, post, y: (B, D, L) and h: (D, L), contiguous. Program: (time block, channel, batch
    block).
    """
    pid_t = tl.program_id(0)
    d = tl.program_id(1).to(tl.int64)
    offs_t = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    offs_b = tl.program_id(2) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = offs_b.to(tl.int64)[None, :] * D * L + d * L  # [1, BLOCK_B] row offsets in x and y
    h_row = h_ptr + d * L
    b_ok = offs_b[None, :] < B
    acc = tl.zeros((BLOCK_T, BLOCK_B), dtype=tl.float32)
    if ANTICAUSAL:  # inputs at or after this output block
        lo = pid_t * BLOCK_T
        hi = L
    else:  # inputs at or before this output block
        lo = 0
        hi = pid_t * BLOCK_T + BLOCK_T
    for s0 in range(lo, hi, BLOCK_T):
        offs_s = s0 + tl.arange(0, BLOCK_T)
        lag = offs_t[:, None] - offs_s[None, :]  # t - s: causal
        if ANTICAUSAL:
            lag = -lag
        toeplitz = tl.load(h_row + lag, mask=(lag >= 0) & (lag < L), other=0.0)
        xs = _gated(x_ptr, pre_ptr, cols + offs_s[:, None], (offs_s[:, None] < L) & b_ok, HAS_PRE)
        acc = tl.dot(toeplitz, xs, acc, input_precision=PREC)
    out_mask = (offs_t[:, None] < L) & b_ok
    out = cols + offs_t[:, None]
    xt = _gated(x_ptr, pre_ptr, out, out_mask, HAS_PRE)
    acc += tl.load(bias_ptr + d).to(tl.float32) * xt.to(tl.float32)
    if HAS_POST:
        acc *= tl.load(post_ptr + out, mask=out_mask, other=0.0).to(tl.float32)
    tl.store(y_ptr + out, acc.to(y_ptr.dtype.element_ty), mask=out_mask)


@triton.jit
def _corr_tiles_kernel(g_ptr, gg_ptr, x_ptr, gx_ptr, s_ptr, B, D, L, NBLK,
                       HAS_GG: tl.constexpr, HAS_GX: tl.constexpr, TB: tl.constexpr,
                       ROWS: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """S[d, δ][i, j] = sum_b sum_p g[b, p·TB + i] x[b, (p - δ)·TB + j]: a dot over (b, p) rows;
    g and x times their gates gg, gx when given.

    g, gg, x, gx: (B, D, L) contiguous; S: (D, NBLK, TB, TB) fp32. Program: (δ, channel).
    """
    delta = tl.program_id(0)
    d = tl.program_id(1).to(tl.int64)
    n_p = NBLK - delta  # time blocks p with p - δ >= 0
    offs = tl.arange(0, TB)
    acc = tl.zeros((TB, TB), dtype=tl.float32)
    for r0 in range(0, B * n_p, ROWS):
        r = r0 + tl.arange(0, ROWS)
        ok = r < B * n_p
        row = (r // n_p).to(tl.int64) * D * L + d * L  # (b, d) row offsets
        t0 = (delta + r % n_p) * TB
        tg = t0[None, :] + offs[:, None]  # [TB, ROWS]: g, loaded transposed
        g = _gated(g_ptr, gg_ptr, row[None, :] + tg, ok[None, :] & (tg < L), HAS_GG)
        tx = (t0 - delta * TB)[:, None] + offs[None, :]  # [ROWS, TB]
        x = _gated(x_ptr, gx_ptr, row[:, None] + tx, ok[:, None] & (tx < L), HAS_GX)
        acc = tl.dot(g, x, acc, input_precision=PREC)
    s_tile = s_ptr + (d * NBLK + delta) * TB * TB
    tl.store(s_tile + offs[:, None] * TB + offs[None, :], acc)


@triton.jit
def _corr_diagonals_kernel(s_ptr, out_ptr, L, NBLK, TB: tl.constexpr):
    """out[d, κ·TB + e] = sum_i S[d, κ][i, i - e] (i >= e) + S[d, κ + 1][i, i - e + TB] (i < e)."""
    kappa = tl.program_id(0)
    d = tl.program_id(1).to(tl.int64)
    i = tl.arange(0, TB)[:, None]
    e = tl.arange(0, TB)[None, :]
    s_tile = s_ptr + (d * NBLK + kappa) * TB * TB
    lower = tl.load(s_tile + i * TB + (i - e), mask=i >= e, other=0.0)
    upper_mask = (i < e) & (kappa + 1 + 0 * i < NBLK)  # a tensor mask: triton 3.9 wants one
    upper = tl.load(s_tile + TB * TB + i * TB + (i - e + TB), mask=upper_mask, other=0.0)
    k = kappa * TB + tl.arange(0, TB)
    tl.store(out_ptr + d * L + k, tl.sum(lower + upper, axis=0), mask=k < L)


def conv(
    x: torch.Tensor,
    h: torch.Tensor,
    bias: torch.Tensor,
    pre: torch.Tensor | None = None,
    post: torch.Tensor | None = None,
    anticausal: bool = False,
) -> torch.Tensor:
    """post ⊙ (T x' + bias ⊙ x'), x' = pre ⊙ x, T causal (or anti-causal) Toeplitz of h; x, h,
    pre, post contiguous, of one dtype."""
    B, D, L = x.shape
    y = torch.empty_like(x)
    block_b = toeplitz_batch_block(B)
    grid = (triton.cdiv(L, BLOCK_T), D, triton.cdiv(B, block_b))
    warps = 2 * NUM_WARPS if block_b >= 64 else NUM_WARPS
    meta = dict(BLOCK_T=BLOCK_T, BLOCK_B=block_b, PREC=dot_precision(x.dtype), num_warps=warps)
    flags = dict(ANTICAUSAL=anticausal, HAS_PRE=pre is not None, HAS_POST=post is not None)
    gates = (x if pre is None else pre, x if post is None else post)
    _toeplitz_kernel[grid](x, *gates, h, bias, y, B, D, L, **flags, **meta)
    return y


def correlate(
    g: torch.Tensor,
    x: torch.Tensor,
    h: torch.Tensor,
    g_gate: torch.Tensor | None = None,
    x_gate: torch.Tensor | None = None,
) -> torch.Tensor:
    """out[d, k] = sum_b sum_t (g·g_gate)[b, d, t] (x·x_gate)[b, d, t - k], fp32 (D, L)."""
    B, D, L = x.shape
    nblk = triton.cdiv(L, CORR_BLOCK)
    tiles = torch.empty((D, nblk, CORR_BLOCK, CORR_BLOCK), device=x.device, dtype=torch.float32)
    meta = dict(TB=CORR_BLOCK, PREC=dot_precision(x.dtype), num_warps=NUM_WARPS)
    flags = dict(HAS_GG=g_gate is not None, HAS_GX=x_gate is not None)
    gates = (g if g_gate is None else g_gate, x if x_gate is None else x_gate)
    args = (g, gates[0], x, gates[1], tiles, B, D, L, nblk)
    _corr_tiles_kernel[(nblk, D)](*args, ROWS=CORR_ROWS, **flags, **meta)
    out = torch.empty((D, L), device=x.device, dtype=torch.float32)
    _corr_diagonals_kernel[(nblk, D)](tiles, out, L, nblk, TB=CORR_BLOCK, num_warps=NUM_WARPS)
    return out


# --- The strategy, as triton_gated calls it (prepare, conv, correlate) ----------------------------
FIRST_KERNEL = _toeplitz_kernel  # where the kernels were built for (GPU or interpreter)


def prepare(h: torch.Tensor, seqlen: int, batch: int, dtype: torch.dtype) -> torch.Tensor:
    """The filter as these kernels read it: h in the dot dtype, contiguous."""
    return h.detach().to(dtype).contiguous()


def causal_conv(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """y[b,d,t] = sum_{s<=t} h[d,s] u[b,d,t-s] + bias[d] u[b,d,t], differentiable, in u's dtype."""
    from . import triton_gated

    return triton_gated.gated_conv(u, h, bias, strategy="toeplitz")
