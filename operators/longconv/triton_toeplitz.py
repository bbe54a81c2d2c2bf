"""Causal long convolution y = h * u + bias ⊙ u as blocked Toeplitz matrix products in Triton.

Per channel d, Y[t, b] = sum_s T[t, s] U[s, b] with T[t, s] = h[t - s] (t >= s): each program owns
one output time block and walks the input time blocks, gathering the Toeplitz tile of h by index
arithmetic and feeding it to `tl.dot` with the batch as the dot's N dimension. O(L^2) work on
tensor cores, meant for short and medium L; `triton_monarch` is the O(L log L) strategy.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._triton_common import check_inputs, dot_precision, next_power_of_2, require_runnable

# 64x64 Toeplitz tiles: each gathered h element feeds BLOCK_B multiply-adds, and 64 keeps the
# wasted upper triangle of the diagonal tile (the only partly causal one) small.
BLOCK_T = 64
# Batch columns per program: tl.dot needs >= 16; 64 covers the benchmark's B=64 in one program, so
# each Toeplitz tile is gathered once per (channel, time block).
MIN_BLOCK_B, MAX_BLOCK_B = 16, 64
# grad_h: lag tiles of CORR_BLOCK x CORR_BLOCK, contracted over CORR_ROWS (batch, time block) rows
# per dot; 32 keeps the fp32 scratch (D x L x CORR_BLOCK x 4 bytes) small.
CORR_BLOCK = 32
CORR_ROWS = 64
# Warps per program: 4, and 8 for 64 batch columns, whose [64, 64] fp32 accumulator and gathered
# tiles spilled at 4 warps (ptxas, sm_90); the grad_h kernels use 4.
NUM_WARPS = 4


@triton.jit
def _toeplitz_kernel(x_ptr, h_ptr, bias_ptr, y_ptr, B, D, L, ANTICAUSAL: tl.constexpr,
                     BLOCK_T: tl.constexpr, BLOCK_B: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """y[b,t] = sum_s h[t-s] x[b,s] + bias x[b,t]; ANTICAUSAL: sum_s h[s-t] x[b,s] + bias x[b,t].

    x, y: (B, D, L) and h: (D, L), contiguous. Program: (time block, channel, batch block).
    """
    pid_t = tl.program_id(0)
    d = tl.program_id(1).to(tl.int64)
    offs_t = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    offs_b = tl.program_id(2) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = offs_b.to(tl.int64)[None, :] * D * L + d * L  # [1, BLOCK_B] row offsets in x and y
    x_cols = x_ptr + cols
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
        xs = tl.load(x_cols + offs_s[:, None], mask=(offs_s[:, None] < L) & b_ok, other=0.0)
        acc = tl.dot(toeplitz, xs, acc, input_precision=PREC)
    out_mask = (offs_t[:, None] < L) & b_ok
    xt = tl.load(x_cols + offs_t[:, None], mask=out_mask, other=0.0)
    acc += tl.load(bias_ptr + d).to(tl.float32) * xt.to(tl.float32)
    tl.store(y_ptr + cols + offs_t[:, None], acc.to(y_ptr.dtype.element_ty), mask=out_mask)


@triton.jit
def _corr_tiles_kernel(g_ptr, x_ptr, s_ptr, B, D, L, NBLK, TB: tl.constexpr, ROWS: tl.constexpr,
                       PREC: tl.constexpr):  # fmt: skip
    """S[d, δ][i, j] = sum_b sum_p g[b, p·TB + i] x[b, (p - δ)·TB + j]: a dot over (b, p) rows.

    g, x: (B, D, L) contiguous; S: (D, NBLK, TB, TB) fp32. Program: (δ, channel).
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
        g = tl.load(g_ptr + row[None, :] + tg, mask=ok[None, :] & (tg < L), other=0.0)
        tx = (t0 - delta * TB)[:, None] + offs[None, :]  # [ROWS, TB]
        x = tl.load(x_ptr + row[:, None] + tx, mask=ok[:, None] & (tx < L), other=0.0)
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
    upper_mask = (i < e) & (kappa + 1 < NBLK)
    upper = tl.load(s_tile + TB * TB + i * TB + (i - e + TB), mask=upper_mask, other=0.0)
    k = kappa * TB + tl.arange(0, TB)
    tl.store(out_ptr + d * L + k, tl.sum(lower + upper, axis=0), mask=k < L)


def _toeplitz(x: torch.Tensor, h: torch.Tensor, bias: torch.Tensor, anticausal: bool):
    """Launch `_toeplitz_kernel`; x (B, D, L) and h (D, L) contiguous, of one dtype."""
    B, D, L = x.shape
    y = torch.empty_like(x)
    block_b = min(max(next_power_of_2(B), MIN_BLOCK_B), MAX_BLOCK_B)
    grid = (triton.cdiv(L, BLOCK_T), D, triton.cdiv(B, block_b))
    warps = 2 * NUM_WARPS if block_b >= 64 else NUM_WARPS
    meta = dict(BLOCK_T=BLOCK_T, BLOCK_B=block_b, PREC=dot_precision(x.dtype), num_warps=warps)
    _toeplitz_kernel[grid](x, h, bias, y, B, D, L, ANTICAUSAL=anticausal, **meta)
    return y


def _correlate(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """out[d, k] = sum_b sum_t g[b, d, t] x[b, d, t - k] in fp32, (D, L); g, x contiguous."""
    B, D, L = x.shape
    nblk = triton.cdiv(L, CORR_BLOCK)
    tiles = torch.empty((D, nblk, CORR_BLOCK, CORR_BLOCK), device=x.device, dtype=torch.float32)
    meta = dict(TB=CORR_BLOCK, PREC=dot_precision(x.dtype), num_warps=NUM_WARPS)
    _corr_tiles_kernel[(nblk, D)](g, x, tiles, B, D, L, nblk, ROWS=CORR_ROWS, **meta)
    out = torch.empty((D, L), device=x.device, dtype=torch.float32)
    _corr_diagonals_kernel[(nblk, D)](tiles, out, L, nblk, TB=CORR_BLOCK, num_warps=NUM_WARPS)
    return out


class ToeplitzCausalConv(torch.autograd.Function):
    """Forward and backward both run the Triton kernels above; grads in the inputs' dtypes."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        check_inputs(u, h, bias)
        require_runnable(_toeplitz_kernel, u, h, bias)
        u, bias = u.contiguous(), bias.contiguous()
        hu = h.to(u.dtype).contiguous()  # one operand dtype for tl.dot
        ctx.save_for_backward(u, hu, bias)
        ctx.dtypes = (h.dtype, bias.dtype)
        return _toeplitz(u, hu, bias, anticausal=False)

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):
        u, hu, bias = ctx.saved_tensors
        grad_y = grad_y.to(u.dtype).contiguous()
        grad_u = grad_h = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_u = _toeplitz(grad_y, hu, bias, anticausal=True)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            gh = _correlate(grad_y, u)  # lag 0 is sum_b sum_t grad_y u: the bias gradient
            grad_h, grad_bias = gh.to(ctx.dtypes[0]), gh[:, 0].to(ctx.dtypes[1])
        return grad_u, grad_h, grad_bias


def causal_conv(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """y[b,d,t] = sum_{s<=t} h[d,s] u[b,d,t-s] + bias[d] u[b,d,t], differentiable, in u's dtype."""
    return ToeplitzCausalConv.apply(u, h, bias)
