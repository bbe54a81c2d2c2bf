"""The realistic large run (2,600 rows x 2,000 samples, about 59 MiB) loads correctly and
compactly: every row validated, samples as float64 arrays (8 bytes each), values as written.
No time bound here: tests/benchmarks/test_scale.py times `report` and `compare` on it."""

from __future__ import annotations

import numpy as np
import pytest

from bench import record, store
from tests.hostile import bigrun
from tests.hostile.conftest import ALL


@pytest.mark.parametrize(
    "count",
    [pytest.param(bigrun.ROWS // 10, id="tenth"), pytest.param(bigrun.ROWS, id="59MiB", marks=ALL)],
)
def test_the_large_run_loads_whole_with_compact_samples(tmp_path, count):
    """CI loads a tenth of it (6 MiB); the opt-in matrix the whole 59 MiB."""
    run = bigrun.write(tmp_path / "run", count=count)
    size = (run / "results.jsonl").stat().st_size
    assert 55 << 20 < size * bigrun.ROWS / count < 64 << 20
    rows = store.read_rows(run)
    assert len(rows) == count
    samples = [r["samples_ms"] for r in rows]
    assert all(isinstance(s, np.ndarray) and s.dtype == np.float64 for s in samples)
    assert sum(s.nbytes for s in samples) == count * bigrun.SAMPLES * 8
    expected = bigrun.rows(count=3)
    for got, want in zip(rows, expected, strict=False):
        assert got["samples_ms"].tolist() == want["samples_ms"]
        assert got["latency_ms_median"] == want["latency_ms_median"]
    keys = {record.row_key(r) for r in rows}
    assert len(keys) == count, "every configuration once"


def test_one_slower_row_among_the_tenth_is_caught_despite_holm(tmp_path):
    """The gate on long rows (bench.stats' order-statistic interval): 260 rows of 2,000 samples,
    one of them 30% slower in NEW. Holm over 260 pairs asks for a p-value below 2.5% / 260 =
    0.0001, which a 4,000-resample bootstrap p-value (never below 1/4,001) cannot give: the
    bootstrap could only call the row inconclusive, and the sweep passed. Every other row stays
    unchanged (about 2 s of CPU)."""
    from bench import comparison

    run = bigrun.write(tmp_path / "run", count=bigrun.ROWS // 10)
    base = {record.row_key(r): r for r in store.read_rows(run)}
    new = {k: dict(r) for k, r in base.items()}
    slow = next(iter(new))
    new[slow]["samples_ms"] = new[slow]["samples_ms"] * 1.3
    metric = comparison.METRICS["latency"]
    report = comparison.compare(
        comparison.Run(run, {}, base), comparison.Run(run, {}, new), metric, 0.05, [], []
    )
    verdicts = {o.key: o.verdict for o in report.outcomes}
    assert verdicts.pop(slow) == "slower"
    assert set(verdicts.values()) == {"unchanged"}
    assert report.exit_status == comparison.EXIT_REGRESSION
