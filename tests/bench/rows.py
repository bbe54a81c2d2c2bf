"""A complete, valid results row for tests that write run directories by hand."""

from __future__ import annotations

from typing import Any

from bench import record
from operators.config import Config


def good_row(**changes: Any) -> record.Row:
    """hyena-fft, ok, at Config(seqlen=256, d_model=64, heads=4) on the CPU, two samples."""
    row = record.new_row(
        run_id="test",
        op="hyena-fft",
        family="hyena",
        device="cpu",
        status="ok",
        samples_ms=[1.0, 2.0],
        reps=2,
        latency_ms_median=1.5,
        latency_ms_p10=1.1,
        latency_ms_p90=1.9,
        **Config(seqlen=256, d_model=64, heads=4).as_dict(),
    )
    row.update(changes)
    return row
