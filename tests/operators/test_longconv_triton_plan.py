"""The pure arithmetic around the Triton kernels: FFT plans, issued work, the dispatch table and
its derivation from a run's rows. No kernels run here."""

from __future__ import annotations

import subprocess
import sys

import pytest

from operators.longconv import triton_dispatch as dispatch
from operators.longconv import triton_work as work


@pytest.mark.parametrize("L", [1, 16, 17, 256, 257, 1024, 1025, 2048, 2049, 16384, 65536, 131072])
def test_plan_factors_the_half_size_fft(L):
    plan = work.plan_for(L)
    assert plan.n >= 2 * L - 1 and plan.n == 2 * plan.p * plan.m1 * plan.m2
    assert min(plan.m1, plan.m2) >= 16 and plan.inner <= work.MAX_INNER
    if plan.p == 1:
        assert (plan.m1, plan.m2) in work.REGISTER_TILES
    else:
        assert work.MIN_P <= plan.p <= work.MAX_P and (plan.m1, plan.m2) in work.SCRATCH_TILES


def test_plan_limits():
    assert work.plan_for(2048).p == 1 and work.plan_for(2049).p > 1  # registers up to 2048
    fp32 = work.plan_for(2048, "fp32")  # fp32's register tiles stop at 1024: a larger FFT
    assert fp32.p > 1 and fp32.n == 8192 and work.plan_for(1024, "fp32").p == 1
    with pytest.raises(ValueError, match="exceeds"):
        work.plan_for(work.MAX_SEQLEN + 1)
    with pytest.raises(ValueError, match="L >= 1"):
        work.plan_for(0)


def test_issued_flops_of_the_smallest_plan_by_hand():
    """L=200: n=512, M=256 = 16x16 in registers. Forward: two real rows, stage A (16x16 @ 16x16,
    no zero half to skip at 16) and B (complex: 4 dots of 16x16x16) each; inverse: one complex
    row, 4 + 4 dots. 2 FLOPs per multiply-add."""
    plan = work.plan_for(200)
    assert (plan.n, plan.p, plan.m1, plan.m2) == (512, 1, 16, 16)
    dot = 2 * 16 * 16 * 16
    assert plan.dot_flops() == (2 * (2 + 4) * dot, (4 + 4) * dot)
    w = work.monarch_work(3, 5, 200, "fp16", "fwd")
    spectrum = 2.5 * 512 * 9 * 5  # torch's rfft of h, by the usual count
    assert w.flops == 3 * 5 * 20 * dot + spectrum


def test_work_grows_with_the_problem_and_never_beats_the_floor():
    for strategy in ("toeplitz", "monarch"):
        small = work.work(strategy, 8, 768, 4096, "fp16", "fwd")
        assert work.work(strategy, 32, 768, 4096, "fp16", "fwd").flops > small.flops
        assert work.work(strategy, 8, 768, 4096, "fp16", "fwd_bwd").flops > 2 * small.flops
        assert small.hbm_bytes >= work.floor_bytes(8, 768, 4096, "fp16")
        gated = work.work(strategy, 8, 768, 4096, "fp16", "fwd", gated=True)
        assert gated.hbm_bytes > small.hbm_bytes
    with pytest.raises(ValueError, match="unknown strategy"):
        work.work("winograd", 1, 1, 16, "fp16", "fwd")


def test_toeplitz_pads_the_batch_to_a_block():
    one = work.toeplitz_work(1, 1, 128, "fp16", "fwd")
    sixteen = work.toeplitz_work(16, 1, 128, "fp16", "fwd")
    assert one.flops == sixteen.flops == 3 * 2 * 64 * 64 * 16  # 3 causal tiles, N padded to 16


def test_predicted_table_is_the_committed_table():
    """Until a GPU run replaces them, the table's predicted entries are the model's output."""
    predicted = {(t.dtype, t.batch): t for t in dispatch.predicted_table()}
    for entry in dispatch.TABLE:
        assert entry.source, entry
        if entry.source.startswith("predicted"):
            assert predicted[(entry.dtype, entry.batch)] == entry


def rows_for(dtype, batch, toeplitz, monarch, **extra):
    """results.jsonl-like rows: {L: latency} per strategy."""
    out = []
    for strategy, times in (("toeplitz", toeplitz), ("monarch", monarch)):
        for L, ms in times.items():
            row = dict(op=dispatch.OPS[strategy], batch=batch, dtype=dtype, mode="fwd")
            out.append(row | dict(seqlen=L, latency_ms_median=ms, status="ok") | extra)
    return out


def test_derive_table_from_hand_made_rows():
    rows = rows_for("fp16", 8, {256: 0.1, 512: 0.2, 1024: 0.9}, {256: 0.3, 512: 0.3, 1024: 0.4})
    rows += rows_for("fp16", 64, {256: 0.5}, {256: 0.2})  # Monarch wins from the start
    rows += rows_for("bf16", 1, {256: 0.1}, {})  # no Monarch rows: no entry
    rows += rows_for("fp16", 1, {256: 9.0}, {256: 0.1}, status="error")  # failed rows: ignored
    rows += rows_for("fp16", 2, {256: 0.1}, {256: 0.2}, mode="fwd_bwd")  # other mode: ignored
    rows.append(dict(op="hyena-fft", batch=8, dtype="fp16", mode="fwd", seqlen=256, status="ok"))
    table = dispatch.derive_table(rows, source="runs/h200-x")
    assert [(t.dtype, t.batch, t.toeplitz_max_l) for t in table] == [
        ("fp16", 8, 512),
        ("fp16", 64, 0),
    ]
    assert all(t.source == "measured: runs/h200-x, fwd" for t in table)


def test_crossover_stops_at_the_first_monarch_win():
    t = {256: 1.0, 512: 3.0, 1024: 1.0}
    m = {256: 2.0, 512: 2.0, 1024: 2.0}
    assert dispatch.crossover(t, t, m) == 256  # Toeplitz wins again at 1024: not taken


def test_threshold_lookup_by_batch():
    table = (
        dispatch.Threshold("fp16", 1, 0, "x"),
        dispatch.Threshold("fp16", 64, 1024, "x"),
    )
    assert dispatch.strategy_for(1, "fp16", 100, table) == "monarch"
    assert dispatch.strategy_for(63, "fp16", 100, table) == "monarch"  # the entry for B=1
    assert dispatch.strategy_for(64, "fp16", 1024, table) == "toeplitz"
    assert dispatch.strategy_for(128, "fp16", 1025, table) == "monarch"
    with pytest.raises(ValueError, match="no dispatch threshold"):
        dispatch.strategy_for(1, "fp64", 100, table)


def test_work_and_dispatch_import_without_torch():
    code = (
        "import sys; import operators.longconv.triton_dispatch, operators.longconv.triton_work; "
        "assert 'torch' not in sys.modules and 'triton' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_model_table_prints():
    out = subprocess.run(
        [sys.executable, "-m", "operators.longconv.triton_work"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "| 16384 |" in out and "monarch ms" in out
