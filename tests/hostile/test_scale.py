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
