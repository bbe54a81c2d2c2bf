"""The interleaved decision (`hyena-bench ab`), in process, on rows made by hand: per-block paired
ratios cancel drift that two separate runs cannot, Holm keeps many rows from raising the sweep's
false-alarm rate, and the geometric mean catches a slowdown spread thinly over every row.
Samples are seeded, so each outcome is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import ab, comparison, evidence
from bench.record import row_key
from tests.bench.test_compare import row

LATENCY = comparison.METRICS["latency"]
BLOCKS, CALLS = 20, 5


def blocked_row(factor: float, drift: np.ndarray, seed: int, seqlen: int = 1024, noise=0.03):
    """A row of BLOCKS blocks of CALLS calls: 10 ms x factor x the load of each block x noise."""
    rng = np.random.default_rng(seed)
    calls = (
        10.0 * factor * np.repeat(drift, CALLS) * np.exp(rng.normal(0, noise, drift.size * CALLS))
    )
    return row(seqlen=seqlen, ms=[float(c) for c in calls], block_calls=[CALLS] * drift.size)


def runs(base_rows: list[dict], new_rows: list[dict]) -> tuple[comparison.Run, comparison.Run]:
    def keyed(rows: list[dict]) -> dict:
        return {row_key(r): r for r in rows}

    return (
        comparison.Run(Path("base"), {}, keyed(base_rows)),
        comparison.Run(Path("new"), {}, keyed(new_rows)),
    )


def judge(base_rows, new_rows, threshold=0.05, paired=True) -> comparison.Report:
    base, new = runs(base_rows, new_rows)
    if paired:
        return comparison.compare(
            base, new, LATENCY, threshold, [], [], ab.interleaved_evidence, "interleaved"
        )
    return comparison.compare(base, new, LATENCY, threshold, [], [])


# The machine's load over the row: 1x, then 3x (another job starts), then 1.5x.
DRIFT = np.array([1.0] * 7 + [3.0] * 7 + [1.5] * 6)


def test_blocks_split_and_pair():
    blocks = evidence.split_blocks([1.0, 2.0, 3.0, 4.0, 5.0], [2, 3])
    assert [b.tolist() for b in blocks] == [[1.0, 2.0], [3.0, 4.0, 5.0]]
    d = evidence.paired_log_ratios([[1.0, 3.0], [2.0]], [[4.0], [1.0, 1.0, 1.0]])
    assert d == pytest.approx([np.log(2.0), np.log(0.5)])
    with pytest.raises(ValueError, match="do not split"):
        evidence.split_blocks([1.0, 2.0], [3])


def test_pairing_cancels_drift_that_two_runs_cannot():
    """NEW is 20% slower under a load that triples mid-row: paired blocks see exactly +20%;
    the same samples taken as two separate runs see a ratio of medians blurred by the load."""
    base, new = blocked_row(1.0, DRIFT, seed=1), blocked_row(1.2, DRIFT, seed=2)
    paired = judge([base], [new])
    (o,) = paired.outcomes
    assert o.verdict == "slower" and paired.exit_status == 1
    assert o.estimate.low > 1.15 and o.estimate.high < 1.25
    (two,) = judge([base], [new], paired=False).outcomes
    assert two.estimate.high - two.estimate.low > 4 * (o.estimate.high - o.estimate.low)


def test_a_a_under_drift_is_no_regression():
    report = judge([blocked_row(1.0, DRIFT, seed=3)], [blocked_row(1.0, DRIFT, seed=4)])
    (o,) = report.outcomes
    assert o.verdict == "unchanged" and report.exit_status == 0


def test_holm_needs_more_evidence_when_a_sweep_has_more_rows():
    """The same evidence of a ~+10% change at a 5% threshold is enough for one row alone, not
    for one row among twelve unchanged ones: the sweep's false-alarm budget is shared."""
    flat = np.ones(BLOCKS)
    suspect = (blocked_row(1.0, flat, 5, noise=0.1), blocked_row(1.08, flat, 6, noise=0.1))
    alone = judge([suspect[0]], [suspect[1]])
    assert alone.outcomes[0].verdict == "slower"
    others = [
        (blocked_row(1.0, flat, 10 + i, 100 + i), blocked_row(1.0, flat, 40 + i, 100 + i))
        for i in range(1, 13)
    ]
    crowd = judge([suspect[0], *(b for b, _ in others)], [suspect[1], *(n for _, n in others)])
    first = next(o for o in crowd.outcomes if o.key == row_key(suspect[0]))
    assert first.estimate.ratio == pytest.approx(alone.outcomes[0].estimate.ratio)
    assert first.estimate.p_worse > alone.outcomes[0].estimate.p_worse
    assert first.verdict != "slower"


def test_geometric_mean_catches_a_slowdown_spread_over_every_row():
    """+12% on every row, each too noisy to be sure of alone, at a 5% threshold: no row is slower
    after Holm, but the geometric mean over the rows is, so the sweep regressed (exit 1)."""
    flat = np.ones(BLOCKS)
    rows = [
        (blocked_row(1.0, flat, 100 + i, 2**i, 0.3), blocked_row(1.12, flat, 200 + i, 2**i, 0.3))
        for i in range(8)
    ]
    report = judge([b for b, _ in rows], [n for _, n in rows])
    assert not report.regressions
    assert report.summary.regression and report.summary.low > 1.05
    assert report.exit_status == 1


def test_rows_without_blocks_cannot_be_paired():
    plain = row(ms=10.0)
    report = judge([plain], [row(ms=12.0)])
    assert report.outcomes[0].verdict == "inconclusive"
    assert report.outcomes[0].reason == "no latency recorded"
