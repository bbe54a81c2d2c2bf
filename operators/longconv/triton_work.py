"""What the Triton long convolutions issue: their FFT plans, and the FLOPs and HBM bytes each
strategy's kernels move for a shape. Pure arithmetic (no torch, no triton), so reports can draw a
roofline from a results row and the kernels share one definition of their plan.

FLOPs count what the kernels issue to `tl.dot` (2 per multiply-add, padding included), not the
function computed; element-wise work (twiddles, spectrum products, casts) is left out: it runs on
CUDA cores beside the matmuls and is a few percent of the count. Bytes are HBM traffic under the
design's assumption that what one program (or the concurrent programs of one channel) rereads is
served by L2; the traffic that is meant to stay in L2 (the FFT scratch) is given separately.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Bytes per element of each precision name (operators.config.DTYPES).
ELEMENT_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "fp64": 8}

# --- The FFT plan (triton_monarch) ----------------------------------------------------------------
# A real FFT of size N = the power of two >= 2L - 1 runs as two complex-free half-size transforms
# of M = N/2 points (even and odd samples), each a Bailey decomposition M = P x M1 x M2.
# tl.dot needs every dimension >= 16: the smallest half-size transform is 16 x 16.
MIN_M = 256
# Largest [M1, M2] tile the kernels hold in registers (the "inner" transform): at 8 warps the
# spectrum, both transformed rows and the tables of a [32, 64] tile stay in registers
# (TRITON_NOTES.md, ptxas for sm_90). Up to this size a row is done with no scratch at all.
MAX_INNER = 2048
# Outer (column) radix P when M > MAX_INNER: >= 16 for tl.dot; <= 64, since the [P, P/2] DFT
# tables of P = 128 spilled, and 64 x 2048 already reaches L = 128k, the benchmark's longest.
MIN_P, MAX_P = 16, 64
MAX_SEQLEN = MAX_P * MAX_INNER


def half_or_all(r: int) -> int:
    """Rows of a radix-r stage that carry data when half its input (or output) is known to be
    zero (unused): r/2, unless that is below tl.dot's minimum of 16."""
    return r // 2 if r // 2 >= 16 else r


@dataclass(frozen=True)
class Plan:
    """FFT size n; half-size m = p · m1 · m2; p == 1: one row in registers, no scratch."""

    n: int
    p: int
    m1: int
    m2: int

    @property
    def m(self) -> int:
        return self.n // 2

    @property
    def inner(self) -> int:
        return self.m1 * self.m2

    def dot_flops(self) -> tuple[int, int]:
        """(forward, inverse) tl.dot FLOPs per row of the convolution kernels. Registers: the
        even and odd rows each get a real forward (stage A with its zero half skipped, stage B
        complex); the inverse is one complex row whose parts are the even and odd outputs (half
        of the rows used). Scratch: the even and odd rows travel as one complex row; pass 2
        does one complex inner DFT per column tile, and two for tiles 0 (real) and P/2."""
        m, m1, m2, mi = self.m, self.m1, self.m2, self.inner
        if self.p == 1:
            return 8 * half_or_all(m1) * m + 16 * m2 * m, 8 * m2 * m + 8 * half_or_all(m1) * m
        fwd = 8 * half_or_all(self.p) * m + 8 * (m1 + m2) * m + 8 * mi * (m1 + 2 * m2)
        return fwd, 8 * (m1 + m2) * m + 8 * half_or_all(self.p) * m

    def corr_fwd_flops(self) -> int:
        """tl.dot FLOPs of the correlation kernels' forward transform of one row (g or x): the
        even and odd rows separately (registers: as the convolution; scratch: two real column
        DFTs and two complex inner DFTs per tile)."""
        if self.p == 1:
            return self.dot_flops()[0]
        return 8 * half_or_all(self.p) * self.m + 16 * (self.m1 + self.m2) * self.m


# The [M1, M2] tiles each path may use: those that compiled for sm_90 without spills, or with a
# few dozen bytes (ptxas, fp16, python -m operators.longconv.triton_aot; TRITON_NOTES.md has
# every version's numbers). Others of the same
# sizes spilled: register path [64, 32] (380 bytes a thread), [128, 16] (224), [32, 32] (grad_h
# 728); scratch path [32, 32] (20..60), [64, 16] (140), [32, 32] at P = 128 (188..256).
REGISTER_TILES = {(16, 16), (32, 16), (16, 32), (64, 16), (32, 64)}
SCRATCH_TILES = {(16, 16), (16, 32), (16, 64), (32, 64)}


# fp32 register-path tiles stop at 1024 points: at [32, 64] the fp32 "ieee" dots' layout
# conversions take 348 KB of shared memory (sm_90 allows 227 KB), so fp32 rows of 1025..2048 use
# the scratch path with a twice larger FFT (fp32 is the checking dtype, not the fast path).
MAX_INNER_BY_DTYPE = {"fp32": 1024}


def _candidates(n: int, dtype: str) -> list[Plan]:
    """Every valid factorisation of the half size n/2: registers only (p = 1) when it fits,
    else MIN_P <= p <= MAX_P columns of an inner tile of at most MAX_INNER points."""
    m = n // 2
    in_registers = m <= MAX_INNER_BY_DTYPE.get(dtype, MAX_INNER)
    outer = [1] if in_registers else [p for p in (16, 32, 64) if MIN_P <= p <= MAX_P]
    plans = []
    for p in outer:
        inner = m // p
        if MIN_M <= inner <= MAX_INNER:
            m1 = 16
            while m1 <= inner // 16:
                if (m1, inner // m1) in (REGISTER_TILES if p == 1 else SCRATCH_TILES):
                    plans.append(Plan(n, p, m1, inner // m1))
                m1 *= 2
    return plans


def plan_for(L: int, dtype: str = "fp16") -> Plan:
    """The plan with the fewest issued FLOPs for length L (ties: the smaller m1); the FFT is
    enlarged when no tile of its size suits `dtype` (fp32 at 1025..2048)."""
    if L < 1:
        raise ValueError(f"L={L}: need L >= 1")
    n = max(1 << (2 * L - 2).bit_length(), 2 * MIN_M)
    plans = _candidates(n, dtype) or _candidates(2 * n, dtype)
    if not plans or L > MAX_SEQLEN:
        raise ValueError(f"L={L}: FFT size {n} exceeds the largest plan (L <= {MAX_SEQLEN})")
    return min(plans, key=lambda pl: (sum(pl.dot_flops()), pl.m1))


# --- Issued work ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Work:
    """FLOPs issued to tl.dot, HBM bytes, and bytes meant to stay in L2 (scratch, rereads)."""

    flops: float
    hbm_bytes: float
    l2_bytes: float

    def __add__(self, other: Work) -> Work:
        return Work(
            self.flops + other.flops,
            self.hbm_bytes + other.hbm_bytes,
            self.l2_bytes + other.l2_bytes,
        )


def _check(dtype: str, mode: str) -> int:
    if dtype not in ELEMENT_BYTES or mode not in ("fwd", "fwd_bwd"):
        raise ValueError(f"dtype {dtype!r} or mode {mode!r} unknown")
    return ELEMENT_BYTES[dtype]


# Rows of one channel per register-path program (triton_monarch.ROWS_PER_PROGRAM).
ROWS_PER_PROGRAM = 4


def monarch_work(B: int, D: int, L: int, dtype: str, mode: str, gated: bool = False) -> Work:
    """triton_monarch: filter spectrum (torch.fft), fused conv kernel, and in fwd_bwd the
    grad_u conv kernel and the batch-summed correlation kernel for grad_h and grad_bias.
    `gated`: pre and post gates read in the forward (and again in the backward)."""
    e = _check(dtype, mode)
    plan = plan_for(L, dtype)
    m, rows = plan.m, B * D
    fwd, inv = plan.dot_flops()
    gates = 2 if gated else 0
    spec_bytes = 2 * m * e  # Hermitian half, re and im, in the dot dtype
    # Spectrum by torch: h read, complex64 rfft written, read back for the scale and packing.
    prep = Work(2.5 * plan.n * math.log2(plan.n) * D, D * (L * e + 3 * (m + 1) * 8 + 2 * m * e), 0)
    # per row, scratch path: pass 1 writes 2M, pass 2 reads and writes 2M, pass 3 reads 2M; the
    # spectrum is read once per row (scratch) or per row of a register-path program (L1 likely)
    scratch = 0 if plan.p == 1 else 8 * m * e
    spec_rereads = spec_bytes * rows
    conv = Work(rows * (fwd + inv), rows * (2 + gates) * L * e + D * spec_bytes, 0)
    conv += Work(0, 0, rows * (scratch + L * e) + spec_rereads)  # + u reread for the bias term
    if mode == "fwd":
        return prep + conv
    # per channel and row of B: g's and x's column DFTs (4M each) written and read, and the fp32
    # accumulator (2M) read and written; then the inverse's 2M written and read
    corr_scratch = 0 if plan.p == 1 else D * (B * (16 * m * e + 16 * m) + 4 * m * e)
    corr = Work(
        D * (B * 2 * plan.corr_fwd_flops() + inv),
        rows * (2 + gates) * L * e + D * L * (4 + 4 + e),  # g, u (+gates); fp32 out, cast
        corr_scratch,
    )
    return prep + conv + conv + corr  # the forward, grad_u (same kernel), grad_h


# --- Toeplitz (triton_toeplitz) -------------------------------------------------------------------
TOEPLITZ_BLOCK_T, TOEPLITZ_MIN_BB, TOEPLITZ_MAX_BB = 64, 16, 64
CORR_BLOCK, CORR_ROWS = 32, 64


def toeplitz_batch_block(B: int) -> int:
    """Batch columns per Toeplitz program: B rounded up to a power of two, 16..64."""
    return min(max(1 << (B - 1).bit_length(), TOEPLITZ_MIN_BB), TOEPLITZ_MAX_BB)


def toeplitz_work(B: int, D: int, L: int, dtype: str, mode: str, gated: bool = False) -> Work:
    """triton_toeplitz: every causal 64x64 tile of h's Toeplitz matrix times a [64, BB] batch
    block (padding to BB included); fwd_bwd adds the anti-causal grad_u pass and the grad_h
    correlation (32x32 lag tiles over (batch, block) rows, an fp32 scratch and its diagonals)."""
    e = _check(dtype, mode)
    bb = toeplitz_batch_block(B)
    nt, nbb = math.ceil(L / TOEPLITZ_BLOCK_T), math.ceil(B / bb)
    tiles = D * nbb * nt * (nt + 1) // 2
    gates = 2 if gated else 0
    tile_bytes = TOEPLITZ_BLOCK_T * (TOEPLITZ_BLOCK_T + bb) * e
    conv = Work(tiles * 2 * TOEPLITZ_BLOCK_T**2 * bb, B * D * L * (2 + gates) * e + D * L * e, 0)
    conv += Work(0, 0, tiles * tile_bytes)
    if mode == "fwd":
        return conv
    nblk = math.ceil(L / CORR_BLOCK)
    dots = D * sum(math.ceil(B * (nblk - d) / CORR_ROWS) for d in range(nblk))
    scratch = D * nblk * CORR_BLOCK**2 * 4
    corr = Work(
        dots * 2 * CORR_BLOCK**2 * CORR_ROWS,
        B * D * L * (2 + gates) * e + 3 * scratch + D * L * (4 + e),
        dots * CORR_ROWS * 2 * CORR_BLOCK * e,
    )
    return conv + conv + corr


STRATEGY_WORK = {"toeplitz": toeplitz_work, "monarch": monarch_work}


def work(strategy: str, B: int, D: int, L: int, dtype: str, mode: str, gated: bool = False) -> Work:
    """Issued work of `strategy` ('toeplitz' or 'monarch') for one core-level call."""
    if strategy not in STRATEGY_WORK:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGY_WORK)}")
    return STRATEGY_WORK[strategy](B, D, L, dtype, mode, gated)


def floor_bytes(B: int, D: int, L: int, dtype: str) -> float:
    """The forward's HBM floor: u read and y written once, h read once."""
    e = ELEMENT_BYTES[dtype]
    return (2 * B * D * L + D * L) * e


# --- Predicted H200 latency -----------------------------------------------------------------------
# Assumptions, not measurements (TRITON_NOTES.md compares them with a GPU run once one exists):
HBM_BYTES_PER_S = 4.3e12  # the device-to-device copy rate recorded on the H200 machine
L2_BYTES_PER_S = 6e12  # assumed: published H100 L2 microbenchmarks give about 5.5..7 TB/s
# tl.dot throughput: small tiles (M, N, K of 16..64) lower to mma.sync, not wgmma: assume 40% of
# the 989 TFLOP/s fp16/bf16 dense peak; fp32 "ieee" dots run on CUDA cores (67 TFLOP/s peak): 50%.
DOT_FLOPS_PER_S = {"fp16": 400e12, "bf16": 400e12, "fp32": 33e12}
LAUNCH_S = 4e-6  # per kernel launch and tail, assumed
KERNELS = {"toeplitz": {"fwd": 1, "fwd_bwd": 4}, "monarch": {"fwd": 2, "fwd_bwd": 5}}


def predicted_ms(
    strategy: str, B: int, D: int, L: int, dtype: str, mode: str, gated: bool = False
) -> float:
    """The slowest of tl.dot FLOPs, HBM bytes and L2 bytes at the assumed rates, plus launches."""
    w = work(strategy, B, D, L, dtype, mode, gated)
    busy = max(w.flops / DOT_FLOPS_PER_S[dtype], w.hbm_bytes / HBM_BYTES_PER_S)
    busy = max(busy, w.l2_bytes / L2_BYTES_PER_S)
    return 1e3 * (busy + KERNELS[strategy][mode] * LAUNCH_S)


# torch.fft in fp32 (the hyena-fft baseline) by counting its passes per (b, d) row: upcast, rfft,
# product, irfft, skip term, downcast, about 62·L bytes of fp32 traffic (cuFFT's own extra passes
# at large N not counted).
TORCH_FFT_BYTES_PER_ROW_PER_L = 62


def main(argv: list[str] | None = None) -> None:
    """Print the byte/FLOP model and predicted latency per L: forward, core level.
    python -m operators.longconv.triton_work [B [D [dtype]]]  (default 8 768 fp16)."""
    import sys

    given = sys.argv[1:] if argv is None else argv
    args = given + ["8", "768", "fp16"][len(given) :]
    B, D, dtype = int(args[0]), int(args[1]), args[2]
    print(f"B={B}, D={D}, {dtype}, forward, core level; rates: triton_work constants")
    print("| L | plan P·M1·M2 | GFLOP | HBM GB | L2 GB | floor ms | monarch ms | toeplitz ms "
          "| torch fp32 ms (est.) | x floor | x torch |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for L in (256, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072):
        plan, w = plan_for(L, dtype), work("monarch", B, D, L, dtype, "fwd")
        floor = floor_bytes(B, D, L, dtype) / HBM_BYTES_PER_S * 1e3
        mon = predicted_ms("monarch", B, D, L, dtype, "fwd")
        toe = predicted_ms("toeplitz", B, D, L, dtype, "fwd")
        torch_ms = TORCH_FFT_BYTES_PER_ROW_PER_L * L * B * D / HBM_BYTES_PER_S * 1e3
        print(
            f"| {L} | {plan.p}·{plan.m1}·{plan.m2} | {w.flops / 1e9:.0f} | "
            f"{w.hbm_bytes / 1e9:.3f} | {w.l2_bytes / 1e9:.2f} | {floor:.3f} | {mon:.3f} | "
            f"{toe:.3f} | {torch_ms:.3f} | {mon / floor:.1f} | {torch_ms / mon:.1f} |"
        )


if __name__ == "__main__":
    main()
