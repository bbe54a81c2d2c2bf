"""The Monarch convolution's filter gradient in Triton: out[d, k] = sum_b sum_t g[b,d,t]·x[b,d,t-k]
(grad_h; lag 0 is grad_bias), the batch summed in the frequency domain: one program per channel
transforms g and x for every row of B, accumulates G·conj(X), and does one inverse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import triton
import triton.language as tl

from ._triton_common import scratch_programs
from .triton_fft_blocks import (
    _beta,
    _columns_fwd,
    _columns_inv,
    _corr_combine,
    _fwd_inner,
    _half_twiddle,
    _inner_fwd,
    _inner_inv_store,
    _inv_inner,
    _load_x,
    _meta,
    _scratch_meta,
    _tables,
)
from .triton_work import half_or_all

if TYPE_CHECKING:
    from .triton_monarch import Spectrum


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


# --- Launcher -------------------------------------------------------------------------------------
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
