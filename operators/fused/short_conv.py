"""The Hyena layer's depthwise causal short convolution (3 taps) over every projected channel, with
the first gate multiply, as one Triton kernel that reads the in-projection's output once:

    s_c[t] = bias_c + w_c0·u[t-2, c] + w_c1·u[t-1, c] + w_c2·u[t, c]      (u[t < 0] = 0)
    stream i = channels i·D .. (i+1)·D of s, i = 0 .. order
    out[i] = stream i for i < order-1,   out[order-1] = stream (order-1) ⊙ stream order

u is the projection's (B, L, C) output, C = (order+1)·D, read in its own layout (channels
contiguous, so the loads are coalesced); each output stream is written as (B, D, N), N <= L
positions, the layout the long convolution reads: the transpose happens in registers, never as a
separate pass through HBM. The backward recomputes the gated pair from u instead of keeping it.
Forward and backward compute in fp32 and store in u's dtype (fp32, fp16 or bf16).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from operators.longconv._triton_common import require_runnable

TAPS = 3  # the kernels are written for Hyena's kernel-3 short convolution (hyena.SHORT_KERNEL)
# Forward [time, channel] tiles of 64 x 64: a row of 64 fp16 channels is one 128-byte line on
# load, a column of 64 fp16 time steps one line on the transposed store. 8 warps: with 4, the
# [64, 64] tiles spilled (ptxas, sm_90: 224..388 bytes a thread); with 8 none spill (operators/
# fused/aot.py prints registers and spills).
FWD_BLOCK_L, FWD_BLOCK_D, FWD_WARPS = 64, 64, 8
# Backward tiles of 16 x 32: the gated launch keeps the recomputed pair at three shifts and the
# gradient at three shifts live; [16, 64] spilled 196 bytes a thread, [16, 32] none.
BWD_BLOCK_L, BWD_BLOCK_D, BWD_WARPS = 16, 32, 4
# The backward's weight gradient is a sum over batch and time: each program sums a chunk of time
# for one (channel block, batch) and writes one partial per chunk; torch adds the partials. About
# this many programs keep a GPU busy (132 SMs on an H200, a few programs each) while the partials
# stay small (programs x 64 channels x 4 values x 4 bytes).
BACKWARD_PROGRAMS = 1024
# The interpreter runs programs one after another: fewer, longer programs are faster there, and
# more than one chunk still tests the partial sums.
INTERPRETER_BACKWARD_PROGRAMS = 4


# --- Kernels ------------------------------------------------------------------------------------
@triton.jit
def _conv_at(u_row, c, c_ok, t, w0, w1, w2, bias, N, C):
    """s[t, c] = bias + w0·u[t-2] + w1·u[t-1] + w2·u[t] in fp32 for a [time, channel] tile;
    zero where t is outside 0..N-1 (no output there, so no gradient either)."""
    ok = ((t >= 0) & (t < N))[:, None] & c_ok[None, :]
    src = u_row + t[:, None] * C + c[None, :]
    u0 = tl.load(src - 2 * C, mask=ok & (t >= 2)[:, None], other=0.0).to(tl.float32)
    u1 = tl.load(src - C, mask=ok & (t >= 1)[:, None], other=0.0).to(tl.float32)
    u2 = tl.load(src, mask=ok, other=0.0).to(tl.float32)
    s = bias[None, :] + w0[None, :] * u0 + w1[None, :] * u1 + w2[None, :] * u2
    return tl.where(ok, s, 0.0)


@triton.jit
def _taps(w_ptr, b_ptr, c, c_ok):
    """The three weights and the bias of channels c, in fp32."""
    w0 = tl.load(w_ptr + c * 3, mask=c_ok, other=0.0).to(tl.float32)
    w1 = tl.load(w_ptr + c * 3 + 1, mask=c_ok, other=0.0).to(tl.float32)
    w2 = tl.load(w_ptr + c * 3 + 2, mask=c_ok, other=0.0).to(tl.float32)
    bias = tl.load(b_ptr + c, mask=c_ok, other=0.0).to(tl.float32)
    return w0, w1, w2, bias


@triton.jit
def _short_conv_fwd_kernel(u_ptr, w_ptr, b_ptr, out_ptr, B, L, N, D,
                           ORDER: tl.constexpr, BLOCK_L: tl.constexpr,
                           BLOCK_D: tl.constexpr):  # fmt: skip
    """u (B, L, C) -> out (ORDER, B, D, N). Program: (time block, channel block, batch)."""
    C = (ORDER + 1) * D
    b = tl.program_id(2).to(tl.int64)
    t = tl.program_id(0) * BLOCK_L + tl.arange(0, BLOCK_L)
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    d_ok = d < D
    u_row = u_ptr + b * L * C
    store_ok = (t < N)[:, None] & d_ok[None, :]
    dst = d[None, :].to(tl.int64) * N + t[:, None]  # (d, t) of one (B, D, N) stream
    for i in tl.static_range(ORDER - 1):
        w0, w1, w2, bias = _taps(w_ptr, b_ptr, i * D + d, d_ok)
        s = _conv_at(u_row, i * D + d, d_ok, t, w0, w1, w2, bias, N, C)
        tl.store(out_ptr + (i * B + b) * D * N + dst, s.to(out_ptr.dtype.element_ty), store_ok)
    w0, w1, w2, bias = _taps(w_ptr, b_ptr, (ORDER - 1) * D + d, d_ok)
    gate = _conv_at(u_row, (ORDER - 1) * D + d, d_ok, t, w0, w1, w2, bias, N, C)
    w0, w1, w2, bias = _taps(w_ptr, b_ptr, ORDER * D + d, d_ok)
    v = _conv_at(u_row, ORDER * D + d, d_ok, t, w0, w1, w2, bias, N, C)
    dst += ((ORDER - 1) * B + b) * D * N
    tl.store(out_ptr + dst, (gate * v).to(out_ptr.dtype.element_ty), store_ok)


@triton.jit
def _grad_at(g_ptr, d, d_ok, t, N):
    """The incoming gradient of one (B, D, N) stream at [time t, channel d], fp32, zero past N."""
    ok = ((t >= 0) & (t < N))[:, None] & d_ok[None, :]
    return tl.load(g_ptr + d[None, :].to(tl.int64) * N + t[:, None], mask=ok, other=0.0).to(
        tl.float32
    )


@triton.jit
def _input_grads(u_row, gu_row, c, d_ok, t, g0, g1, g2, w0, w1, w2, L, C):
    """Through the taps, given the gradient g_k of s at times t + k (k = 0, 1, 2):
    grad_u[t] = w2·g_0 + w1·g_1 + w0·g_2 is stored; returns the block's sums of g_0·u[t-2+j]
    (the weight gradients, j = 0, 1, 2) and of g_0 (the bias gradient)."""
    gu = w2[None, :] * g0 + w1[None, :] * g1 + w0[None, :] * g2
    ok = (t < L)[:, None] & d_ok[None, :]
    tl.store(gu_row + t[:, None] * C + c[None, :], gu.to(gu_row.dtype.element_ty), ok)
    src = u_row + t[:, None] * C + c[None, :]
    u0 = tl.load(src - 2 * C, mask=ok & (t >= 2)[:, None], other=0.0)
    u1 = tl.load(src - C, mask=ok & (t >= 1)[:, None], other=0.0)
    u2 = tl.load(src, mask=ok, other=0.0)
    gw0 = tl.sum(g0 * u0.to(tl.float32), axis=0)
    gw1 = tl.sum(g0 * u1.to(tl.float32), axis=0)
    gw2 = tl.sum(g0 * u2.to(tl.float32), axis=0)
    return gw0, gw1, gw2, tl.sum(g0, axis=0)


@triton.jit
def _store_partials(gw_ptr, gb_ptr, part, c, d_ok, gw0, gw1, gw2, gb, C):
    """One program's sums: weight gradients at gw[part, c, j], bias gradient at gb[part, c]."""
    row = part * C + c
    tl.store(gw_ptr + row * 3, gw0, d_ok)
    tl.store(gw_ptr + row * 3 + 1, gw1, d_ok)
    tl.store(gw_ptr + row * 3 + 2, gw2, d_ok)
    tl.store(gb_ptr + row, gb, d_ok)


@triton.jit
def _short_conv_bwd_kernel(u_ptr, w_ptr, b_ptr, g_ptr, gu_ptr, gw_ptr, gb_ptr, B, L, N, D, C,
                           c0, CHUNK, GATED: tl.constexpr, BLOCK_L: tl.constexpr,
                           BLOCK_D: tl.constexpr):  # fmt: skip
    """Gradients of one output stream g (B, D, N) into grad_u (B, L, C) and per-program partial
    weight and bias gradients (programs, C, 3) and (programs, C).

    Plain: the stream is channels c0 .. c0+D of s. GATED: it is a ⊙ v, a = channels c0.., v =
    channels c0+D..; both are recomputed from u, and grad_a = g ⊙ v, grad_v = g ⊙ a.
    Program: (time chunk, channel block, batch); a chunk is CHUNK time steps."""
    chunk, b = tl.program_id(0), tl.program_id(2).to(tl.int64)
    part = (chunk * tl.num_programs(1) + tl.program_id(1)) * tl.num_programs(2) + b
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    d_ok = d < D
    u_row, gu_row, g_row = u_ptr + b * L * C, gu_ptr + b * L * C, g_ptr + b * D * N
    ca = c0 + d
    w0, w1, w2, bias = _taps(w_ptr, b_ptr, ca, d_ok)
    sa0 = tl.zeros((BLOCK_D,), dtype=tl.float32)
    sa1, sa2, sab = sa0, sa0, sa0
    if GATED:
        cv = c0 + D + d
        v0, v1, v2, vbias = _taps(w_ptr, b_ptr, cv, d_ok)
        sv0, sv1, sv2, svb = sa0, sa0, sa0, sa0
    for start in range(chunk * CHUNK, tl.minimum(chunk * CHUNK + CHUNK, L), BLOCK_L):
        t = start + tl.arange(0, BLOCK_L)
        g0 = _grad_at(g_row, d, d_ok, t, N)
        g1 = _grad_at(g_row, d, d_ok, t + 1, N)
        g2 = _grad_at(g_row, d, d_ok, t + 2, N)
        if GATED:
            # grad_a(t+k) = g(t+k)·v(t+k), grad_v(t+k) = g(t+k)·a(t+k), recomputed from u
            a0 = _conv_at(u_row, ca, d_ok, t, w0, w1, w2, bias, N, C)
            a1 = _conv_at(u_row, ca, d_ok, t + 1, w0, w1, w2, bias, N, C)
            a2 = _conv_at(u_row, ca, d_ok, t + 2, w0, w1, w2, bias, N, C)
            b0 = _conv_at(u_row, cv, d_ok, t, v0, v1, v2, vbias, N, C)
            b1 = _conv_at(u_row, cv, d_ok, t + 1, v0, v1, v2, vbias, N, C)
            b2 = _conv_at(u_row, cv, d_ok, t + 2, v0, v1, v2, vbias, N, C)
            x0, x1, x2, xb = _input_grads(u_row, gu_row, cv, d_ok, t, g0 * a0, g1 * a1, g2 * a2,
                                          v0, v1, v2, L, C)  # fmt: skip
            sv0, sv1, sv2, svb = sv0 + x0, sv1 + x1, sv2 + x2, svb + xb
            g0, g1, g2 = g0 * b0, g1 * b1, g2 * b2
        x0, x1, x2, xb = _input_grads(u_row, gu_row, ca, d_ok, t, g0, g1, g2, w0, w1, w2, L, C)
        sa0, sa1, sa2, sab = sa0 + x0, sa1 + x1, sa2 + x2, sab + xb
    _store_partials(gw_ptr, gb_ptr, part, ca, d_ok, sa0, sa1, sa2, sab, C)
    if GATED:
        _store_partials(gw_ptr, gb_ptr, part, cv, d_ok, sv0, sv1, sv2, svb, C)


# --- Launchers ----------------------------------------------------------------------------------
def short_conv_forward(
    u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, order: int, n: int
) -> torch.Tensor:
    """u (B, L, (order+1)·D) contiguous -> (order, B, D, n): the streams x_0 .. x_(order-2), then
    x_(order-1) ⊙ v."""
    B, L, C = u.shape
    D = C // (order + 1)
    out = torch.empty(order, B, D, n, device=u.device, dtype=u.dtype)
    grid = (triton.cdiv(n, FWD_BLOCK_L), triton.cdiv(D, FWD_BLOCK_D), B)
    _short_conv_fwd_kernel[grid](u, weight, bias, out, B, L, n, D, ORDER=order,
                                 BLOCK_L=FWD_BLOCK_L, BLOCK_D=FWD_BLOCK_D,
                                 num_warps=FWD_WARPS)  # fmt: skip
    return out


def time_chunk(L: int, other_programs: int, device: torch.device) -> int:
    """Time steps per backward program (a multiple of BWD_BLOCK_L): about BACKWARD_PROGRAMS
    programs in all (INTERPRETER_BACKWARD_PROGRAMS in the interpreter)."""
    programs = BACKWARD_PROGRAMS if device.type == "cuda" else INTERPRETER_BACKWARD_PROGRAMS
    chunks = max(1, min(triton.cdiv(L, BWD_BLOCK_L), programs // max(1, other_programs)))
    return triton.cdiv(triton.cdiv(L, chunks), BWD_BLOCK_L) * BWD_BLOCK_L


def short_conv_backward(
    u: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    grads: list[torch.Tensor | None],
    n: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """grad_u (B, L, C) in u's dtype, grad_weight (C, 1, 3) and grad_bias (C,) in theirs, from
    the gradients of the `order` output streams (None: no gradient reached that stream)."""
    B, L, C = u.shape
    order = len(grads)
    D = C // (order + 1)
    d_blocks = triton.cdiv(D, BWD_BLOCK_D)
    chunk = time_chunk(L, d_blocks * B, u.device)
    grid = (triton.cdiv(L, chunk), d_blocks, B)
    parts = grid[0] * d_blocks * B
    grad_u = torch.empty_like(u)
    gw = torch.zeros(parts, C, 3, device=u.device, dtype=torch.float32)
    gb = torch.zeros(parts, C, device=u.device, dtype=torch.float32)
    for i, g in enumerate(grads):
        gated = i == order - 1
        g = torch.zeros(B, D, n, device=u.device, dtype=u.dtype) if g is None else g
        _short_conv_bwd_kernel[grid](u, weight, bias, g.contiguous(), grad_u, gw, gb, B, L, n, D,
                                     C, i * D, chunk, GATED=gated, BLOCK_L=BWD_BLOCK_L,
                                     BLOCK_D=BWD_BLOCK_D, num_warps=BWD_WARPS)  # fmt: skip
    return grad_u, gw.sum(0).to(weight.dtype)[:, None, :], gb.sum(0).to(bias.dtype)


class ShortConvGate(torch.autograd.Function):
    """Differentiable in u, the weights and the bias; returns the `order` streams as separate
    (B, D, n) tensors (views of one buffer), so each long convolution reads a contiguous one."""

    @staticmethod
    def forward(ctx, u, weight, bias, order: int, n: int):
        out = short_conv_forward(u, weight, bias, order, n)
        ctx.save_for_backward(u, weight, bias)
        ctx.n = n
        return tuple(out.unbind(0))

    @staticmethod
    def backward(ctx, *grads):
        u, weight, bias = ctx.saved_tensors
        grad_u, grad_w, grad_b = short_conv_backward(u, weight, bias, list(grads), ctx.n)
        return grad_u, grad_w, grad_b, None, None


def short_conv_gate(
    u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, order: int, n: int
) -> tuple[torch.Tensor, ...]:
    """The streams [x_0, .., x_(order-2), x_(order-1) ⊙ v], each (B, D, n), from u (B, L, C):
    the depthwise causal convolution with `weight` (C, 1, 3) and `bias` (C,), first n positions."""
    _, L, C = u.shape
    if weight.shape != (C, 1, TAPS) or bias.shape != (C,):
        raise ValueError(
            f"want weight ({C}, 1, {TAPS}) and bias ({C},); got {tuple(weight.shape)}, "
            f"{tuple(bias.shape)}"
        )
    if C % (order + 1) or not 0 < n <= L:
        raise ValueError(f"{C} channels do not split into {order + 1} streams, or n={n} > L={L}")
    require_runnable(_short_conv_fwd_kernel, u, weight, bias)
    return ShortConvGate.apply(u.contiguous(), weight.contiguous(), bias.contiguous(), order, n)
