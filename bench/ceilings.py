"""The device's ceilings, measured at the start of a run by the worker with the timer the rows use:
dense matrix multiplication in the run's dtype (TFLOP/s) and copy bandwidth (GB/s). They draw the
roofline: a call that issues F FLOPs and must move at least M bytes cannot take less than
max(F / matmul rate, M / copy bandwidth); `roofline_fraction` is that time over the measured one.

Both are what this software stack reaches on simple, well-tuned operations (torch.mm on cuBLAS or
the CPU's BLAS, a tensor copy), not datasheet peaks: a row at fraction 1.0 runs as fast as a
large matmul or a large copy would for its work and traffic.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from bench.timing import TimingOptions, measure
from operators.config import DTYPES

# Square matmul sizes: cuBLAS reaches its best tiles at 8192 (fp16: 1.1 TFLOP a call, about 2 ms
# on an H200, long against CUDA events' resolution); a CPU's BLAS is near its peak at 512 (0.27
# GFLOP a call, a few ms on 2 cores; the CPU's rows multiply far smaller matrices).
GPU_MATMUL_N, CPU_MATMUL_N = 8192, 512
# Copy sizes. GPU: 1 GiB, 20x an H200's 50 MB L2, so the copy runs at HBM bandwidth. CPU: 64 MiB,
# which a large last-level cache may partly hold (this machine's reports 300 MiB): the ceiling
# of a copy of that size, the order of the CPU sweeps' working sets, not of DRAM alone; a copy
# beyond such a cache took seconds a run on a loaded 2-core machine.
GPU_COPY_BYTES, CPU_COPY_BYTES = 1 << 30, 64 << 20
# The rows' timer with fewer repetitions and no timed warm-up beyond its first calls
# (bench.timing.WARMUP_CALLS): each ceiling is one large, steady operation, and every run (every
# CLI test's too) pays for both.
CEILING_MIN_REPS = 5
CEILING_TARGET_S = 0.1


@dataclass(frozen=True)
class Request:
    """The runner's message to a worker: measure the ceilings for `dtype` (once a run: a resumed
    run or a replaced worker keeps those already in env.json)."""

    dtype: str


def copy_bytes(device: torch.device) -> int:
    return GPU_COPY_BYTES if device.type == "cuda" else CPU_COPY_BYTES


def ceiling_timing(opts: TimingOptions) -> TimingOptions:
    return dataclasses.replace(
        opts,
        min_reps=CEILING_MIN_REPS,
        target_s=min(opts.target_s, CEILING_TARGET_S),
        warmup_s=0.0,
    )


def matmul_tflops(device: torch.device, dtype: torch.dtype, opts: TimingOptions) -> tuple:
    """(TFLOP/s, n, timer) of an n x n by n x n torch.mm in `dtype`: 2·n³ FLOPs a call."""
    n = GPU_MATMUL_N if device.type == "cuda" else CPU_MATMUL_N
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=gen).to(dtype)
    b = torch.randn(n, n, device=device, generator=gen).to(dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    m = measure(lambda: torch.mm(a, b, out=c), device, opts)
    return 2 * n**3 / (m.median / 1e3) / 1e12, n, m.timer


def copy_gbps(device: torch.device, opts: TimingOptions) -> tuple:
    """(GB/s, bytes, timer) of a tensor copy: each call reads and writes `bytes`."""
    nbytes = copy_bytes(device)
    src = torch.ones(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    m = measure(lambda: dst.copy_(src), device, opts)
    return 2 * nbytes / (m.median / 1e3) / 1e9, nbytes, m.timer


def measure_ceilings(device: torch.device, dtype: str, opts: TimingOptions) -> dict[str, Any]:
    """The ceilings of `device` for `dtype`, as stored in env.json under `ceilings`; on failure
    {"dtype", "error"} (the rows then carry no roofline_fraction, the run goes on)."""
    timing = ceiling_timing(opts)
    try:
        tflops, n, timer = matmul_tflops(device, getattr(torch, DTYPES[dtype]), timing)
        gbps, nbytes, _ = copy_gbps(device, timing)
    except Exception as exc:  # an OOM or a dtype the device lacks: the rows still run
        return {"dtype": dtype, "error": f"{exc.__class__.__name__}: {str(exc)[:300]}"}
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()  # the copy's 2 GiB must not stay reserved for the rows
    tf32 = device.type == "cuda" and dtype == "fp32" and torch.backends.cuda.matmul.allow_tf32
    return {
        "dtype": dtype,
        "matmul_tflops": tflops,
        "copy_gbps": gbps,
        "matmul": f"torch.mm of {n} x {n} matrices in {dtype}" + (" (TF32 on)" if tf32 else ""),
        "copy": f"tensor copy of {nbytes} bytes (read and written: {2 * nbytes} bytes a call)",
        "timer": timer,
    }


def roofline_ms(flops: float | None, nbytes: float | None, ceilings: dict[str, Any]) -> float:
    """The least time the ceilings allow for `flops` FLOPs and `nbytes` bytes (ms)."""
    compute = (flops or 0.0) / (ceilings["matmul_tflops"] * 1e12)
    memory = (nbytes or 0.0) / (ceilings["copy_gbps"] * 1e9)
    return max(compute, memory) * 1e3


def usable(ceilings: Any, dtype: str) -> bool:
    """Ceilings measured in `dtype` (not a failed measurement, not another dtype's)."""
    return (
        isinstance(ceilings, dict)
        and ceilings.get("dtype") == dtype
        and isinstance(ceilings.get("matmul_tflops"), float)
        and isinstance(ceilings.get("copy_gbps"), float)
    )


def fraction(row: dict[str, Any], ceilings: Any) -> float | None:
    """A row's roofline_fraction: roofline_ms over its median; None unless the row is ok, has
    issued FLOPs and bytes, and the ceilings were measured in its dtype. Analytic FLOPs are not
    used in place of issued ones: they count another convention's work, not what ran."""
    median, issued, nbytes = (row.get(k) for k in ("latency_ms_median", "flops_issued", "bytes"))
    if row.get("status") != "ok" or not usable(ceilings, row.get("dtype", "")):
        return None
    if issued is None or nbytes is None or not median or median <= 0:
        return None
    return roofline_ms(issued, nbytes, ceilings) / median
