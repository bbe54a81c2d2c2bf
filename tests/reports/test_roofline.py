"""The roofline block of a report: the figure's points and the speedup at equal efficiency, on a
hand-made run whose ceilings, issued FLOPs and bytes give every roofline time in closed form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reports import roofline, selection
from reports.load import groups, load
from reports.render import Image, TableBlock, Text
from tests.reports.reports_testdata import H200_ENV, row, write_run

CEILINGS = {
    "dtype": "fp16",
    "matmul_tflops": 500.0,  # 5e14 FLOP/s
    "copy_gbps": 4000.0,  # 4e12 B/s: the ridge at 125 FLOP/byte
    "matmul": "torch.mm of 8192 x 8192 matrices in fp16",
    "copy": "tensor copy of 1073741824 bytes",
    "timer": "test",
}
# (op, L, median ms, issued FLOPs, bytes): Hyena memory-bound, attention compute-bound.
MEASURED = [
    ("hyena-fft", 8192, 2.0, 1e11, 4e9),  # roofline max(0.2, 1.0) = 1.0 ms
    ("flash-attn2", 8192, 4.0, 1e12, 1e9),  # roofline max(2.0, 0.25) = 2.0 ms
    ("hyena-fft", 16384, 4.0, 2e11, 8e9),  # 2.0 ms
    ("flash-attn2", 16384, 10.0, 4e12, 2e9),  # 8.0 ms
]
ROOFLINE_MS = {(8192, "hyena-fft"): 1.0, (8192, "flash-attn2"): 2.0}
ROOFLINE_MS |= {(16384, "hyena-fft"): 2.0, (16384, "flash-attn2"): 8.0}


def write(directory: Path, ceilings: dict | None) -> Path:
    rows = [
        row(op, n, ms, flops_issued=f, bytes=b, roofline_fraction=ROOFLINE_MS[n, op] / ms)
        for op, n, ms, f, b in MEASURED
    ]
    env = {**H200_ENV, **({"ceilings": ceilings} if ceilings else {})}
    return write_run(directory, rows, env)


def one_group(directory: Path):
    results = load([directory])
    [(group, rows)] = groups(results.frame)
    return results, group, rows


def test_equal_efficiency_is_the_ratio_of_roofline_times(tmp_path):
    *_, rows = one_group(write(tmp_path / "run", CEILINGS))
    frame = roofline.equal_efficiency(rows, selection.default_baseline(rows))
    assert list(frame["seqlen"]) == [8192, 16384]
    for r in frame.itertuples():
        assert r.speedup == pytest.approx(
            dict((n, ms) for op, n, ms, *_ in MEASURED if op == "flash-attn2")[r.seqlen]
            / dict((n, ms) for op, n, ms, *_ in MEASURED if op == "hyena-fft")[r.seqlen]
        )
        expected = ROOFLINE_MS[r.seqlen, "flash-attn2"] / ROOFLINE_MS[r.seqlen, "hyena-fft"]
        assert r.speedup_equal_efficiency == pytest.approx(expected)  # 2x, then 4x


def test_the_figure_places_each_row_at_its_intensity_and_rate(tmp_path):
    results, group, rows = one_group(write(tmp_path / "run", CEILINGS))
    found = roofline.points(rows).set_index(["impl", "seqlen"])
    assert found.loc[("hyena-fft", 8192), "intensity"] == pytest.approx(1e11 / 4e9)
    assert found.loc[("flash-attn2", 16384), "achieved"] == pytest.approx(4e12 / 10e-3)
    blocks = roofline.blocks(
        results.runs, group, rows, selection.default_baseline(rows), tmp_path / "plots", "s"
    )
    images = [b for b in blocks if isinstance(b, Image)]
    assert [Path(i.plot.png).name for i in images] == ["s-roofline.png"]
    assert (tmp_path / "plots" / "s-roofline.png").stat().st_size > 0
    tables = [b.table for b in blocks if isinstance(b, TableBlock)]
    assert tables[0].title.startswith("Speedup at equal efficiency")


def test_a_run_without_ceilings_says_so(tmp_path):
    results, group, rows = one_group(write(tmp_path / "run", None))
    blocks = roofline.blocks(results.runs, group, rows, selection.default_baseline(rows), None, "s")
    assert [type(b) for b in blocks] == [Text]
    assert "no measured ceilings in fp16" in blocks[0].text


def test_a_merged_run_uses_the_ceilings_of_the_shard_that_measured_the_rows(tmp_path):
    """`hyena-bench merge` gives the merged env.json a new run_id and moves each shard's ceilings
    into merged_from beside the shard's run_id, which its rows keep."""
    directory = write(tmp_path / "run", None)
    env_file = directory / "env.json"
    env = json.loads(env_file.read_text())
    other = {**CEILINGS, "matmul_tflops": 1.0}
    env.update(
        run_id="merged",
        merged_from=[
            {"run_id": "another-shard", "ceilings": other},
            {"run_id": "test-run", "ceilings": CEILINGS},
        ],
    )
    env_file.write_text(json.dumps(env))
    results, _group, rows = one_group(directory)
    assert roofline.ceilings_for(results.runs, rows, "fp16") == CEILINGS
    assert roofline.ceilings_for(results.runs, rows, "fp32") is None
