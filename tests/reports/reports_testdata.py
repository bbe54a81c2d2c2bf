"""Hand-made run directories with known numbers, for the report tests.

Latencies follow exact power laws in s = L / 1024, so speedups, crossovers and exponents have
closed forms; each row's samples are its median times the TIGHT or WIDE factors, so the
median is exact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LENGTHS = [1024 * 2**i for i in range(7)]  # 1k .. 64k
TIGHT = (0.98, 0.99, 1.0, 1.01, 1.02)  # +-2%: intervals far from the thresholds
WIDE = (0.9, 0.95, 1.0, 1.05, 1.1)  # +-10%: an interval that straddles a threshold
H200_ENV = {
    "run_id": "test-run",
    "hyena_bench_version": "0.1.0",
    "git_commit": "abc1234",
    "git_dirty": False,
    "command": "hyena-bench run --preset paper",
    "preset": "paper",
    "started_at": "2025-01-01T00:00:00+00:00",
    "finished_at": "2025-01-01T01:00:00+00:00",
    "python": "3.11.9",
    "torch": "2.5.1",
    "triton": "3.1.0",
    "flash_attn": "2.7.0",
    "cuda": "12.4",
    "cudnn": 90100,
    "device": {
        "type": "cuda",
        "name": "NVIDIA H200",
        "compute_capability": "9.0",
        "memory_bytes": 150_000_000_000,
        "sm_count": 132,
        "l2_bytes": 52_428_800,
        "driver": "550.54",
    },
    "nvml": {"start": None, "end": None, "reason": None},
    "cpu": {"model": "test cpu", "threads": 16, "torch_threads": 16},
    "hostname": "test",
}


def row(
    op: str,
    seqlen: int,
    median: float | None,
    *,
    status: str = "ok",
    spread: tuple[float, ...] = TIGHT,
    **extra: Any,
) -> dict[str, Any]:
    """One results row in the contract's shape (layer, fwd, fp16, batch 64, d_model 768, cuda)."""
    samples = [median * f for f in spread] if status == "ok" else []
    ok = status == "ok"
    base = {
        "schema_version": 1,
        "run_id": "test-run",
        "op": op,
        "family": "hyena" if op.startswith("hyena") else "attention",
        "level": "layer",
        "impl_detail": op,
        "device": "cuda",
        "device_name": "NVIDIA H200",
        "dtype": "fp16",
        "mode": "fwd",
        "batch": 64,
        "seqlen": seqlen,
        "d_model": 768,
        "heads": 12,
        "order": 2,
        "status": status,
        "reason": None if ok else f"{status} in test",
        "reps": len(samples),
        "latency_ms_median": median if ok else None,
        "latency_ms_p10": min(samples) if ok else None,
        "latency_ms_p90": max(samples) if ok else None,
        "samples_ms": samples,
        "peak_mem_bytes": seqlen * 2**10 if ok else None,
        "flops": 1e12 if ok else None,
        "tflops": 1e12 / (median * 1e-3) / 1e12 if ok else None,
        "bytes": 1e9 if ok else None,
        "gbps": 1e9 / (median * 1e-3) / 1e9 if ok else None,
        "energy_j": None,
        "max_rel_err": 1e-3 if ok else None,
        "verified": ok,
        "started_at": "2025-01-01T00:00:00+00:00",
        "timer": "CUDA events per call, L2 flushed before each (on), 5 reps sized to 0.2 s",
        "throttled": False,
    }
    return {**base, **extra}


def paper_rows() -> list[dict[str, Any]]:
    """Batch 64: hyena-fft s ms, hyena-naive 0.6 s^2 (OOM from 32k), attention-dense 0.5 s^2
    (OOM at 64k), flash-attn2 0.3 s^2, attention-sdpa-flash 0.35 s^2. Batch 1 (1k..8k):
    hyena-fft 0.5 s and flash-attn2 s^2/8 with a wide spread (2.0x at 8k)."""
    rows = []
    for n in LENGTHS:
        s = n / 1024
        stages = {
            "hyena.in_proj": 1.0,
            "hyena.filter": 0.5,
            "hyena.long_conv": s / 4,
            "hyena.gating": 0.25,
            "hyena.out_proj": 0.5,
        }
        rows.append(row("hyena-fft", n, s, stage_ms=stages))
        rows.append(
            row("hyena-naive", n, 0.6 * s * s)
            if n <= 16384
            else row("hyena-naive", n, None, status="oom")
        )
        attention_stages = {
            "attention.projections": 1.0,
            "attention.core": 0.5 * s * s,
            "attention.out_proj": 0.5,
        }
        rows.append(
            row("attention-dense", n, 0.5 * s * s, stage_ms=attention_stages)
            if n <= 32768
            else row("attention-dense", n, None, status="oom")
        )
        rows.append(row("flash-attn2", n, 0.3 * s * s, throttled=n == 2048))
        rows.append(row("attention-sdpa-flash", n, 0.35 * s * s))
    for n in LENGTHS[:4]:
        s = n / 1024
        rows.append(row("hyena-fft", n, 0.5 * s, batch=1, spread=WIDE))
        rows.append(row("flash-attn2", n, s * s / 8, batch=1, spread=WIDE))
    return rows


def write_run(
    directory: Path, rows: list[dict[str, Any]], env: dict[str, Any] | None = None
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "env.json").write_text(json.dumps(env or H200_ENV))
    (directory / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return directory
