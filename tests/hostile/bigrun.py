"""A realistic large run directory, generated: 2,600 rows x 2,000 samples (about 59 MiB of
results.jsonl), the size issue 17 measured `report` and `compare` on.

The shape is a full GPU sweep: 13 implementations x 10 lengths (256..128k) x 20 settings
(level x mode x 5 batches), every row ok with 2,000 samples written at microsecond resolution,
as the timers write them. Latencies follow simple power laws with seeded log-normal noise, so
the run is the same on every machine (deterministic bytes) and its tables are plausible.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from tests.reports.reports_testdata import H200_ENV

ROWS = 2600
SAMPLES = 2000
LENGTHS = tuple(256 * 2**i for i in range(10))  # 256 .. 128k
BATCHES = (1, 2, 4, 8, 16)
# (name, family, ms at L=1024 per batch element, exponent of L/1024): the plugin table's 13.
OPS = (
    ("attention-dense", "attention", 0.40, 2.0),
    ("attention-sdpa-math", "attention", 0.38, 2.0),
    ("attention-sdpa-efficient", "attention", 0.20, 1.9),
    ("attention-sdpa-flash", "attention", 0.15, 1.9),
    ("attention-sdpa-cudnn", "attention", 0.14, 1.9),
    ("flash-attn2", "attention", 0.13, 1.9),
    ("flash-attn3", "attention", 0.11, 1.9),
    ("flash-attn4", "attention", 0.10, 1.9),
    ("hyena-naive", "hyena", 0.50, 2.0),
    ("hyena-fft", "hyena", 0.30, 1.1),
    ("hyena-triton-toeplitz", "hyena", 0.35, 1.5),
    ("hyena-triton-monarch", "hyena", 0.28, 1.1),
    ("hyena-triton", "hyena", 0.25, 1.1),
)
SEED = 17


def rows(count: int = ROWS, samples: int = SAMPLES) -> list[dict[str, Any]]:
    """`count` rows (settings outermost, then lengths, then implementations)."""
    rng = np.random.default_rng(SEED)
    out: list[dict[str, Any]] = []
    for level in ("layer", "core"):
        for mode in ("fwd", "fwd_bwd"):
            for batch in BATCHES:
                for seqlen in LENGTHS:
                    for op, family, ms, power in OPS:
                        if len(out) == count:
                            return out
                        out.append(
                            one_row(rng, op, family, ms, power, level, mode, batch, seqlen, samples)
                        )
    return out


def one_row(
    rng: np.random.Generator,
    op: str,
    family: str,
    ms: float,
    power: float,
    level: str,
    mode: str,
    batch: int,
    seqlen: int,
    samples: int,
) -> dict[str, Any]:
    scale = (seqlen / 1024) ** power * batch * (3 if mode == "fwd_bwd" else 1)
    median = ms * scale * (1.3 if level == "layer" else 1.0)
    times = np.round(median * rng.lognormal(0.0, 0.03, samples), 6)
    times = np.maximum(times, 1e-6)
    p10, p50, p90 = (float(v) for v in np.percentile(times, [10, 50, 90]))
    flops = (
        4.0 * batch * seqlen * seqlen * 768
        if family == "attention"
        else (10.0 * batch * seqlen * math.log2(seqlen) * 768)
    )
    return {
        "schema_version": 1,
        "run_id": "bigrun",
        "op": op,
        "family": family,
        "impl_detail": f"{op} (generated for the scale benchmark)",
        "device": "cuda",
        "batch": batch,
        "seqlen": seqlen,
        "d_model": 768,
        "heads": 12,
        "order": 2,
        "dtype": "fp16",
        "mode": mode,
        "level": level,
        "status": "ok",
        "reason": "",
        "reps": samples,
        "latency_ms_median": p50,
        "latency_ms_p10": p10,
        "latency_ms_p90": p90,
        "samples_ms": times.tolist(),
        "peak_mem_bytes": batch * seqlen * 768 * 2 * 6,
        "flops": flops,
        "tflops": flops / (p50 * 1e-3) / 1e12,
        "bytes": 4.0 * batch * seqlen * 768 * 2,
        "gbps": 4.0 * batch * seqlen * 768 * 2 / (p50 * 1e-3) / 1e9,
        "energy_j": 0.7 * p50 * 1e-3 * 300,
        "max_rel_err": 1e-3,
        "verified": True,
        "started_at": "2026-11-20T00:00:00+00:00",
        "finished_at": "2026-11-20T00:00:05+00:00",
        "wall_s": 5.0,
        "cuda_graph": False,
        "timer": "CUDA events per call, L2 flushed before each (on), 2000 reps sized to 1 s",
        "noisy": p90 / p10 > 1.5,
        "tokens_per_s": batch * seqlen / (p50 * 1e-3),
        "verify_batch": 1,
        "verify_seqlen": min(seqlen, 4096),
        "peak_mem_fwd_bytes": batch * seqlen * 768 * 2 * 4,
        "peak_mem_bwd_bytes": batch * seqlen * 768 * 2 * 6 if mode == "fwd_bwd" else None,
        "memory_method": "torch.cuda.max_memory_allocated above inputs and weights",
        "throttled": False,
    }


def write(directory: Path, count: int = ROWS, samples: int = SAMPLES) -> Path:
    """The run directory: env.json (an H200 environment) and results.jsonl."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "env.json").write_text(json.dumps({**H200_ENV, "run_id": "bigrun"}, indent=2))
    with open(directory / "results.jsonl", "w") as f:
        for row in rows(count, samples):
            f.write(json.dumps(row, sort_keys=True) + "\n")
    return directory
