"""Causal long convolution y = h * u + bias ⊙ u by FFT in Triton, each DFT a small dense matmul.

Bailey's four-step ("Monarch", as in FlashFFTConv) FFT of size N = M1·M2: M1-point DFTs down the
columns of an [M1, M2] tile, a twiddle, M2-point DFTs along its rows, each a `tl.dot` with a
unitary DFT matrix, complex arithmetic as pairs of real matmuls. The filter's spectrum is computed
once per call with torch.fft.fft on h in fp32. TRITON_NOTES.md beside this file has the details.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from ._triton_common import check_inputs, dot_precision, next_power_of_2, require_runnable

# Smallest FFT: 16 x 16, since tl.dot needs every dimension >= 16.
MIN_N = 256
# Largest FFT a row kernel does fully on chip (L <= 1024): [32, 64] tiles, whose spectrum and row
# stay in registers without spilling at 8 warps (ptxas, sm_90, fp16/bf16; [64, 64] spills; fp32
# "ieee" dots spill at any size). Longer: N = P x M, M <= this, in three kernels through HBM.
FUSED_MAX_N = 2048
# Column DFT sizes P for longer FFTs: >= 16 for tl.dot; <= 128 bounds L at 128 x 2048 / 2 = 128k.
MIN_P, MAX_P = 16, 128
# Elements of the [P, BM] tile a column-kernel program transforms: BM = COL_TILE // P columns.
COL_TILE = 4096
# Rows of one channel per row-kernel program: the spectrum is loaded once and used for all of
# them; 4 still gives B/4 programs per channel (16 for B=64) to fill the GPU.
ROWS_PER_PROGRAM = 4
# Elements of the three-kernel path's HBM scratch: channels go in chunks that stay under this
# (2^29 fp16 = 1 GiB).
MAX_SCRATCH_ELEMS = 1 << 29


@triton.jit
def _load_tile(ptr, R: tl.constexpr, C: tl.constexpr):
    """A dense row-major [R, C] table (exactly sized, so no mask is needed)."""
    return tl.load(ptr + tl.arange(0, R)[:, None] * C + tl.arange(0, C)[None, :])


@triton.jit
def _load_tables(f_ptr, tw_ptr, M1: tl.constexpr, M2: tl.constexpr):
    """F_M1 (re, im), F_M2 (re, im) in the dot dtype; the [M1, M2] twiddles (re, im) in fp32."""
    f1r = _load_tile(f_ptr, M1, M1)
    f1i = _load_tile(f_ptr + M1 * M1, M1, M1)
    f2r = _load_tile(f_ptr + 2 * M1 * M1, M2, M2)
    f2i = _load_tile(f_ptr + 2 * M1 * M1 + M2 * M2, M2, M2)
    return f1r, f1i, f2r, f2i, _load_tile(tw_ptr, M1, M2), _load_tile(tw_ptr + M1 * M2, M1, M2)


@triton.jit
def _dft(xr, xi, f1r, f1i, f2r, f2i, twr, twi, REAL_IN: tl.constexpr, PREC: tl.constexpr):
    """Unitary DFT of an [M1, M2] tile holding x[M2·n1 + n2]: X[k1 + M1·k2] lands at [k1, k2]."""
    br = tl.dot(f1r, xr, input_precision=PREC)
    bi = tl.dot(f1i, xr, input_precision=PREC)
    if not REAL_IN:
        br = tl.dot(-f1i, xi, br, input_precision=PREC)
        bi = tl.dot(f1r, xi, bi, input_precision=PREC)
    cr = (br * twr - bi * twi).to(f1r.dtype)
    ci = (br * twi + bi * twr).to(f1r.dtype)
    dr = tl.dot(ci, -f2i, tl.dot(cr, f2r, input_precision=PREC), input_precision=PREC)
    di = tl.dot(ci, f2r, tl.dot(cr, f2i, input_precision=PREC), input_precision=PREC)
    return dr, di


@triton.jit
def _idft(zr, zi, f1r, f1i, f2r, f2i, twr, twi, REAL_OUT: tl.constexpr, PREC: tl.constexpr):
    """Inverse of `_dft`, fp32 in and out; REAL_OUT computes the real part only (returned twice)."""
    zr = zr.to(f1r.dtype)
    zi = zi.to(f1r.dtype)
    er = tl.dot(zi, f2i, tl.dot(zr, f2r, input_precision=PREC), input_precision=PREC)
    ei = tl.dot(zr, -f2i, tl.dot(zi, f2r, input_precision=PREC), input_precision=PREC)
    gr = (er * twr + ei * twi).to(f1r.dtype)
    gi = (ei * twr - er * twi).to(f1r.dtype)
    yr = tl.dot(f1i, gi, tl.dot(f1r, gr, input_precision=PREC), input_precision=PREC)
    yi = yr
    if not REAL_OUT:
        yi = tl.dot(-f1i, gr, tl.dot(f1r, gi, input_precision=PREC), input_precision=PREC)
    return yr, yi


@triton.jit
def _times_conj_outer(yr, yi, tw_ptr, kp, P, M1: tl.constexpr, M2: tl.constexpr):
    """(yr + i·yi) · conj(W_N^(k_p·m)): row k_p of the outer twiddles, (2, P, M) after the inner."""
    otw_ptr = tw_ptr + 2 * M1 * M2
    wr = _load_tile(otw_ptr + kp * M1 * M2, M1, M2)
    wi = _load_tile(otw_ptr + (P + kp) * M1 * M2, M1, M2)
    return yr * wr + yi * wi, yi * wr - yr * wi


@triton.jit
def _conv_rows_kernel(x_ptr, y_ptr, bias_ptr, spec_ptr, f_ptr, tw_ptr, B, D, L, P,
                      OUTER: tl.constexpr, M1: tl.constexpr, M2: tl.constexpr,
                      ROWS: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """Per row: DFT, times the spectrum H[d, k_p], inverse DFT. Program: (d, k_p) x ROWS batch rows.

    OUTER=False: real rows of u (B, D, L) in, y = conv + bias ⊙ u (B, D, L) out.
    OUTER=True: complex scratch rows (B, D, P, 2, M) in, times the conjugate outer twiddle, written
    back in place.
    """
    M: tl.constexpr = M1 * M2
    pid = tl.program_id(0)
    d = (pid // P).to(tl.int64)
    kp = pid % P
    pos = tl.arange(0, M1)[:, None] * M2 + tl.arange(0, M2)[None, :]
    f1r, f1i, f2r, f2i, twr, twi = _load_tables(f_ptr, tw_ptr, M1, M2)
    hr = tl.load(spec_ptr + pid.to(tl.int64) * 2 * M + pos)
    hi = tl.load(spec_ptr + pid.to(tl.int64) * 2 * M + M + pos)
    beta = tl.load(bias_ptr + d).to(tl.float32)
    b0 = tl.program_id(1) * ROWS
    if OUTER:
        stride_b = D * P * 2 * M
        off = b0.to(tl.int64) * stride_b + (d * P + kp) * 2 * M
    else:
        stride_b = D * L
        off = b0.to(tl.int64) * stride_b + d * L
    for _ in range(0, tl.minimum(B - b0, ROWS)):
        if OUTER:
            xr = tl.load(x_ptr + off + pos)
            xi = tl.load(x_ptr + off + M + pos)
            zr, zi = _dft(xr, xi, f1r, f1i, f2r, f2i, twr, twi, False, PREC)
        else:
            xr = tl.load(x_ptr + off + pos, mask=pos < L, other=0.0)
            zr, zi = _dft(xr, xr, f1r, f1i, f2r, f2i, twr, twi, True, PREC)
        pr = zr * hr - zi * hi
        pi = zr * hi + zi * hr
        if OUTER:
            yr, yi = _idft(pr, pi, f1r, f1i, f2r, f2i, twr, twi, False, PREC)
            yr, yi = _times_conj_outer(yr, yi, tw_ptr, kp, P, M1, M2)
            tl.store(y_ptr + off + pos, yr.to(y_ptr.dtype.element_ty))
            tl.store(y_ptr + off + M + pos, yi.to(y_ptr.dtype.element_ty))
        else:
            yr, yi = _idft(pr, pi, f1r, f1i, f2r, f2i, twr, twi, True, PREC)
            y = yr + beta * xr.to(tl.float32)
            tl.store(y_ptr + off + pos, y.to(y_ptr.dtype.element_ty), mask=pos < L)
        off += stride_b


@triton.jit
def _corr_rows_kernel(g_ptr, x_ptr, out_ptr, f_ptr, tw_ptr, B, D, L, P, scale,
                      OUTER: tl.constexpr, M1: tl.constexpr, M2: tl.constexpr,
                      PREC: tl.constexpr):  # fmt: skip
    """out[d] = IDFT(scale · sum_b DFT(g[b, d]) · conj(DFT(x[b, d]))). Program: (d, k_p), all of B.

    OUTER=False: real rows (B, D, L) in, fp32 out (D, L). OUTER=True: complex scratch rows
    (B, D, P, 2, M) in, out (D, P, 2, M) times the conjugate outer twiddle.
    """
    M: tl.constexpr = M1 * M2
    pid = tl.program_id(0)
    d = (pid // P).to(tl.int64)
    kp = pid % P
    pos = tl.arange(0, M1)[:, None] * M2 + tl.arange(0, M2)[None, :]
    f1r, f1i, f2r, f2i, twr, twi = _load_tables(f_ptr, tw_ptr, M1, M2)
    if OUTER:
        stride_b = D * P * 2 * M
        off = (d * P + kp) * 2 * M
    else:
        stride_b = D * L
        off = d * L
    acc_r = tl.zeros((M1, M2), dtype=tl.float32)
    acc_i = tl.zeros((M1, M2), dtype=tl.float32)
    for _ in range(0, B):
        if OUTER:
            gr = tl.load(g_ptr + off + pos)
            gi = tl.load(g_ptr + off + M + pos)
            gr, gi = _dft(gr, gi, f1r, f1i, f2r, f2i, twr, twi, False, PREC)
            xr = tl.load(x_ptr + off + pos)
            xi = tl.load(x_ptr + off + M + pos)
            xr, xi = _dft(xr, xi, f1r, f1i, f2r, f2i, twr, twi, False, PREC)
        else:
            g = tl.load(g_ptr + off + pos, mask=pos < L, other=0.0)
            gr, gi = _dft(g, g, f1r, f1i, f2r, f2i, twr, twi, True, PREC)
            x = tl.load(x_ptr + off + pos, mask=pos < L, other=0.0)
            xr, xi = _dft(x, x, f1r, f1i, f2r, f2i, twr, twi, True, PREC)
        acc_r += gr * xr + gi * xi
        acc_i += gi * xr - gr * xi
        off += stride_b
    acc_r *= scale
    acc_i *= scale
    if OUTER:
        yr, yi = _idft(acc_r, acc_i, f1r, f1i, f2r, f2i, twr, twi, False, PREC)
        yr, yi = _times_conj_outer(yr, yi, tw_ptr, kp, P, M1, M2)
        out = pid.to(tl.int64) * 2 * M + pos
        tl.store(out_ptr + out, yr.to(out_ptr.dtype.element_ty))
        tl.store(out_ptr + out + M, yi.to(out_ptr.dtype.element_ty))
    else:
        yr, yi = _idft(acc_r, acc_i, f1r, f1i, f2r, f2i, twr, twi, True, PREC)
        tl.store(out_ptr + d * L + pos, yr, mask=pos < L)


@triton.jit
def _col_dft_kernel(x_ptr, z_ptr, f_ptr, tw_ptr, L, D, stride_xb, M: tl.constexpr,
                    P: tl.constexpr, BM: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """z[r, k_p, :, m] = W_N^(k_p·m) · sum_p F_P[k_p, p] x[r, M·p + m] (re, im), for BM columns m.

    x: (B, D, L) rows of length L, batch stride stride_xb; z: (B, D, P, 2, M); r = (b, d).
    """
    r = tl.program_id(0)
    p = tl.arange(0, P)[:, None]
    m = tl.program_id(1) * BM + tl.arange(0, BM)[None, :]
    n = p * M + m
    row = (r // D).to(tl.int64) * stride_xb + (r % D).to(tl.int64) * L
    x = tl.load(x_ptr + row + n, mask=n < L, other=0.0)
    zr = tl.dot(_load_tile(f_ptr, P, P), x, input_precision=PREC)
    zi = tl.dot(_load_tile(f_ptr + P * P, P, P), x, input_precision=PREC)
    wr = tl.load(tw_ptr + 2 * M + n)  # the outer twiddles follow the inner ones
    wi = tl.load(tw_ptr + 2 * M + P * M + n)
    out = z_ptr + r.to(tl.int64) * 2 * P * M + p * 2 * M + m
    tl.store(out, (zr * wr - zi * wi).to(z_ptr.dtype.element_ty))
    tl.store(out + M, (zr * wi + zi * wr).to(z_ptr.dtype.element_ty))


@triton.jit
def _col_idft_kernel(z_ptr, f_ptr, x_ptr, bias_ptr, y_ptr, L, D, stride_b,
                     HAS_BIAS: tl.constexpr, M: tl.constexpr, P: tl.constexpr,
                     BM: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """y[r, M·p + m] = Re sum_k conj(F_P)[p, k] z[r, k, :, m] (+ bias ⊙ x), for BM columns m.

    z: (B, D, P, 2, M); x and y: (B, D, L) rows of length L, batch stride stride_b; r = (b, d).
    """
    r = tl.program_id(0)
    d = (r % D).to(tl.int64)
    row = (r // D).to(tl.int64) * stride_b + d * L
    p = tl.arange(0, P)[:, None]
    m = tl.program_id(1) * BM + tl.arange(0, BM)[None, :]
    n = p * M + m
    z = z_ptr + r.to(tl.int64) * 2 * P * M + p * 2 * M + m
    y = tl.dot(_load_tile(f_ptr, P, P), tl.load(z), input_precision=PREC)
    y = tl.dot(_load_tile(f_ptr + P * P, P, P), tl.load(z + M), y, input_precision=PREC)
    if HAS_BIAS:
        x = tl.load(x_ptr + row + n, mask=n < L, other=0.0)
        y += tl.load(bias_ptr + d).to(tl.float32) * x.to(tl.float32)
    tl.store(y_ptr + row + n, y.to(y_ptr.dtype.element_ty), mask=n < L)


@dataclass(frozen=True)
class Plan:
    """FFT size n = p · m1 · m2; p == 1 means one fused row kernel, no column kernels."""

    n: int
    p: int
    m1: int
    m2: int

    @property
    def m(self) -> int:
        return self.m1 * self.m2


def plan_for(L: int) -> Plan:
    """The FFT size (power of two >= 2L - 1) and its factors for sequences of length L."""
    fused_max = FUSED_MAX_N  # read at call time, so a test can lower it
    n = max(next_power_of_2(2 * L - 1), MIN_N)
    m = n if n <= fused_max else max(min(fused_max, n // MIN_P), MIN_N)
    p = n // m
    if p != 1 and not MIN_P <= p <= MAX_P:
        raise ValueError(f"L={L}: FFT size {n} is not P x M, {MIN_P} <= P <= {MAX_P}, M <= {m}")
    m1 = 1 << (m.bit_length() - 1) // 2  # m1 <= m2, both powers of two >= 16
    return Plan(n, p, m1, m // m1)


def _roots(rows: int, cols: int, n: int, scale: float = 1.0) -> torch.Tensor:
    """exp(-2πi jk/n) · scale for j < rows, k < cols: float64 (2, rows, cols), real then imag."""
    jk = torch.outer(torch.arange(rows, dtype=torch.int64), torch.arange(cols, dtype=torch.int64))
    angle = (jk % n).double() * (-2 * math.pi / n)
    return torch.stack((torch.cos(angle), torch.sin(angle))) * scale


@functools.lru_cache(maxsize=32)
def _tables(plan: Plan, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Flat tables the kernels read: unitary F_M1 then F_M2 (dot dtype); inner (2, M1, M2) then
    outer (2, P, M) twiddles (fp32); unitary F_P (dot dtype)."""
    dft = lambda k: _roots(k, k, k, 1 / math.sqrt(k)).reshape(-1)  # noqa: E731
    twiddles = (_roots(plan.m1, plan.m2, plan.m), _roots(plan.p, plan.m, plan.n))
    return (
        torch.cat((dft(plan.m1), dft(plan.m2))).to(device, dtype),
        torch.cat([t.reshape(-1) for t in twiddles]).to(device, torch.float32),
        dft(plan.p).to(device, dtype),
    )


def _spectrum(h: torch.Tensor, plan: Plan, conj: bool) -> torch.Tensor:
    """torch.fft.fft of h in fp32 in the kernels' order, (D, P, 2, M): [d, k_p, ·, k1·M2 + k2]
    holds H[k_p + P·(k1 + M1·k2)], real then imag (conjugated for `conj`)."""
    ar = lambda k: torch.arange(k, device=h.device)  # noqa: E731
    k = ar(plan.p)[:, None, None] + plan.p * (ar(plan.m1)[:, None] + plan.m1 * ar(plan.m2))
    hf = torch.fft.fft(h.float(), n=plan.n)[:, k.reshape(plan.p, -1)]
    return torch.stack((hf.real, -hf.imag if conj else hf.imag), dim=2).contiguous()


def _row_meta(plan: Plan, dtype: torch.dtype) -> dict:
    # 8 warps from [32, 64] up: the fp32 tiles of a row exceed what 4 warps hold in registers.
    warps = 4 if plan.m <= 1024 else 8
    return dict(M1=plan.m1, M2=plan.m2, PREC=dot_precision(dtype), num_warps=warps)


def _col_meta(plan: Plan, dtype: torch.dtype) -> tuple[int, dict]:
    bm = max(16, COL_TILE // plan.p)
    return bm, dict(M=plan.m, P=plan.p, BM=bm, PREC=dot_precision(dtype), num_warps=4)


def _channel_chunks(B: int, D: int, plan: Plan) -> list[tuple[int, int]]:
    """Channel ranges [d0, d1) whose scratch of B·(d1 - d0)·2N elements fits MAX_SCRATCH_ELEMS."""
    step = max(1, MAX_SCRATCH_ELEMS // (B * 2 * plan.n))
    return [(d0, min(d0 + step, D)) for d0 in range(0, D, step)]


def _col_dft(x: torch.Tensor, plan: Plan, tables) -> torch.Tensor:
    """Column DFTs of x (B, Dc, L), a channel slice with contiguous rows: (B, Dc, P, 2, M)."""
    B, Dc, L = x.shape
    z = torch.empty((B, Dc, plan.p, 2, plan.m), device=x.device, dtype=x.dtype)
    bm, meta = _col_meta(plan, x.dtype)
    _col_dft_kernel[(B * Dc, plan.m // bm)](x, z, tables[2], tables[1], L, Dc, x.stride(0), **meta)
    return z


def _col_idft(z: torch.Tensor, plan: Plan, tables, y: torch.Tensor, x=None, bias=None) -> None:
    """y (B, Dc, L) = inverse column DFTs of z (B, Dc, P, 2, M), plus bias ⊙ x when x is given."""
    B, Dc, L = y.shape
    bm, meta = _col_meta(plan, z.dtype)
    has_bias = x is not None
    x, bias = (x, bias) if has_bias else (y, y)  # unused pointers when there is no bias
    _col_idft_kernel[(B * Dc, plan.m // bm)](
        z, tables[2], x, bias, y, L, Dc, y.stride(0), HAS_BIAS=has_bias, **meta
    )


def _conv(x: torch.Tensor, spec: torch.Tensor, bias: torch.Tensor, plan: Plan) -> torch.Tensor:
    """y = IDFT(spec · DFT(x)) + bias ⊙ x for contiguous x (B, D, L); y like x."""
    B, D, L = x.shape
    y = torch.empty_like(x)
    tables = _tables(plan, x.dtype, x.device)
    meta = dict(_row_meta(plan, x.dtype), ROWS=ROWS_PER_PROGRAM)
    rows = triton.cdiv(B, ROWS_PER_PROGRAM)
    if plan.p == 1:
        args = (x, y, bias, spec, *tables[:2], B, D, L, 1)
        _conv_rows_kernel[(D, rows)](*args, OUTER=False, **meta)
        return y
    for d0, d1 in _channel_chunks(B, D, plan):
        z = _col_dft(x[:, d0:d1], plan, tables)
        args = (z, z, bias[d0:d1], spec[d0:d1], *tables[:2], B, d1 - d0, L, plan.p)
        _conv_rows_kernel[((d1 - d0) * plan.p, rows)](*args, OUTER=True, **meta)
        _col_idft(z, plan, tables, y[:, d0:d1], x[:, d0:d1], bias[d0:d1])
    return y


def _correlate(g: torch.Tensor, x: torch.Tensor, plan: Plan) -> torch.Tensor:
    """out[d, k] = sum_b sum_t g[b, d, t] x[b, d, t - k] for k < L, fp32 (D, L); g, x contiguous."""
    B, D, L = x.shape
    out = torch.empty((D, L), device=x.device, dtype=torch.float32)
    tables = _tables(plan, x.dtype, x.device)
    meta = _row_meta(plan, x.dtype)
    scale = math.sqrt(plan.n)  # two unitary forward DFTs and a unitary inverse: 1/N -> 1/sqrt(N)
    if plan.p == 1:
        _corr_rows_kernel[(D,)](g, x, out, *tables[:2], B, D, L, 1, scale, OUTER=False, **meta)
        return out
    for d0, d1 in _channel_chunks(2 * B, D, plan):  # two scratch buffers: g's and x's
        zg, zx = _col_dft(g[:, d0:d1], plan, tables), _col_dft(x[:, d0:d1], plan, tables)
        e = torch.empty_like(zg[:1])  # (1, Dc, P, 2, M): summed over the batch
        args = (zg, zx, e, *tables[:2], B, d1 - d0, L, plan.p, scale)
        _corr_rows_kernel[((d1 - d0) * plan.p,)](*args, OUTER=True, **meta)
        _col_idft(e, plan, tables, out[None, d0:d1])
    return out


class MonarchCausalConv(torch.autograd.Function):
    """Forward and backward both run the Triton kernels above; grads in the inputs' dtypes.

    grad_u = IDFT(conj(H)·DFT(grad_y)) + bias ⊙ grad_y (an anti-causal correlation with h);
    grad_h = IDFT(sum_b DFT(grad_y)·conj(DFT(u))), the batch summed in the frequency domain;
    grad_bias is lag 0 of that correlation.
    """

    @staticmethod
    def forward(ctx, u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        check_inputs(u, h, bias)
        require_runnable(_conv_rows_kernel, u, h, bias)
        u, bias = u.contiguous(), bias.contiguous()
        ctx.plan = plan_for(u.shape[-1])
        ctx.save_for_backward(u, h, bias)
        return _conv(u, _spectrum(h, ctx.plan, conj=False), bias, ctx.plan)

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):
        u, h, bias = ctx.saved_tensors
        grad_y = grad_y.to(u.dtype).contiguous()
        grad_u = grad_h = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_u = _conv(grad_y, _spectrum(h, ctx.plan, conj=True), bias, ctx.plan)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            gh = _correlate(grad_y, u, ctx.plan)
            grad_h, grad_bias = gh.to(h.dtype), gh[:, 0].to(bias.dtype)
        return grad_u, grad_h, grad_bias


def causal_conv(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """y[b,d,t] = sum_{s<=t} h[d,s] u[b,d,t-s] + bias[d] u[b,d,t], differentiable, in u's dtype."""
    return MonarchCausalConv.apply(u, h, bias)
