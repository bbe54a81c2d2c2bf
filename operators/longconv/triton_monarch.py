"""Causal long convolution y = h * u + bias ⊙ u by FFT in Triton, every DFT a small dense matmul,
one kernel per call up to any length, optionally gated: y = post ⊙ (h * x + bias ⊙ x), x = pre ⊙ v.

The real FFT of size N (>= 2L) runs as two half-size transforms of M = N/2 points, the even and
the odd samples, whose spectra give U (U[k] = A[k] + W_N^k B[k], U[k+M] = A[k] - W_N^k B[k]); the
product with the filter spectrum comes back as ONE complex half-size row whose real and imaginary
parts are the even and odd outputs. Each half-size DFT is Bailey's decomposition M = P x M1 x M2
("Monarch", as in FlashFFTConv): an [M1, M2] tile transformed by two `tl.dot`s with DFT matrices.
- M <= 2048 (L <= 2048): one program holds a row in registers (`_conv_rows_kernel`).
- Longer: one persistent kernel (`_conv_scratch_kernel`) does three passes per row through a
  per-program scratch slot that stays in L2 (column DFTs of P points; inner [M1, M2] DFTs, filter,
  inverse; inverse column DFTs), separated by CTA barriers. HBM sees u, y and the spectrum.
Range (fp16): forward DFTs are averages (1/r per stage), so they never exceed max|x|; the inverse
runs on the product divided by beta = max|x|·sum|h| (an upper bound of every partial sum of the
output), and beta is applied in fp32 at the end. TRITON_NOTES.md has the model and the numbers.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from ._triton_common import DTYPE_NAMES, dot_precision, scratch_programs
from .triton_work import Plan, half_or_all, plan_for

# Rows of one channel per register-path program: the spectrum is loaded once for all of them;
# 4 still gives B/4 programs per channel (2 for B=8, 16 for B=64). triton_work counts with it.
ROWS_PER_PROGRAM = 4
# Elements of the [P, BM] chunks of the column passes: BM = COL_TILE / P columns, so the chunk's
# fp32 results and twiddles stay in registers (at P=64, BM=64 they spilled; ptxas sm_90).
COL_TILE = 1024
# Warps: 4 for inner tiles up to 512 points, 8 above ([32, 64] fp32 tiles need 8 to stay in
# registers, ptxas sm_90; TRITON_NOTES.md).
SMALL_TILE = 512


# --- Building blocks ------------------------------------------------------------------------------
@triton.jit
def _tile(ptr, R: tl.constexpr, C: tl.constexpr, stride):
    """A row-major [R, C] block of a table whose rows are `stride` apart."""
    return tl.load(ptr + tl.arange(0, R)[:, None] * stride + tl.arange(0, C)[None, :])


@triton.jit
def _cdot(ar, ai, br, bi, PREC: tl.constexpr):
    """(ar + i·ai) @ (br + i·bi) as four real dots, fp32 accumulation."""
    re = tl.dot(ai, -bi, tl.dot(ar, br, input_precision=PREC), input_precision=PREC)
    im = tl.dot(ai, br, tl.dot(ar, bi, input_precision=PREC), input_precision=PREC)
    return re, im


@triton.jit
def _fwd_inner(xr, xi, f_ptr, tw_ptr, M1: tl.constexpr, M2: tl.constexpr, K1: tl.constexpr,
               REAL: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """Averaged DFT (1/M1M2) of the [K1, M2] rows of an [M1, M2] tile x[M2·n1 + n2] (rows past K1
    are zero); X[k1 + M1·k2] lands at [k1, k2], fp32. REAL: xi is ignored."""
    f1r = _tile(f_ptr, M1, K1, M1)  # F_M1 / M1, first K1 columns
    f1i = _tile(f_ptr + M1 * M1, M1, K1, M1)
    if REAL:
        br = tl.dot(f1r, xr, input_precision=PREC)
        bi = tl.dot(f1i, xr, input_precision=PREC)
    else:
        br, bi = _cdot(f1r, f1i, xr, xi, PREC)
    twr = _tile(tw_ptr, M1, M2, M2)  # W_{M1·M2}^(k1·n2)
    twi = _tile(tw_ptr + M1 * M2, M1, M2, M2)
    cr = (br * twr - bi * twi).to(f1r.dtype)
    ci = (br * twi + bi * twr).to(f1r.dtype)
    f2 = f_ptr + 2 * M1 * M1
    return _cdot(cr, ci, _tile(f2, M2, M2, M2), _tile(f2 + M2 * M2, M2, M2, M2), PREC)


@triton.jit
def _inv_inner(cr, ci, f_ptr, tw_ptr, M1: tl.constexpr, M2: tl.constexpr, H1: tl.constexpr,
               PREC: tl.constexpr):  # fmt: skip
    """Unnormalised inverse of `_fwd_inner` on fp32 [M1, M2] input: rows n1 < H1 of the output
    tile (time n = M2·n1 + n2), complex, fp32."""
    g = f_ptr + 2 * M1 * M1 + 2 * M2 * M2  # conj(F_M1) then conj(F_M2), unnormalised
    g2 = g + 2 * M1 * M1
    er, ei = _cdot(cr.to(g.dtype.element_ty), ci.to(g.dtype.element_ty),
                   _tile(g2, M2, M2, M2), _tile(g2 + M2 * M2, M2, M2, M2), PREC)  # fmt: skip
    twr = _tile(tw_ptr, M1, M2, M2)
    twi = _tile(tw_ptr + M1 * M2, M1, M2, M2)
    gr = (er * twr + ei * twi).to(g.dtype.element_ty)
    gi = (ei * twr - er * twi).to(g.dtype.element_ty)
    return _cdot(_tile(g, H1, M1, M1), _tile(g + M1 * M1, H1, M1, M1), gr, gi, PREC)


@triton.jit
def _spectrum_tile(spec_ptr, kp, M, P: tl.constexpr, M1: tl.constexpr, M2: tl.constexpr,
                   CONJ: tl.constexpr):  # fmt: skip
    """H[k] and H[k + M] (fp32) at the tile of frequencies k = kp + P·(k1 + M1·k2), read from the
    Hermitian half stored in tile order (slot 0 holds H[0] and H[M], both real)."""
    MI: tl.constexpr = M1 * M2
    k1 = tl.arange(0, M1)[:, None]
    k2 = tl.arange(0, M2)[None, :]
    k = kp + P * (k1 + M1 * k2)
    lo = spec_ptr + kp * MI + k1 * M2 + k2
    lr = tl.load(lo).to(tl.float32)
    li = tl.load(lo + M).to(tl.float32)
    kk = (M - k) % M  # H[k + M] = conj(H[M - k])
    ki = kk // P
    hi = spec_ptr + (kk % P) * MI + (ki % M1) * M2 + ki // M1
    hr = tl.load(hi).to(tl.float32)
    hi_i = tl.load(hi + M).to(tl.float32)
    dc = k == 0
    hr = tl.where(dc, li, hr)  # H[M]
    hi_i = tl.where(dc, 0.0, -hi_i)
    li = tl.where(dc, 0.0, li)
    if CONJ:
        li = -li
        hi_i = -hi_i
    return lr, li, hr, hi_i


@triton.jit
def _half_twiddle(tw_ptr, kp, P: tl.constexpr, M1: tl.constexpr, M2: tl.constexpr):
    """W_N^k on the tile k = kp + P·(k1 + M1·k2): W_N^kp · W_(2·M1·M2)^(k1 + M1·k2), fp32."""
    MI: tl.constexpr = M1 * M2
    half = tw_ptr + 2 * MI
    ar = _tile(half, M1, M2, M2)
    ai = _tile(half + MI, M1, M2, M2)
    sr = tl.load(tw_ptr + 4 * MI + kp)
    si = tl.load(tw_ptr + 4 * MI + P + kp)
    return ar * sr - ai * si, ar * si + ai * sr


@triton.jit
def _combine(ar, ai, br, bi, wr, wi, lr, li, hr, hi):
    """One complex half-size row C = E + i·O from the even/odd spectra A, B and the filter:
    U = A ± W·B, Y = U·H at k and k + M, E = Y_k + Y_{k+M}, O = (Y_k - Y_{k+M})·conj(W)."""
    wbr = wr * br - wi * bi
    wbi = wr * bi + wi * br
    ulr, uli = ar + wbr, ai + wbi
    uhr, uhi = ar - wbr, ai - wbi
    ylr, yli = ulr * lr - uli * li, ulr * li + uli * lr
    yhr, yhi = uhr * hr - uhi * hi, uhr * hi + uhi * hr
    dr, di = ylr - yhr, yli - yhi
    return ylr + yhr - (di * wr - dr * wi), yli + yhi + (dr * wr + di * wi)


@triton.jit
def _corr_combine(gar, gai, gbr, gbi, xar, xai, xbr, xbi, wr, wi):
    """As `_combine` with the filter replaced by conj(X): the spectra of the correlation."""
    wgr, wgi = wr * gbr - wi * gbi, wr * gbi + wi * gbr
    wxr, wxi = wr * xbr - wi * xbi, wr * xbi + wi * xbr
    glr, gli, ghr, ghi = gar + wgr, gai + wgi, gar - wgr, gai - wgi
    xlr, xli, xhr, xhi = xar + wxr, xai + wxi, xar - wxr, xai - wxi
    ylr, yli = glr * xlr + gli * xli, gli * xlr - glr * xli
    yhr, yhi = ghr * xhr + ghi * xhi, ghi * xhr - ghr * xhi
    dr, di = ylr - yhr, yli - yhi
    return ylr + yhr - (di * wr - dr * wi), yli + yhi + (dr * wr + di * wi)


@triton.jit
def _load_x(x_ptr, g_ptr, n, L, HAS_GATE: tl.constexpr):
    """x[n] (times gate[n]) in x's dtype, zero at n >= L."""
    x = tl.load(x_ptr + n, mask=n < L, other=0.0)
    if HAS_GATE:
        x = (x.to(tl.float32) * tl.load(g_ptr + n, mask=n < L, other=0.0).to(tl.float32)).to(
            x.dtype
        )
    return x


@triton.jit
def _store_y(y_ptr, x, post_ptr, n, L, conv, bias, HAS_POST: tl.constexpr):
    """y[n] = (conv + bias·x)·post[n] in y's dtype, for n < L."""
    y = conv + bias * x.to(tl.float32)
    if HAS_POST:
        y = y * tl.load(post_ptr + n, mask=n < L, other=0.0).to(tl.float32)
    tl.store(y_ptr + n, y.to(y_ptr.dtype.element_ty), mask=n < L)


@triton.jit
def _beta(amax, hsum):
    """The inverse's scale: an upper bound of every partial sum of the output (amax·hsum, 1 when
    zero) over 2^12. The inverse's fp16 intermediates are then at most sqrt(2)·2^12 = 5793, far
    from 65504, and typical values (below the bound by up to sqrt(L)) far above fp16's
    subnormals (6e-5), where a bound of 1 left them at L=3000 (grad_h error 2e-3, now 8e-4)."""
    b = amax * hsum
    return tl.where(b > 0, b, 1.0) * (1.0 / 4096.0)


# --- Register path: a row's two [M1, M2] tiles stay in registers ----------------------------------
@triton.jit
def _conv_rows_kernel(x_ptr, pre_ptr, post_ptr, y_ptr, bias_ptr, spec_ptr, scale_ptr, hsum_ptr,
                      f_ptr, tw_ptr, B, D, L, HAS_PRE: tl.constexpr, HAS_POST: tl.constexpr,
                      CONJ: tl.constexpr, M1: tl.constexpr, M2: tl.constexpr, K1: tl.constexpr,
                      ROWS: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """y = IDFT(H · DFT(x)) + bias ⊙ x (times post) for ROWS rows of one channel.
    x, y, pre, post: (B, D, L). Program: (row group, channel)."""
    M: tl.constexpr = M1 * M2
    d = tl.program_id(1).to(tl.int64)
    s = tl.load(scale_ptr + d) * 0.5  # stored spectrum's scale; 1/2 of the half-size identity
    hsum = tl.load(hsum_ptr + d)
    bias = tl.load(bias_ptr + d).to(tl.float32)
    n = 2 * (tl.arange(0, K1)[:, None] * M2 + tl.arange(0, M2)[None, :])  # even samples
    b0 = tl.program_id(0) * ROWS
    off = b0.to(tl.int64) * D * L + d * L
    for _ in range(0, tl.minimum(B - b0, ROWS)):
        xe = _load_x(x_ptr + off, pre_ptr + off, n, L, HAS_PRE)
        xo = _load_x(x_ptr + off, pre_ptr + off, n + 1, L, HAS_PRE)
        amax = tl.maximum(tl.max(tl.abs(xe.to(tl.float32))), tl.max(tl.abs(xo.to(tl.float32))))
        beta = _beta(amax, hsum)
        ar, ai = _fwd_inner(xe, xe, f_ptr, tw_ptr, M1, M2, K1, True, PREC)
        br, bi = _fwd_inner(xo, xo, f_ptr, tw_ptr, M1, M2, K1, True, PREC)
        # the spectrum is reloaded per row (L1 hits): held across rows it spilled at [64, 32]
        lr, li, hr, hi = _spectrum_tile(spec_ptr + d * 2 * M, 0, M, 1, M1, M2, CONJ)
        wr, wi = _half_twiddle(tw_ptr, 0, 1, M1, M2)
        cr, ci = _combine(ar, ai, br, bi, wr, wi, lr, li, hr, hi)
        zr, zi = _inv_inner(cr * (s / beta), ci * (s / beta), f_ptr, tw_ptr, M1, M2, K1, PREC)
        _store_y(y_ptr + off, xe, post_ptr + off, n, L, zr * beta, bias, HAS_POST)
        _store_y(y_ptr + off, xo, post_ptr + off, n + 1, L, zi * beta, bias, HAS_POST)
        off += D * L


@triton.jit
def _corr_rows_kernel(g_ptr, gg_ptr, x_ptr, gx_ptr, out_ptr, f_ptr, tw_ptr, B, D, L,
                      HAS_GG: tl.constexpr, HAS_GX: tl.constexpr, M1: tl.constexpr,
                      M2: tl.constexpr, K1: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """out[d, k] = sum_b sum_t g[b, d, t]·x[b, d, t - k] for k < L (fp32), with g and x times
    their optional gates gg, gx. Program: one channel, all of B."""
    M: tl.constexpr = M1 * M2
    d = tl.program_id(0).to(tl.int64)
    wr, wi = _half_twiddle(tw_ptr, 0, 1, M1, M2)
    n = 2 * (tl.arange(0, K1)[:, None] * M2 + tl.arange(0, M2)[None, :])
    acc_r = tl.zeros((M1, M2), dtype=tl.float32)
    acc_i = tl.zeros((M1, M2), dtype=tl.float32)
    beta = 0.0
    off = d * L
    for _ in range(0, B):
        ge = _load_x(g_ptr + off, gg_ptr + off, n, L, HAS_GG)
        go = _load_x(g_ptr + off, gg_ptr + off, n + 1, L, HAS_GG)
        xe = _load_x(x_ptr + off, gx_ptr + off, n, L, HAS_GX)
        xo = _load_x(x_ptr + off, gx_ptr + off, n + 1, L, HAS_GX)
        g1 = tl.sum(tl.abs(ge.to(tl.float32))) + tl.sum(tl.abs(go.to(tl.float32)))
        xmax = tl.maximum(tl.max(tl.abs(xe.to(tl.float32))), tl.max(tl.abs(xo.to(tl.float32))))
        beta += g1 * xmax  # bounds every lag of this row's correlation
        gar, gai = _fwd_inner(ge, ge, f_ptr, tw_ptr, M1, M2, K1, True, PREC)
        gbr, gbi = _fwd_inner(go, go, f_ptr, tw_ptr, M1, M2, K1, True, PREC)
        xar, xai = _fwd_inner(xe, xe, f_ptr, tw_ptr, M1, M2, K1, True, PREC)
        xbr, xbi = _fwd_inner(xo, xo, f_ptr, tw_ptr, M1, M2, K1, True, PREC)
        cr, ci = _corr_combine(gar, gai, gbr, gbi, xar, xai, xbr, xbi, wr, wi)
        acc_r += cr
        acc_i += ci
        off += D * L
    beta = _beta(beta, 1.0)
    s = M * 0.5 / beta  # G·conj(X) of averaged spectra is 1/M² of the true product; IDFT is 1/N
    zr, zi = _inv_inner(acc_r * s, acc_i * s, f_ptr, tw_ptr, M1, M2, K1, PREC)
    tl.store(out_ptr + d * L + n, zr * beta, mask=n < L)
    tl.store(out_ptr + d * L + n + 1, zi * beta, mask=n + 1 < L)


# --- Scratch path: three passes per row through a per-program slot in L2 --------------------------
@triton.jit
def _columns_fwd(x_ptr, gate_ptr, slot, f_ptr, tw_ptr, L, HAS_GATE: tl.constexpr,
                 P: tl.constexpr, KP: tl.constexpr, MI: tl.constexpr, BM: tl.constexpr,
                 PREC: tl.constexpr):  # fmt: skip
    """Pass 1: averaged P-point DFTs down the columns of the even (j=0) and odd (j=1) rows,
    times the outer twiddle W_M^(kp·m), into slot[j, kp, re/im, m]. Returns max|x|."""
    fpr = _tile(f_ptr, P, KP, P)  # F_P / P, first KP columns (rows p >= KP of x are zero)
    fpi = _tile(f_ptr + P * P, P, KP, P)
    rows = tl.arange(0, P)[:, None]
    amax = 0.0
    for m0 in range(0, MI, BM):
        m = m0 + tl.arange(0, BM)[None, :]
        n = 2 * (tl.arange(0, KP)[:, None] * MI + m)
        wr = tl.load(tw_ptr + rows * MI + m)
        wi = tl.load(tw_ptr + P * MI + rows * MI + m)
        for j in range(0, 2):
            x = _load_x(x_ptr, gate_ptr, n + j, L, HAS_GATE)
            amax = tl.maximum(amax, tl.max(tl.abs(x.to(tl.float32))))
            zr = tl.dot(fpr, x, input_precision=PREC)
            zi = tl.dot(fpi, x, input_precision=PREC)
            out = slot + (j * P + rows) * 2 * MI + m
            tl.store(out, (zr * wr - zi * wi).to(slot.dtype.element_ty))
            tl.store(out + MI, (zr * wi + zi * wr).to(slot.dtype.element_ty))
    return amax


@triton.jit
def _inner_fwd(slot, j, kp, f_ptr, tw_ptr, P: tl.constexpr, M1: tl.constexpr, M2: tl.constexpr,
               PREC: tl.constexpr):  # fmt: skip
    """Pass 2's forward: the inner DFT of slot[j, kp] (complex [M1, M2]), fp32."""
    MI: tl.constexpr = M1 * M2
    src = slot + (j * P + kp) * 2 * MI
    xr = _tile(src, M1, M2, M2)
    xi = _tile(src + MI, M1, M2, M2)
    return _fwd_inner(xr, xi, f_ptr, tw_ptr, M1, M2, M1, False, PREC)


@triton.jit
def _inner_inv_store(cr, ci, slot, kp, f_ptr, tw_ptr, otw_ptr, P: tl.constexpr,
                     M1: tl.constexpr, M2: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """Pass 2's inverse: inner inverse DFT of C, times conj(W_M^(kp·m)), into slot[0, kp]."""
    MI: tl.constexpr = M1 * M2
    zr, zi = _inv_inner(cr, ci, f_ptr, tw_ptr, M1, M2, M1, PREC)
    wr = _tile(otw_ptr + kp * MI, M1, M2, M2)
    wi = _tile(otw_ptr + P * MI + kp * MI, M1, M2, M2)
    pos = tl.arange(0, M1)[:, None] * M2 + tl.arange(0, M2)[None, :]
    dst = slot + kp * 2 * MI + pos
    tl.debug_barrier()  # every thread has read slot[0, kp] before any overwrites it
    tl.store(dst, (zr * wr + zi * wi).to(slot.dtype.element_ty))
    tl.store(dst + MI, (zi * wr - zr * wi).to(slot.dtype.element_ty))


@triton.jit
def _columns_inv(slot, x_ptr, pre_ptr, post_ptr, y_ptr, f_ptr, L, beta, bias,
                 HAS_PRE: tl.constexpr, HAS_POST: tl.constexpr, BIAS: tl.constexpr,
                 P: tl.constexpr, HP: tl.constexpr, MI: tl.constexpr, BM: tl.constexpr,
                 PREC: tl.constexpr):  # fmt: skip
    """Pass 3: inverse P-point DFTs of slot[0] (rows p < HP: the first half, the used outputs);
    real part -> even samples, imaginary -> odd; times beta, + bias·x, times post, stored.
    BIAS=False: y is fp32 (D, L) output of the correlation, no gates."""
    gpr = _tile(f_ptr, HP, P, P)  # conj(F_P), unnormalised, first HP rows
    gpi = _tile(f_ptr + P * P, HP, P, P)
    rows = tl.arange(0, P)[:, None]
    for m0 in range(0, MI, BM):
        m = m0 + tl.arange(0, BM)[None, :]
        src = slot + rows * 2 * MI + m
        yr, yi = _cdot(gpr, gpi, tl.load(src), tl.load(src + MI), PREC)
        n = 2 * (tl.arange(0, HP)[:, None] * MI + m)
        if BIAS:
            xe = _load_x(x_ptr, pre_ptr, n, L, HAS_PRE)
            xo = _load_x(x_ptr, pre_ptr, n + 1, L, HAS_PRE)
            _store_y(y_ptr, xe, post_ptr, n, L, yr * beta, bias, HAS_POST)
            _store_y(y_ptr, xo, post_ptr, n + 1, L, yi * beta, bias, HAS_POST)
        else:
            tl.store(y_ptr + n, yr * beta, mask=n < L)
            tl.store(y_ptr + n + 1, yi * beta, mask=n + 1 < L)


@triton.jit
def _columns_fwd_packed(x_ptr, gate_ptr, slot, f_ptr, tw_ptr, L, HAS_GATE: tl.constexpr,
                        P: tl.constexpr, KP: tl.constexpr, MI: tl.constexpr, BM: tl.constexpr,
                        PREC: tl.constexpr):  # fmt: skip
    """Pass 1 of the convolution: averaged P-point DFTs down the columns of ONE complex row
    z = x_even + i·x_odd, times W_M^(kp·m), into slot[kp, re/im, m]. Returns max|x|."""
    fpr = _tile(f_ptr, P, KP, P)
    fpi = _tile(f_ptr + P * P, P, KP, P)
    rows = tl.arange(0, P)[:, None]
    amax = 0.0
    for m0 in range(0, MI, BM):
        m = m0 + tl.arange(0, BM)[None, :]
        n = 2 * (tl.arange(0, KP)[:, None] * MI + m)
        xe = _load_x(x_ptr, gate_ptr, n, L, HAS_GATE)
        xo = _load_x(x_ptr, gate_ptr, n + 1, L, HAS_GATE)
        amax = tl.maximum(amax, tl.max(tl.abs(xe.to(tl.float32))))
        amax = tl.maximum(amax, tl.max(tl.abs(xo.to(tl.float32))))
        zr, zi = _cdot(fpr, fpi, xe, xo, PREC)
        wr = tl.load(tw_ptr + rows * MI + m)
        wi = tl.load(tw_ptr + P * MI + rows * MI + m)
        out = slot + rows * 2 * MI + m
        tl.store(out, (zr * wr - zi * wi).to(slot.dtype.element_ty))
        tl.store(out + MI, (zr * wi + zi * wr).to(slot.dtype.element_ty))
    return amax


@triton.jit
def _split(zr, zi, fr, fi):
    """A and B, the spectra of the even and odd rows, from Z = A + iB at k and Zf = Z at M - k:
    A = (Z + conj(Zf)) / 2, B = (Z - conj(Zf)) / 2i."""
    return (zr + fr) * 0.5, (zi - fi) * 0.5, (zi + fi) * 0.5, (fr - zr) * 0.5


@triton.jit
def _conv_scratch_kernel(x_ptr, pre_ptr, post_ptr, y_ptr, bias_ptr, spec_ptr, scale_ptr, hsum_ptr,
                         f_ptr, tw_ptr, ff_ptr, twf_ptr, scratch_ptr, B, D, L,
                         HAS_PRE: tl.constexpr, HAS_POST: tl.constexpr, CONJ: tl.constexpr,
                         P: tl.constexpr, KP: tl.constexpr, M1: tl.constexpr, M2: tl.constexpr,
                         BM: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """As `_conv_rows_kernel` for M = P·M1·M2 > one tile. Persistent: program i does rows
    i, i + programs, ... (channel-major, so concurrent programs share a channel's spectrum in L2)
    in its own scratch slot of 2M elements: the even and odd rows travel as one complex row, and
    pass 2 separates their spectra by pairing column tile a (frequencies a + P·k) with tile
    P - a (frequencies M - a - P·k), transformed with flipped tables (ff, twf) so that both
    meet element by element; tile 0 pairs with itself through its real and imaginary parts."""
    MI: tl.constexpr = M1 * M2
    M: tl.constexpr = P * MI
    HALF: tl.constexpr = P // 2
    fp = f_ptr + 4 * M1 * M1 + 4 * M2 * M2  # F_P / P, then conj(F_P)
    otw = tw_ptr + 4 * MI + 2 * P  # outer twiddles W_M^(kp·m)
    slot = scratch_ptr + tl.program_id(0).to(tl.int64) * 2 * M
    for r in range(tl.program_id(0), B * D, tl.num_programs(0)):
        d = tl.cast(r // B, tl.int64)
        off = tl.cast(r % B, tl.int64) * D * L + d * L
        spec = spec_ptr + d * 2 * M
        amax = _columns_fwd_packed(x_ptr + off, pre_ptr + off, slot, fp, otw, L, HAS_PRE,
                                   P, KP, MI, BM, PREC)  # fmt: skip
        beta = _beta(amax, tl.load(hsum_ptr + d))
        s = tl.load(scale_ptr + d) * 0.5 / beta
        tl.debug_barrier()
        # tile 0: A and B are the inner DFTs of its real and its imaginary part
        zr = _tile(slot, M1, M2, M2)
        zi = _tile(slot + MI, M1, M2, M2)
        ar, ai = _fwd_inner(zr, zr, f_ptr, tw_ptr, M1, M2, M1, True, PREC)
        br, bi = _fwd_inner(zi, zi, f_ptr, tw_ptr, M1, M2, M1, True, PREC)
        lr, li, hr, hi = _spectrum_tile(spec, 0, M, P, M1, M2, CONJ)
        wr, wi = _half_twiddle(tw_ptr, 0, P, M1, M2)
        cr, ci = _combine(ar, ai, br, bi, wr, wi, lr, li, hr, hi)
        _inner_inv_store(cr * s, ci * s, slot, 0, f_ptr, tw_ptr, otw, P, M1, M2, PREC)
        # tile P/2 pairs with itself flipped
        src = slot + HALF * 2 * MI
        zr = _tile(src, M1, M2, M2)
        zi = _tile(src + MI, M1, M2, M2)
        nr, ni = _fwd_inner(zr, zi, f_ptr, tw_ptr, M1, M2, M1, False, PREC)
        fr, fi = _fwd_inner(zr, zi, ff_ptr, twf_ptr, M1, M2, M1, False, PREC)
        ar, ai, br, bi = _split(nr, ni, fr, fi)
        lr, li, hr, hi = _spectrum_tile(spec, HALF, M, P, M1, M2, CONJ)
        wr, wi = _half_twiddle(tw_ptr, HALF, P, M1, M2)
        cr, ci = _combine(ar, ai, br, bi, wr, wi, lr, li, hr, hi)
        _inner_inv_store(cr * s, ci * s, slot, HALF, f_ptr, tw_ptr, otw, P, M1, M2, PREC)
        # tiles a and P - a; the second in the flipped frame, where A and B are conj(A), conj(B)
        for a in range(1, HALF):
            src = slot + a * 2 * MI
            nr, ni = _fwd_inner(_tile(src, M1, M2, M2), _tile(src + MI, M1, M2, M2),
                                f_ptr, tw_ptr, M1, M2, M1, False, PREC)  # fmt: skip
            src = slot + (P - a) * 2 * MI
            fr, fi = _fwd_inner(_tile(src, M1, M2, M2), _tile(src + MI, M1, M2, M2),
                                ff_ptr, twf_ptr, M1, M2, M1, False, PREC)  # fmt: skip
            ar, ai, br, bi = _split(nr, ni, fr, fi)
            lr, li, hr, hi = _spectrum_tile(spec, a, M, P, M1, M2, CONJ)
            wr, wi = _half_twiddle(tw_ptr, a, P, M1, M2)
            cr, ci = _combine(ar, ai, br, bi, wr, wi, lr, li, hr, hi)
            _inner_inv_store(cr * s, ci * s, slot, a, f_ptr, tw_ptr, otw, P, M1, M2, PREC)
            # W_N^(M - k) = -conj(W_N^k); H at M - k and 2M - k are conj(H at k + M), conj(H at k)
            cr, ci = _combine(ar, -ai, br, -bi, -wr, wi, hr, -hi, lr, -li)
            _inner_inv_store(cr * s, ci * s, slot, P - a, ff_ptr, twf_ptr, otw, P, M1, M2, PREC)
        tl.debug_barrier()
        bias = tl.load(bias_ptr + d).to(tl.float32)
        _columns_inv(slot, x_ptr + off, pre_ptr + off, post_ptr + off, y_ptr + off,
                     fp + 2 * P * P, L, beta, bias, HAS_PRE, HAS_POST, True,
                     P, KP, MI, BM, PREC)  # fmt: skip
        tl.debug_barrier()  # the slot is read before the next row's pass 1 writes it


@triton.jit
def _corr_scratch_kernel(g_ptr, gg_ptr, x_ptr, gx_ptr, out_ptr, f_ptr, tw_ptr, scratch_ptr,
                         acc_ptr, B, D, L, HAS_GG: tl.constexpr, HAS_GX: tl.constexpr,
                         P: tl.constexpr, KP: tl.constexpr, M1: tl.constexpr, M2: tl.constexpr,
                         BM: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """As `_corr_rows_kernel` for M > one tile. Persistent over channels; per program a scratch
    slot (8M elements: g's and x's column DFTs) and an fp32 accumulator of 2M."""
    MI: tl.constexpr = M1 * M2
    M: tl.constexpr = P * MI
    fp = f_ptr + 4 * M1 * M1 + 4 * M2 * M2
    otw = tw_ptr + 4 * MI + 2 * P
    slot = scratch_ptr + tl.program_id(0).to(tl.int64) * 8 * M
    acc = acc_ptr + tl.program_id(0).to(tl.int64) * 2 * M
    pos = tl.arange(0, M1)[:, None] * M2 + tl.arange(0, M2)[None, :]
    stride_b = tl.cast(D, tl.int64) * L
    for d in range(tl.program_id(0), D, tl.num_programs(0)):
        beta = 0.0
        for b in range(0, B):
            off = b * stride_b + tl.cast(d, tl.int64) * L
            gmax = _columns_fwd(g_ptr + off, gg_ptr + off, slot, fp, otw, L, HAS_GG,
                                P, KP, MI, BM, PREC)  # fmt: skip
            xmax = _columns_fwd(x_ptr + off, gx_ptr + off, slot + 4 * M, fp, otw, L, HAS_GX,
                                P, KP, MI, BM, PREC)  # fmt: skip
            beta += gmax * xmax * L  # sum|g| <= L·max|g|: bounds every lag of this row
            tl.debug_barrier()
            for kp in range(0, P):
                gar, gai = _inner_fwd(slot, 0, kp, f_ptr, tw_ptr, P, M1, M2, PREC)
                gbr, gbi = _inner_fwd(slot, 1, kp, f_ptr, tw_ptr, P, M1, M2, PREC)
                xar, xai = _inner_fwd(slot + 4 * M, 0, kp, f_ptr, tw_ptr, P, M1, M2, PREC)
                xbr, xbi = _inner_fwd(slot + 4 * M, 1, kp, f_ptr, tw_ptr, P, M1, M2, PREC)
                wr, wi = _half_twiddle(tw_ptr, kp, P, M1, M2)
                cr, ci = _corr_combine(gar, gai, gbr, gbi, xar, xai, xbr, xbi, wr, wi)
                a = acc + kp * 2 * MI + pos
                if b > 0:  # written for the previous row, before the barrier that ended it
                    cr += tl.load(a)
                    ci += tl.load(a + MI)
                tl.store(a, cr)
                tl.store(a + MI, ci)
            tl.debug_barrier()
        beta = _beta(beta, 1.0)
        s = M * 0.5 / beta
        for kp in range(0, P):
            a = acc + kp * 2 * MI + pos
            _inner_inv_store(tl.load(a) * s, tl.load(a + MI) * s, slot, kp, f_ptr, tw_ptr, otw,
                             P, M1, M2, PREC)  # fmt: skip
        tl.debug_barrier()
        _columns_inv(slot, g_ptr, g_ptr, g_ptr, out_ptr + tl.cast(d, tl.int64) * L, fp + 2 * P * P,
                     L, beta, 0.0, False, False, False, P, KP, MI, BM, PREC)  # fmt: skip
        tl.debug_barrier()


# --- Tables and the filter spectrum ---------------------------------------------------------------
def _roots(rows: int, cols: int, n: int) -> torch.Tensor:
    """exp(-2πi jk/n) for j < rows, k < cols: float64 (2, rows, cols), real then imaginary."""
    jk = torch.outer(torch.arange(rows, dtype=torch.int64), torch.arange(cols, dtype=torch.int64))
    angle = (jk % n).double() * (-2 * math.pi / n)
    return torch.stack((torch.cos(angle), torch.sin(angle)))


@functools.lru_cache(maxsize=32)
def _tables(plan: Plan, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(DFT matrices in the dot dtype, twiddles in fp32, both again for flipped tiles), flat, in
    the order the kernels read:
    F_M1/M1, F_M2/M2, conj(F_M1), conj(F_M2), F_P/P, conj(F_P); inner W_MI^(k1·n2), half
    W_(2MI)^(k1 + M1·k2), W_N^kp, outer W_M^(kp·m)."""
    conj = torch.tensor([1.0, -1.0], dtype=torch.float64)[:, None, None]
    mats = []
    for scale in (True, False):
        for r in (plan.m1, plan.m2):
            mats.append(_roots(r, r, r) / r if scale else _roots(r, r, r) * conj)
    mats += [_roots(plan.p, plan.p, plan.p) / plan.p, _roots(plan.p, plan.p, plan.p) * conj]
    mi = plan.inner
    k = (torch.arange(plan.m1)[:, None] + plan.m1 * torch.arange(plan.m2)[None, :]).reshape(-1)
    half = _roots(1, 1, 1).new_empty(2, mi)
    angle = k.double() * (-2 * math.pi / (2 * mi))
    half[0], half[1] = torch.cos(angle), torch.sin(angle)
    tws = [_roots(plan.m1, plan.m2, mi), half, _roots(2, plan.p, plan.n)[:, 1]]
    tws.append(_roots(plan.p, mi, plan.m))
    flat = lambda ts: torch.cat([t.reshape(-1) for t in ts])  # noqa: E731
    # The same tables for a tile whose inner frequencies are stored flipped ([M1-1-k1, M2-1-k2]):
    # F_M1 rows, F_M2 columns, conj(F_M1) columns, conj(F_M2) rows and twiddle rows reversed.
    flips = [mats[0].flip(1), mats[1].flip(2), mats[2].flip(2), mats[3].flip(1), *mats[4:]]
    tws_f = [tws[0].flip(1), *tws[1:]]
    return (
        flat(mats).to(device, dtype),
        flat(tws).to(device, torch.float32),
        flat(flips).to(device, dtype),
        flat(tws_f).to(device, torch.float32),
    )


def _tile_order(plan: Plan, device: torch.device) -> torch.Tensor:
    """Address in the kernels' tile order of each frequency k < M: kp·MI + k1·M2 + k2."""
    k = torch.arange(plan.m, device=device)
    ki = k // plan.p
    return (k % plan.p) * plan.inner + (ki % plan.m1) * plan.m2 + ki // plan.m1


@dataclass(frozen=True)
class Spectrum:
    """A filter's spectrum as the kernels read it, computed once per forward and kept for the
    backward: Hermitian half (D, 2, M) in tile order, scaled to max 1 per channel (`scale`), in
    the dot dtype; `hsum` = sum|h| per channel (fp32), the bound used for fp16 range."""

    plan: Plan
    seqlen: int
    values: torch.Tensor
    scale: torch.Tensor
    hsum: torch.Tensor


def filter_spectrum(h: torch.Tensor, seqlen: int, dtype: torch.dtype) -> Spectrum:
    """The spectrum of h (D, L) for inputs of length `seqlen` in `dtype` (torch.fft in fp32)."""
    plan = plan_for(seqlen, DTYPE_NAMES[dtype])
    with torch.no_grad():
        hf = torch.fft.rfft(h.detach().float(), n=plan.n)
        packed = torch.view_as_real(hf[:, : plan.m]).clone()
        packed[:, 0, 1] = hf[:, plan.m].real  # H[0] and H[M] are real: one slot holds both
        scale = packed.abs().amax(dim=(1, 2)).clamp_min(torch.finfo(torch.float32).tiny)
        values = torch.empty(h.shape[0], 2, plan.m, device=h.device, dtype=dtype)
        values[:, :, _tile_order(plan, h.device)] = (
            (packed / scale[:, None, None]).transpose(1, 2).to(dtype)
        )
        hsum = h.detach().float().abs().sum(-1)
    return Spectrum(plan, seqlen, values, scale.contiguous(), hsum.contiguous())


# --- Launchers ------------------------------------------------------------------------------------
def _meta(plan: Plan, dtype: torch.dtype) -> dict:
    warps = 4 if plan.inner <= SMALL_TILE else 8
    return dict(M1=plan.m1, M2=plan.m2, PREC=dot_precision(dtype), num_warps=warps)


def column_block(plan: Plan) -> int:
    """BM, the columns of a column-pass chunk: COL_TILE / P, at least 16, at most the inner size."""
    return min(max(16, COL_TILE // plan.p), plan.inner)


def _scratch_meta(plan: Plan, dtype: torch.dtype) -> dict:
    # num_stages=1: no software pipelining, so no load is hoisted across a barrier.
    bm = column_block(plan)
    return dict(_meta(plan, dtype), P=plan.p, KP=half_or_all(plan.p), BM=bm, num_stages=1)


def conv(
    x: torch.Tensor,
    spec: Spectrum,
    bias: torch.Tensor,
    pre: torch.Tensor | None = None,
    post: torch.Tensor | None = None,
    anticausal: bool = False,
) -> torch.Tensor:
    """y = post ⊙ (h * (pre ⊙ x) + bias ⊙ (pre ⊙ x)) for contiguous x (B, D, L), y like x;
    `anticausal` correlates with h instead (the conjugate spectrum: grad_u)."""
    B, D, L = x.shape
    y = torch.empty_like(x)
    plan = spec.plan
    mats, tws, mats_f, tws_f = _tables(plan, x.dtype, x.device)
    gates = (x if pre is None else pre, x if post is None else post)
    args = (x, *gates, y, bias, spec.values, spec.scale, spec.hsum, mats, tws)
    flags = dict(HAS_PRE=pre is not None, HAS_POST=post is not None, CONJ=anticausal)
    if plan.p == 1:
        meta = dict(_meta(plan, x.dtype), K1=half_or_all(plan.m1), ROWS=ROWS_PER_PROGRAM)
        grid = (triton.cdiv(B, ROWS_PER_PROGRAM), D)
        _conv_rows_kernel[grid](*args, B, D, L, **flags, **meta)
        return y
    programs = scratch_programs(x.device, B * D)
    scratch = torch.empty(programs * 2 * plan.m, device=x.device, dtype=x.dtype)
    meta = _scratch_meta(plan, x.dtype)
    _conv_scratch_kernel[(programs,)](*args, mats_f, tws_f, scratch, B, D, L, **flags, **meta)
    return y


def correlate(
    g: torch.Tensor,
    x: torch.Tensor,
    spec: Spectrum,
    g_gate: torch.Tensor | None = None,
    x_gate: torch.Tensor | None = None,
) -> torch.Tensor:
    """out[d, k] = sum_b sum_t (g·g_gate)[b, d, t]·(x·x_gate)[b, d, t - k], k < L; fp32 (D, L)."""
    B, D, L = x.shape
    plan = spec.plan
    out = torch.empty((D, L), device=x.device, dtype=torch.float32)
    mats, tws = _tables(plan, x.dtype, x.device)[:2]
    gates = (g if g_gate is None else g_gate, x if x_gate is None else x_gate)
    args = (g, gates[0], x, gates[1], out, mats, tws)
    flags = dict(HAS_GG=g_gate is not None, HAS_GX=x_gate is not None)
    if plan.p == 1:
        meta = dict(_meta(plan, x.dtype), K1=half_or_all(plan.m1))
        _corr_rows_kernel[(D,)](*args, B, D, L, **flags, **meta)
        return out
    programs = scratch_programs(x.device, D)
    scratch = torch.empty(programs * 8 * plan.m, device=x.device, dtype=x.dtype)
    acc = torch.empty(programs * 2 * plan.m, device=x.device, dtype=torch.float32)
    meta = _scratch_meta(plan, x.dtype)
    _corr_scratch_kernel[(programs,)](*args, scratch, acc, B, D, L, **flags, **meta)
    return out


# --- The strategy, as triton_gated calls it (prepare, conv, correlate) ----------------------------
FIRST_KERNEL = _conv_rows_kernel  # where the kernels were built for (GPU or interpreter)


def prepare(h: torch.Tensor, seqlen: int, batch: int, dtype: torch.dtype) -> Spectrum:
    """The filter as this strategy's kernels read it: its spectrum."""
    return filter_spectrum(h, seqlen, dtype)


def causal_conv(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """y[b,d,t] = sum_{s<=t} h[d,s] u[b,d,t-s] + bias[d] u[b,d,t], differentiable, in u's dtype."""
    from . import triton_gated

    return triton_gated.gated_conv(u, h, bias, strategy="monarch")
