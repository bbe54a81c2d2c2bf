"""The device's ceilings (bench/ceilings.py): measured on this CPU with the rows' timer, and the
roofline fraction a row gets from them."""

from __future__ import annotations

import pytest
import torch

from bench import ceilings
from bench.timing import TimingOptions

CEILINGS = {"dtype": "fp32", "matmul_tflops": 2.0, "copy_gbps": 100.0}  # ridge: 20 FLOP/byte


def ok_row(**changes) -> dict:
    row = {"status": "ok", "dtype": "fp32", "latency_ms_median": 4.0}
    return {**row, "flops_issued": 4e9, "bytes": 1e8, **changes}


def test_cpu_ceilings_are_measured_in_the_runs_dtype():
    found = ceilings.measure_ceilings(torch.device("cpu"), "fp32", TimingOptions(target_s=0.01))
    assert found["dtype"] == "fp32" and "error" not in found
    assert found["matmul_tflops"] > 0 and found["copy_gbps"] > 0
    assert "512 x 512" in found["matmul"] and "host perf_counter" in found["timer"]
    assert ceilings.usable(found, "fp32") and not ceilings.usable(found, "fp16")


def test_fraction_is_the_slower_bound_over_the_median():
    # compute: 4e9 / 2e12 = 2 ms; memory: 1e8 / 1e11 = 1 ms; the roofline allows 2 of 4 ms
    assert ceilings.fraction(ok_row(), CEILINGS) == pytest.approx(0.5)
    # memory-bound: 1e9 bytes take 10 ms, over a median of 4 ms (the ceilings were beaten)
    assert ceilings.fraction(ok_row(bytes=1e9), CEILINGS) == pytest.approx(2.5)


@pytest.mark.parametrize(
    "row, ceiling",
    [
        (ok_row(status="oom"), CEILINGS),
        (ok_row(flops_issued=None), CEILINGS),  # not counted: analytic FLOPs do not stand in
        (ok_row(dtype="fp16"), CEILINGS),  # ceilings of another dtype
        (ok_row(), {"dtype": "fp32", "error": "OutOfMemoryError: no"}),
        (ok_row(), None),
    ],
)
def test_no_fraction_without_what_it_needs(row, ceiling):
    assert ceilings.fraction(row, ceiling) is None
