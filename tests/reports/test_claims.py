"""The claims' verdicts piece by piece (reports/claims.py): the threshold decision at its edges,
the paper's own figure read from a small TOML of known numbers, why a failed side has no number,
and which samples a ratio is bootstrapped from. Whole runs are in test_numbers.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports import claims, selection
from reports.claims import (
    INCONCLUSIVE,
    NOT_MEASURABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    Claim,
    decide,
    failure,
    figure_table,
    load_paper,
    out_of_memory_from,
    paper_text,
    pick,
    samples,
    spec_ops,
)

SMALL_TOML = """
[paper]
title = "t"

[[claim]]
id = "X"
text = "3x at 2k"
source = "s"
seqlen = 2048
subject = "fastest:hyena"
baseline = "attention-dense"
threshold = 3.0
paper_subject = "hyena"
paper_baseline = "attention"

[figure_4_3]
caption = "c"
source = "src"
batch = 8
gpu = "g"
label = "l"
seqlen = [1024, 2048, 4096]

[figure_4_3.series]
hyena = [1.0, 2.0, "oom"]
attention = [3.0, 7.0, "oom"]
flash_attention = [2, 1.5, 8.0]

[figure_4_3.names]
hyena = "Hy"
attention = "At"
flash_attention = "Fa"
"""


@pytest.fixture
def small(tmp_path: Path) -> claims.Paper:
    path = tmp_path / "claims.toml"
    path.write_text(SMALL_TOML)
    return load_paper(path)


def claim(**changes) -> Claim:
    base = {
        "id": "X",
        "text": "",
        "source": "",
        "seqlen": 2048,
        "subject": selection.FASTEST_HYENA,
        "baseline": "attention-dense",
        "threshold": 3.0,
        "paper_subject": "hyena",
        "paper_baseline": "attention",
    }
    return Claim(**{**base, **changes})


def rows(*records: dict) -> pd.DataFrame:
    """Rows with the fields the claims read; ok unless a status is given."""
    defaults = {"device": "cuda", "status": "ok", "reason": None, "seqlen": 2048}
    out = []
    for r in records:
        full = {**defaults, **r}
        full.setdefault("impl", full["op"])
        full["family"] = "hyena" if full["op"].startswith("hyena") else "attention"
        full.setdefault("latency_ms_median", 1.0 if full["status"] == "ok" else None)
        out.append(full)
    return pd.DataFrame(out)


def test_decide_at_the_threshold():
    assert decide(2.0, 3.0, 2.0) == REPRODUCED  # the low end at the threshold counts
    assert decide(1.999, 3.0, 2.0) == INCONCLUSIVE
    assert decide(1.0, 2.0, 2.0) == INCONCLUSIVE  # the high end at the threshold is not below
    assert decide(1.0, 1.999, 2.0) == NOT_REPRODUCED


def test_the_figure_is_read_with_its_oom_cells(small):
    fig = small.figure
    assert (fig.caption, fig.source, fig.batch, fig.gpu, fig.label) == ("c", "src", 8, "g", "l")
    assert fig.seqlen == (1024, 2048, 4096)
    assert fig.series == {
        "hyena": (1.0, 2.0, None),
        "attention": (3.0, 7.0, None),
        "flash_attention": (2.0, 1.5, 8.0),
    }
    assert isinstance(fig.series["flash_attention"][0], float)
    assert fig.names == {"hyena": "Hy", "attention": "At", "flash_attention": "Fa"}
    assert small.meta == {"title": "t"}
    assert small.claims == (claim(text="3x at 2k", source="s"),)
    assert fig.ms("attention", 2048) == 7.0
    assert fig.ms("attention", 4096) is None
    assert fig.ms("attention", 8192) is None  # not a length of the figure
    assert fig.ratio("attention", "hyena", 2048) == 3.5
    assert fig.ratio("flash_attention", "hyena", 4096) is None  # subject out of memory
    assert fig.ratio("attention", "flash_attention", 4096) is None  # baseline out of memory


def test_the_papers_ratio_for_a_claim(small):
    fig = small.figure
    assert paper_text(fig, claim()) == "3.5×"
    assert paper_text(fig, claim(paper_subject="flash_attention", seqlen=1024)) == "1.5×"
    assert paper_text(fig, claim(seqlen=8192)) == "not in Fig. 4.3"
    assert paper_text(fig, claim(seqlen=4096)) == "At and Hy out of memory in Fig. 4.3"
    only = claim(seqlen=4096, paper_baseline="flash_attention")
    assert paper_text(fig, only) == "Hy out of memory in Fig. 4.3"


def test_the_papers_own_table(small):
    table = figure_table(small.figure)
    assert list(table.columns) == ["1k", "2k", "4k"]
    assert table.index.name == "ms (Fig. 4.3)"
    assert table.loc["Hy"].tolist() == ["1", "2", "OOM"]
    assert table.loc["Fa"].tolist() == ["2", "1.5", "8"]
    assert table.loc["Hyena speedup vs At"].tolist() == ["3.0×", "3.5×", "–"]
    assert table.loc["Hyena speedup vs Fa"].tolist() == ["2.0×", "0.8×", "–"]
    paper = load_paper()
    t = figure_table(paper.figure)
    hyena = dict(zip(paper.figure.seqlen, paper.figure.series["hyena"], strict=True))
    flash = dict(zip(paper.figure.seqlen, paper.figure.series["flash_attention"], strict=True))
    assert t.loc["Hyena speedup vs Attention", "32k"] == f"{90.71 / hyena[32768]:.1f}×"
    assert t.loc["Hyena speedup vs Attention", "64k"] == "–"
    assert t.loc["Hyena speedup vs FlashAttention", "64k"] == f"{flash[65536] / 11.32:.1f}×"
    assert t.loc["Attention", "64k"] == "OOM"
    assert t.index[-2:].tolist() == [
        "Hyena speedup vs Attention",
        "Hyena speedup vs FlashAttention",
    ]


def test_what_a_spec_could_mean():
    g = rows({"op": "hyena-fft"}, {"op": "hyena-naive", "status": "oom"}, {"op": "attention-dense"})
    assert spec_ops(g, selection.FASTEST_HYENA) == {"hyena-fft", "hyena-naive"}
    assert spec_ops(g, selection.FASTEST_FLASH) == {
        "flash-attn2",
        "flash-attn3",
        "flash-attn4",
        "attention-sdpa-flash",
        "attention-sdpa-cudnn",
    }
    assert spec_ops(g, "attention-dense") == {"attention-dense"}


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("oom", None, 4096),
        ("skipped", "attention-dense ran out of memory at L=2048", 2048),
        ("skipped", "not on this device", None),
        ("skipped", None, None),
        ("error", "ran out of memory at L=2048", None),  # only a skip names an earlier OOM
        ("ok", None, None),
    ],
)
def test_where_a_row_ran_out_of_memory(status, reason, expected):
    row = next(
        rows(
            {"op": "attention-dense", "status": status, "reason": reason, "seqlen": 4096}
        ).itertuples()
    )
    assert out_of_memory_from(row) == expected


def test_why_a_side_has_no_number():
    assert failure(rows({"op": "x"}).iloc[:0], "baseline", "B", 8192) == (
        "baseline B not in the run at 8k"
    )
    oom = rows(
        {"op": "a", "status": "oom", "seqlen": 8192},
        {"op": "b", "status": "skipped", "reason": "b ran out of memory at L=4096", "seqlen": 8192},
    )
    assert failure(oom, "subject", "S", 8192) == (
        "subject out of memory at 8k (a: oom, b: out of memory from 4k)"
    )
    mixed = rows(
        {"op": "a", "status": "oom", "seqlen": 8192},
        {"op": "b", "status": "error", "seqlen": 8192},
    )
    assert failure(mixed, "subject", "S", 8192) == "subject failed at 8k (a: oom, b: error)"


def test_pick_takes_the_fastest_ok_row_or_explains():
    g = rows(
        {"op": "hyena-fft", "latency_ms_median": 2.0},
        {"op": "hyena-naive", "latency_ms_median": 1.0},
        {"op": "hyena-fft", "latency_ms_median": 1.0, "seqlen": 1024},
        {"op": "attention-dense", "status": "oom"},
        {"op": "attention-dense", "seqlen": 1024},
    )
    best, why, note = pick(g, selection.FASTEST_HYENA, "subject", 2048)
    assert (best["impl"], why, note) == ("hyena-naive", "", "")
    best, why, _ = pick(g, "attention-dense", "baseline", 2048)
    assert best is None
    assert why == "baseline out of memory at 2k (attention-dense: oom)"
    # No choice at all: the ops the spec could mean are looked up to say why.
    failed = rows({"op": "hyena-fft", "status": "error"}, {"op": "flash-attn2"})
    best, why, _ = pick(failed, selection.FASTEST_HYENA, "subject", 2048)
    assert best is None
    assert why == "subject failed at 2k (hyena-fft: error)"
    # The stand-ins' note travels with the baseline.
    standin = rows({"op": "attention-sdpa-flash"})
    best, why, note = pick(standin, selection.FASTEST_FLASH, "baseline", 2048)
    assert (best["impl"], why, note) == ("attention-sdpa-flash", "", selection.STANDIN_NOTE)
    best, why, note = pick(standin, selection.FASTEST_FLASH, "baseline", 4096)
    assert best is None
    assert why == "baseline fastest SDPA flash/cuDNN (attention-sdpa-flash) not in the run at 4k"
    assert note == selection.STANDIN_NOTE
    cpu = rows({"op": "attention-sdpa-flash", "device": "cpu"})
    assert pick(cpu, selection.FASTEST_FLASH, "baseline", 2048) == (
        None,
        selection.NO_FLASH_ON_CPU,
        "",
    )


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ([1.0, 2.0, 4.0], [1.0, 2.0, 4.0]),
        ((3, 5), [3.0, 5.0]),
        (np.array([0.5, 1.5]), [0.5, 1.5]),
        ([], [7.0]),  # no samples kept: the median alone
        (None, [7.0]),
        (math.nan, [7.0]),
    ],
)
def test_samples_fall_back_to_the_median(stored, expected):
    row = pd.Series({"samples_ms": stored, "latency_ms_median": 7.0})
    got = samples(row)
    assert got == expected
    assert all(type(v) is float for v in got)
    assert samples(pd.Series({"latency_ms_median": 7})) == [7.0]


def test_each_setting_is_judged_on_its_own_rows(small):
    def setting(batch: int, fast: float) -> list[dict]:
        return [
            {
                "op": "hyena-fft",
                "batch": batch,
                "latency_ms_median": fast,
                "samples_ms": [fast] * 3,
            },
            {"op": "attention-dense", "batch": batch, "samples_ms": [1.0] * 3},
        ]

    g = rows(*setting(2, 0.25), *setting(1, 0.5)).assign(
        device_label="gpu", d_model=64, dtype="fp16", level="layer", mode="fwd"
    )
    g = pd.concat([g, g.iloc[:1].assign(mode="bwd", batch=3)], ignore_index=True)
    verdicts = claims.evaluate(g, small)
    assert [(v.batch, v.verdict, v.speedup) for v in verdicts] == [
        (1, NOT_REPRODUCED, 2.0),
        (2, REPRODUCED, 4.0),
    ]
    first = verdicts[0]
    assert type(first.batch) is int and type(first.d_model) is int
    assert (first.device_label, first.d_model, first.dtype) == ("gpu", 64, "fp16")
    assert (first.claim, first.seqlen, first.threshold, first.paper) == ("X", 2048, 3.0, "3.5×")
    assert (first.subject, first.baseline) == ("hyena-fft", "attention-dense")
    assert first.ci_low == first.ci_high == 2.0  # constant samples: no spread
    frame = claims.verdict_frame(verdicts)
    assert frame["speedup"].tolist() == [2.0, 4.0]
    assert frame.columns[0] == "claim"
    missing = claims.evaluate(g.assign(seqlen=1024), small)
    assert {v.verdict for v in missing} == {NOT_MEASURABLE}
    assert {v.reason for v in missing} == {"length 2k not in the run"}


def test_a_failure_is_explained_by_the_chosen_series_only():
    # hyena-naive never ran: the choice is hyena-fft alone, whose OOM is the reason.
    g = rows(
        {"op": "hyena-fft", "seqlen": 1024},
        {"op": "hyena-fft", "status": "oom"},
        {"op": "hyena-naive", "status": "error"},
    )
    best, why, _ = pick(g, selection.FASTEST_HYENA, "subject", 2048)
    assert best is None
    assert why == "subject out of memory at 2k (hyena-fft: oom)"


def test_a_stand_in_baselines_note_stays_when_the_subject_failed(small):
    g = rows(
        {"op": "attention-sdpa-flash"},
        {"op": "hyena-fft", "status": "error"},
    ).assign(device_label="gpu", batch=8, d_model=64, dtype="fp16", level="layer", mode="fwd")
    (v,) = claims.evaluate(g, small)
    assert (v.verdict, v.reason) == (NOT_MEASURABLE, "subject failed at 2k (hyena-fft: error)")
    # The small paper's claim is against attention-dense: ask for FlashAttention instead.
    flash = claims.Paper(small.meta, (claim(baseline=selection.FASTEST_FLASH),), small.figure)
    (v,) = claims.evaluate(g, flash)
    assert v.verdict == NOT_MEASURABLE
    assert v.note == selection.STANDIN_NOTE


def test_a_run_without_layer_forward_rows_gets_one_verdict_per_claim(small):
    two = claims.Paper(
        small.meta, (claim(), claim(id="Y", seqlen=4096, threshold=2.0)), small.figure
    )
    g = rows({"op": "hyena-fft"}).assign(
        device_label="gpu", batch=8, d_model=64, dtype="fp16", level="core", mode="fwd"
    )
    verdicts = claims.evaluate(g, two)
    assert [(v.claim, v.seqlen, v.threshold, v.verdict, v.paper) for v in verdicts] == [
        ("X", 2048, 3.0, NOT_MEASURABLE, "3.5×"),
        ("Y", 4096, 2.0, NOT_MEASURABLE, "At and Hy out of memory in Fig. 4.3"),
    ]
    assert all(
        (v.device_label, v.batch, v.d_model, v.dtype) == (None, None, None, None) for v in verdicts
    )
    assert {v.reason for v in verdicts} == {"no layer-level forward rows in the run"}


def test_the_figure_findings_in_full():
    figure = claims.Figure(
        "c",
        "s",
        4,
        "G",
        "l",
        (8192, 16384, 65536),
        {
            "hyena": (1.0, 2.0, 4.0),
            "flash_attention": (2.0, 6.0, 40.0),
            "attention": (3.0, None, None),
        },
        {"hyena": "Hyena", "flash_attention": "FlashAttention", "attention": "Attention"},
    )
    assert claims.figure_findings(figure) == [
        "In the paper's Figure 4.3 data (batch 4, GPU G), Hyena is 2.0× faster than "
        "FlashAttention at 8k and 10.0× at 64k, and 3.0× faster than attention at 8k; attention "
        "is out of memory at 16k, 64k.",
        'The abstract\'s "100× at 64k" is not visible in the figure data: the largest ratio '
        "there is 10.0× (vs FlashAttention at 64k), and at 64k it is 10.0× against "
        "FlashAttention with standard attention out of memory.",
    ]
