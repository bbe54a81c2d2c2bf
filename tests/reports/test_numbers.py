"""Tables and verdicts from a hand-made run whose latencies follow exact power laws
(tests/reports/conftest.py): every speedup, crossover, exponent and verdict is known in advance.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from reports import selection
from reports.claims import (
    INCONCLUSIVE,
    NOT_MEASURABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    evaluate,
    figure_findings,
    load_paper,
)
from reports.load import groups, load
from reports.tables import NOT_CROSSING, crossovers, scaling, summarise
from tests.reports.reports_testdata import LENGTHS, TIGHT, paper_rows, row, write_run

EXACT = 1e-12  # relative tolerance for values that are exact up to float rounding


def group_of(frame: pd.DataFrame, batch: int) -> pd.DataFrame:
    return next(rows for group, rows in groups(frame) if group.batch == batch)


def load_rows(rows: list[dict]) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as directory:
        return load([write_run(Path(directory), rows)]).frame


@pytest.fixture
def frame(paper_run: Path) -> pd.DataFrame:
    return load([paper_run]).frame


def test_speedup_over_the_fastest_flash_attention(frame):
    rows = group_of(frame, 64)
    choice = selection.default_baseline(rows)
    assert choice.impls == ("flash-attn2",)  # a flash-attn package beats the SDPA stand-ins
    s = summarise(rows, choice).set_index(["impl", "seqlen"])
    assert s.loc[("hyena-fft", 8192), "speedup"] == pytest.approx(2.4, rel=EXACT)
    assert s.loc[("hyena-fft", 65536), "speedup"] == pytest.approx(19.2, rel=EXACT)
    assert s.loc[("attention-dense", 8192), "speedup"] == pytest.approx(0.6, rel=EXACT)
    assert math.isnan(s.loc[("attention-dense", 65536), "speedup"])  # OOM: no number
    assert s.loc[("attention-dense", 65536), "status"] == "oom"
    assert s.loc[("flash-attn2", 2048), "throttled"]
    assert s.loc[("hyena-fft", 4096), "peak_mem_mib"] == 4.0


def test_baseline_named_by_the_user(frame):
    rows = group_of(frame, 64)
    s = summarise(rows, selection.named(rows, "attention-dense")).set_index(["impl", "seqlen"])
    assert s.loc[("hyena-fft", 8192), "speedup"] == pytest.approx(4.0, rel=EXACT)
    assert math.isnan(s.loc[("hyena-fft", 65536), "speedup"])  # the baseline is OOM there


def test_without_flash_attn_the_sdpa_backends_stand_in_and_say_so(frame):
    rows = group_of(frame, 64)
    choice = selection.default_baseline(rows[rows["op"] != "flash-attn2"])
    assert choice.impls == ("attention-sdpa-flash",)
    assert choice.note == selection.STANDIN_NOTE


def test_on_a_cpu_there_is_no_flash_attention(frame):
    rows = group_of(frame, 64).assign(device="cpu")
    assert selection.flash_attention(rows).reason == selection.NO_FLASH_ON_CPU
    choice = selection.default_baseline(rows)
    assert "no FlashAttention on a CPU" in choice.note
    assert choice.impls == ("attention-sdpa-flash",)  # torch's CPU kernel, as plain SDPA


def test_crossover_lengths(frame):
    c = crossovers(group_of(frame, 64)).set_index(["hyena", "attention"])
    # dense / fft = 0.5 s: 1 at 2k.  flash-attn2 / fft = 0.3 s: 1 at 1024 / 0.3.
    assert c.loc[("hyena-fft", "attention-dense"), "crossover_seqlen"] == pytest.approx(
        2048, rel=EXACT
    )
    assert c.loc[("hyena-fft", "flash-attn2"), "crossover_seqlen"] == pytest.approx(
        1024 / 0.3, rel=EXACT
    )
    assert c.loc[("hyena-fft", "flash-attn2"), "text"] == "3,413"
    assert c.loc[("hyena-fft", "attention-sdpa-flash"), "crossover_seqlen"] == pytest.approx(
        1024 / 0.35, rel=EXACT
    )
    assert c.loc[("fastest Hyena", "attention-dense"), "crossover_seqlen"] == pytest.approx(
        2048, rel=EXACT
    )
    never = c.loc[("hyena-naive", "attention-dense")]
    assert pd.isna(never["crossover_seqlen"])
    assert never["text"] == f"{NOT_CROSSING} (attention OOM from 64k)"
    batch1 = crossovers(group_of(frame, 1)).set_index(["hyena", "attention"])
    assert batch1.loc[("hyena-fft", "flash-attn2"), "crossover_seqlen"] == pytest.approx(
        4096, rel=EXACT
    )


def test_scaling_exponents(frame):
    fits = scaling(group_of(frame, 64)).set_index("impl")
    assert fits.loc["hyena-fft", "exponent"] == pytest.approx(1.0, rel=EXACT)
    assert fits.loc["hyena-fft", "lengths"] == "8k, 16k, 32k, 64k"  # upper half of 7 lengths
    assert fits.loc["attention-dense", "exponent"] == pytest.approx(2.0, rel=EXACT)
    assert fits.loc["attention-dense", "lengths"] == "4k, 8k, 16k, 32k"  # 64k OOM; >= 4 points
    assert fits.loc["hyena-naive", "exponent"] == pytest.approx(2.0, rel=EXACT)
    assert fits["stderr"].abs().max() < 1e-6  # exact power laws: zero up to rounding


def test_claim_verdicts_per_batch(frame):
    v = {(x.claim, x.batch): x for x in evaluate(frame, load_paper())}
    assert set(v) == {(c, b) for c in ("A", "B", "B-flash") for b in (1, 64)}

    a64 = v[("A", 64)]  # flash-attn2 19.2 ms / hyena-fft 8 ms at 8k, samples +-2%
    assert (a64.verdict, a64.subject, a64.baseline) == (REPRODUCED, "hyena-fft", "flash-attn2")
    assert a64.speedup == pytest.approx(2.4, rel=EXACT)
    # Stated tolerance: resampled medians stay within each side's +-2% samples.
    spread = TIGHT[-1] / TIGHT[0]
    assert 2.4 / spread <= a64.ci_low < 2.4 < a64.ci_high <= 2.4 * spread
    assert a64.paper == "1.4×"

    a1 = v[("A", 1)]  # 2.0x exactly with +-10% samples: the interval straddles 2
    assert a1.verdict == INCONCLUSIVE
    assert a1.speedup == pytest.approx(2.0, rel=EXACT)
    assert a1.ci_low < 2.0 < a1.ci_high

    assert v[("B", 64)].verdict == NOT_MEASURABLE
    assert v[("B", 64)].reason == "baseline out of memory at 64k (attention-dense: oom)"
    assert v[("B", 1)].reason == "length 64k not in the run"
    assert v[("B", 64)].paper == "Attention out of memory in Fig. 4.3"

    bf = v[("B-flash", 64)]  # 1228.8 / 64 = 19.2x, far below 100x
    assert bf.verdict == NOT_REPRODUCED
    assert bf.speedup == pytest.approx(19.2, rel=EXACT)
    assert bf.ci_high < 100
    assert bf.paper == "11.4×"


def test_claims_on_a_cpu_are_not_measurable_against_flash_attention(tmp_path):
    rows = [
        row(op, n, 1.0, device="cpu", device_name=None)
        for op in ("hyena-fft", "attention-sdpa-flash")
        for n in LENGTHS
    ]
    v = {x.claim: x for x in evaluate(load([write_run(tmp_path, rows)]).frame, load_paper())}
    assert v["A"].verdict == NOT_MEASURABLE
    assert v["A"].reason == "no FlashAttention on a CPU"
    assert v["B"].reason == "baseline attention-dense not in the run at 64k"


def test_a_failed_subject_is_named(tmp_path):
    rows = [row("hyena-fft", 8192, None, status="error"), row("flash-attn2", 8192, 1.0)]
    v = {x.claim: x for x in evaluate(load([write_run(tmp_path, rows)]).frame, load_paper())}
    assert v["A"].verdict == NOT_MEASURABLE
    assert v["A"].reason == "subject failed at 8k (hyena-fft: error)"


def test_only_layer_level_forward_rows_count(tmp_path):
    rows = [{**r, "mode": "fwd_bwd"} for r in paper_rows()]
    v = evaluate(load([write_run(tmp_path, rows)]).frame, load_paper())
    assert {x.reason for x in v} == {"no layer-level forward rows in the run"}


def test_the_papers_own_figure_data():
    first, second = figure_findings(load_paper().figure)
    assert "1.4× faster than FlashAttention at 8k and 11.4× at 64k" in first
    assert "4.1× faster than attention at 8k" in first
    assert "not visible in the figure data" in second
    assert "16.8× (vs Attention at 32k)" in second


def test_the_baseline_is_the_fastest_flash_attention_at_each_length(frame):
    rows = group_of(frame, 64)
    fa3 = [row("flash-attn3", n, 0.2 * (n / 1024) ** 2 if n >= 8192 else 10.0) for n in LENGTHS]
    rows = pd.concat([rows, load_rows(fa3)], ignore_index=True)
    choice = selection.default_baseline(rows)
    assert choice.impls == ("flash-attn2", "flash-attn3")
    s = summarise(rows, choice).drop_duplicates("seqlen").set_index("seqlen")["baseline"]
    assert list(s) == ["flash-attn2"] * 3 + ["flash-attn3"] * 4


def test_claims_against_sdpa_standins_say_so(frame):
    without = frame[frame["op"] != "flash-attn2"]
    v = {(x.claim, x.batch): x for x in evaluate(without, load_paper())}
    assert v[("A", 64)].baseline == "attention-sdpa-flash"
    assert v[("A", 64)].note == selection.STANDIN_NOTE
    assert v[("A", 64)].speedup == pytest.approx(0.35 * 64 / 8, rel=EXACT)


def test_duplicate_rows_are_kept_once_with_a_note(paper_run):
    results = load([paper_run, paper_run])
    assert len(results.frame) == len(paper_rows())
    assert any("duplicate rows" in note for note in results.notes)


def test_series_are_named_by_heads_when_an_op_has_several():
    rows = [row("hyena-fft", 1024, 1.0), row("hyena-fft", 1024, 2.0, heads=8)]
    assert sorted(load_rows(rows)["impl"]) == ["hyena-fft heads=12", "hyena-fft heads=8"]


def test_faster_throughout_and_a_dip_are_told_apart():
    ahead = [row("hyena-fft", n, 1.0) for n in LENGTHS[:3]]
    dense = [
        row("attention-dense", n, v) for n, v in zip(LENGTHS[:3], (2.0, 3.0, 4.0), strict=True)
    ]
    c = crossovers(load_rows(ahead + dense)).set_index("attention")
    assert c.loc["attention-dense", "text"] == "faster throughout (from 1k)"
    dip = [row("attention-dense", n, v) for n, v in zip(LENGTHS[:3], (2.0, 0.5, 2.0), strict=True)]
    c = crossovers(load_rows(ahead + dip)).set_index("attention")
    assert c.loc["attention-dense", "crossover_seqlen"] == pytest.approx(2048 * 2**0.5)
