"""Building blocks of the Monarch FFT convolution kernels (triton_monarch, triton_monarch_grad):
DFTs of [M1, M2] tiles as `tl.dot`s with DFT matrices, the half-size real FFT's combination
with the filter, the column passes of the scratch path, the fp16 range scale, and the tables
(DFT matrices, twiddles) the kernels read. TRITON_NOTES.md explains the design.
"""

from __future__ import annotations

import functools
import math

import torch
import triton
import triton.language as tl

from ._triton_common import dot_precision
from .triton_work import Plan, half_or_all

# Elements of the [P, BM] chunks of the column passes: BM = COL_TILE / P columns, so the chunk's
# fp32 results and twiddles stay in registers (at P=64, BM=64 they spilled; ptxas sm_90).
COL_TILE = 1024
# Warps: 4 for inner tiles up to 512 points, 8 above ([32, 64] fp32 tiles need 8 to stay in
# registers, ptxas sm_90; TRITON_NOTES.md).
SMALL_TILE = 512


# --- Tiles, DFTs, the filter ----------------------------------------------------------------------
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


# --- The scratch path's passes --------------------------------------------------------------------
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


# --- Launch options -------------------------------------------------------------------------------
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
