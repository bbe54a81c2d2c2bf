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
runs on the product times 2^12 / beta, beta = max|x|·sum|h| (a bound of every partial sum of the
output), and beta / 2^12 is applied in fp32 at the end. TRITON_NOTES.md has the model and numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from ._triton_common import DTYPE_NAMES, scratch_programs
from .triton_fft_blocks import (
    _beta,
    _columns_fwd_packed,
    _columns_inv,
    _combine,
    _fwd_inner,
    _half_twiddle,
    _inner_inv_store,
    _inv_inner,
    _load_x,
    _meta,
    _scratch_meta,
    _spectrum_tile,
    _split,
    _store_y,
    _tables,
    _tile,
    _tile_order,
)
from .triton_monarch_grad import correlate  # noqa: F401  (the strategy's grad_h, for triton_gated)
from .triton_work import Plan, half_or_all, plan_for

# Rows of one channel per register-path program: the spectrum is loaded once for all of them;
# 4 still gives B/4 programs per channel (2 for B=8, 16 for B=64). triton_work counts with it.
ROWS_PER_PROGRAM = 4


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


# --- Scratch path: three passes per row through a per-program slot in L2 --------------------------
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


# --- The filter spectrum --------------------------------------------------------------------------
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


# --- Launcher -------------------------------------------------------------------------------------
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


# --- The strategy, as triton_gated calls it (prepare, conv, correlate) ----------------------------
FIRST_KERNEL = _conv_rows_kernel  # where the kernels were built for (GPU or interpreter)


def prepare(h: torch.Tensor, seqlen: int, batch: int, dtype: torch.dtype) -> Spectrum:
    """The filter as this strategy's kernels read it: its spectrum."""
    return filter_spectrum(h, seqlen, dtype)


def causal_conv(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """y[b,d,t] = sum_{s<=t} h[d,s] u[b,d,t-s] + bias[d] u[b,d,t], differentiable, in u's dtype."""
    from . import triton_gated

    return triton_gated.gated_conv(u, h, bias, strategy="monarch")
