"""The report's tables cell by cell (reports/tables.py), on small runs whose numbers are known:
the number format, every mark and footnote, the speedup table's baseline row, the crossover
and scaling texts, and the summary's derived columns (throughput from tokens, memory in MiB).
Whole paper-shaped runs are in test_numbers.py and test_report_text.py.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reports import selection, tables
from reports.load import load
from reports.selection import Choice
from reports.stats import CONFIDENCE
from reports.tables import (
    FASTEST_HYENA_LABEL,
    NOISY_MARK,
    NOISY_NOTE,
    THROTTLED_MARK,
    THROTTLED_NOTE,
    UNCHECKED_MARK,
    UNCHECKED_NOTE,
    UNVERIFIED_MARK,
    UNVERIFIED_NOTE,
)
from tests.reports.reports_testdata import row, write_run

NOISY = (0.5, 0.8, 1.0, 1.2, 2.0)  # p90/p10 = 4: noisy


def frame_of(rows: list[dict]) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as directory:
        return load([write_run(Path(directory), rows)]).frame


def summary_of(rows: list[dict], baseline: str | None = None) -> pd.DataFrame:
    group = frame_of(rows)
    choice = selection.named(group, baseline) if baseline else selection.default_baseline(group)
    return tables.summarise(group, choice)


@pytest.mark.parametrize(
    ("n", "text"),
    [(1024, "1k"), (65536, "64k"), (1000, "1000"), (1536, "1536"), (2048.4, "2k"), (0, "0k")],
)
def test_length_labels(n, text):
    assert tables.length_label(n) == text


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.0625, "0.0625"),
        (19.2, "19.2"),
        (512, "512"),
        (999, "999"),
        (999.4, "999"),
        (999.5, "1,000"),  # the first value written whole: `.3g` gives "1e+03" here
        (999.7, "1,000"),  # rounds up to four digits: no "1e+03"
        (1000, "1,000"),
        (1229.4, "1,229"),
        (-1500, "-1,500"),
        (123456.7, "123,457"),
    ],
)
def test_numbers_have_three_figures_and_no_exponent(x, text):
    assert tables.number(x) == text


@pytest.mark.parametrize(
    ("value", "truth"),
    [(True, True), (np.bool_(True), True), (False, False), (np.bool_(False), False),
     (None, False), (1, False), ("true", False), (math.nan, False)],
)  # fmt: skip
def test_only_a_real_true_is_true(value, truth):
    assert tables.is_true(value) is truth


def test_summary_derives_speedup_memory_and_tokens():
    rows = [
        row("hyena-fft", 1024, 2.0, tokens_per_s=None, peak_mem_bytes=3 * 2**20),
        row("hyena-fft", 2048, 4.0, tokens_per_s=123.0),
        row("attention-dense", 1024, 4.0, throttled=True, verified=None),
        row("attention-dense", 2048, None, status="oom"),
    ]
    s = summary_of(rows, "attention-dense").set_index(["impl", "seqlen"])
    fft = s.loc[("hyena-fft", 1024)]
    assert fft["speedup"] == 2.0
    assert fft["baseline"] == "attention-dense"
    assert fft["peak_mem_mib"] == 3.0
    assert fft["tokens_per_s"] == 64 * 1024 / 2e-3  # batch x length / seconds
    assert s.loc[("hyena-fft", 2048), "tokens_per_s"] == 123.0
    assert math.isnan(s.loc[("hyena-fft", 2048), "speedup"])  # the baseline ran out of memory
    assert (fft["throttled"], fft["verified"], fft["unchecked"]) == (False, True, False)
    dense = s.loc[("attention-dense", 1024)]
    assert (dense["throttled"], dense["verified"], dense["unchecked"]) == (True, True, True)
    assert dense["tflops"] == pytest.approx(1e12 / 4e-3 / 1e12)
    assert dense["tflops_issued"] != dense["tflops_issued"] or dense["tflops_issued"] is None
    oom = s.loc[("attention-dense", 2048)]
    for column in ("latency_ms_median", "latency_ms_p10", "latency_ms_p90", "peak_mem_mib"):
        assert math.isnan(oom[column]), column
    assert math.isnan(oom["tokens_per_s"]) and math.isnan(oom["gbps"])
    assert oom["unchecked"] == False  # noqa: E712 - a failed row is not "unchecked"
    assert list(s.reset_index()["impl"]) == ["attention-dense"] * 2 + ["hyena-fft"] * 2


def test_a_summary_without_a_baseline_has_no_speedups():
    s = summary_of([row("hyena-fft", 1024, 2.0)], "attention-dense")
    assert s["baseline"].isna().all() and s["speedup"].isna().all()


def test_noisy_rows_are_the_wide_or_busy_ok_ones():
    group = frame_of(
        [
            row("hyena-fft", 1024, 1.0, spread=NOISY),
            row("hyena-fft", 2048, 1.0),
            row("hyena-fft", 4096, None, status="oom"),
        ]
    )
    assert tables.noisy_rows(group).tolist() == [True, False, False]
    assert tables.noisy_points(group) == {("hyena-fft", 1024)}
    busy = group.assign(load_1m_start=8.0, cpu_count=4)
    assert tables.noisy_rows(busy).tolist() == [True, True, False]


def test_series_adds_the_fastest_hyena_only_among_several():
    one = frame_of([row("hyena-fft", n, 1.0) for n in (1024, 2048)])
    assert set(tables.series(one)) == {"hyena-fft"}
    two = frame_of(
        [row("hyena-fft", n, v) for n, v in ((1024, 1.0), (2048, 5.0))]
        + [row("hyena-naive", n, v) for n, v in ((1024, 2.0), (2048, 3.0))]
        + [row("hyena-naive", 4096, None, status="oom")]
    )
    lat = tables.series(two)
    assert lat[FASTEST_HYENA_LABEL].tolist() == [1.0, 3.0]
    assert lat["hyena-naive"].index.tolist() == [1024, 2048]
    assert lat["hyena-naive"].dtype == float


def test_crossover_texts():
    lengths = np.array([1024.0, 2048.0, 4096.0])
    assert tables.crossover_text(np.array([]), np.array([]), None) == "no common lengths"
    assert tables.crossover_text(lengths, np.array([0.5, 0.6, 0.7]), None) == tables.NOT_CROSSING
    assert tables.crossover_text(lengths, np.array([0.5, 0.6, 0.7]), 8192) == (
        "not within the measured range (attention OOM from 8k)"
    )
    assert tables.crossover_text(lengths, np.array([1.0, 2.0, 3.0]), None) == (
        "faster throughout (from 1k)"
    )
    assert tables.crossover_text(lengths, np.array([0.5, 2.0, 3.0]), None) == "1,448"


def test_crossovers_mark_a_noisy_point_of_either_side():
    rows = [row("hyena-fft", n, 1.0) for n in (1024, 2048)] + [
        row("attention-dense", 1024, 0.5, spread=NOISY),
        row("attention-dense", 2048, 2.0),
        row("attention-dense", 4096, None, status="oom"),
    ]
    c = tables.crossovers(frame_of(rows)).iloc[0]
    assert (c["hyena"], c["attention"], c["noisy"]) == ("hyena-fft", "attention-dense", True)
    assert c["crossover_seqlen"] == pytest.approx(1448.15, rel=1e-4)
    quiet = tables.crossovers(frame_of([*rows[:2], row("attention-dense", 1024, 0.5)]))
    assert quiet["text"].tolist() == [tables.NOT_CROSSING]
    assert quiet["noisy"].tolist() == [False]
    oom = [row("attention-dense", 1024, 0.5), row("attention-dense", 4096, None, status="oom")]
    assert tables.crossovers(frame_of(rows[:2] + oom))["text"].tolist() == [
        "not within the measured range (attention OOM from 4k)"
    ]


def test_the_fastest_hyena_crossover_checks_the_rows_it_used():
    rows = [row("hyena-fft", n, v, spread=NOISY) for n, v in ((1024, 1.0), (2048, 9.0))]
    rows += [row("hyena-naive", n, 2.0) for n in (1024, 2048)]
    rows += [row("attention-dense", n, 4.0) for n in (1024, 2048)]
    c = tables.crossovers(frame_of(rows)).set_index("hyena")
    assert list(c.index) == ["hyena-fft", "hyena-naive", FASTEST_HYENA_LABEL]
    # The fastest at 1k is the noisy hyena-fft row, at 2k hyena-naive: marked noisy.
    assert c.loc[FASTEST_HYENA_LABEL, "noisy"]
    assert not c.loc["hyena-naive", "noisy"]
    assert c.loc[FASTEST_HYENA_LABEL, "text"] == "faster throughout (from 1k)"


def test_scaling_fits_the_upper_half_and_skips_a_lone_point():
    rows = [row("hyena-fft", 1024 * 2**i, 2.0 * 2**i) for i in range(5)]
    rows += [row("attention-dense", 1024, 1.0)]
    rows[4]["samples_ms"] = [32.0 * f for f in NOISY]
    rows[4]["latency_ms_p10"], rows[4]["latency_ms_p90"] = 16.0, 64.0
    fits = tables.scaling(frame_of(rows))
    assert fits["impl"].tolist() == ["hyena-fft"]  # one length: no fit
    fit = fits.iloc[0]
    assert fit["family"] == "hyena"
    assert fit["exponent"] == pytest.approx(1.0)
    assert fit["lengths"] == "2k, 4k, 8k, 16k"
    assert fit["noisy"]
    assert list(fits.columns) == [
        "impl", "family", "exponent", "stderr", "low", "high", "lengths", "noisy"
    ]  # fmt: skip
    assert tables.scaling(frame_of(rows[5:])).empty


def test_the_fastest_hyena_gets_no_fit_of_its_own():
    rows = [row("hyena-fft", n, 1.0) for n in (1024, 2048)]
    rows += [row("hyena-naive", n, 2.0) for n in (1024, 2048)]
    assert tables.scaling(frame_of(rows))["impl"].tolist() == ["hyena-fft", "hyena-naive"]


def flagged(**flags) -> pd.Series:
    return pd.Series(
        {"throttled": False, "verified": True, "unchecked": False, "noisy": False, **flags}
    )


def test_marks_in_a_fixed_order_for_the_kinds_asked():
    every = flagged(throttled=True, verified=False, unchecked=True, noisy=True)
    marks = THROTTLED_MARK + UNVERIFIED_MARK + UNCHECKED_MARK + NOISY_MARK
    assert tables._marks(every) == marks
    assert tables._marks(every, tables.MEMORY_MARKS) == UNVERIFIED_MARK + UNCHECKED_MARK
    assert tables._marks(flagged()) == ""
    assert tables._marks(flagged(verified=False)) == UNVERIFIED_MARK


def marked_summary() -> pd.DataFrame:
    return summary_of(
        [
            row("hyena-fft", 1024, 1.0, throttled=True),
            row("hyena-fft", 2048, 2.0, spread=NOISY),
            row("hyena-fft", 4096, 4.0, verified=False),
            row("hyena-fft", 8192, 8.0, verified=None),
            row("hyena-naive", 1024, None, status="oom"),
            row("attention-dense", 1024, 2.0),
            row("attention-dense", 2048, 1000.0, peak_mem_bytes=2**30),
            row("attention-dense", 4096, None, status="timeout"),
            row("attention-dense", 8192, None, status="error"),
        ],
        "attention-dense",
    )


def test_the_latency_table_cells_marks_and_notes():
    t = tables.latency_table(marked_summary())
    assert t.title == "Latency, ms: median (p10–p90)"
    assert list(t.frame.columns) == ["1k", "2k", "4k", "8k"]
    assert t.frame.index.name == "implementation"
    assert list(t.frame.index) == ["attention-dense", "hyena-fft"]  # hyena-naive never ran
    cells = t.frame.loc["hyena-fft"].tolist()
    assert cells == [
        f"1 (0.98–1.02){THROTTLED_MARK}",
        f"2 (1–4){NOISY_MARK}",
        f"4 (3.92–4.08){UNVERIFIED_MARK}",
        f"8 (7.84–8.16){UNCHECKED_MARK}",
    ]
    assert t.frame.loc["attention-dense"].tolist()[1:] == ["1,000 (980–1,020)", "timeout", "error"]
    s = marked_summary()
    s.loc[s["status"] == "error", "status"] = "new-status"  # a status without a display text
    assert tables.latency_table(s).frame.loc["attention-dense", "8k"] == "new-status"
    speedup = tables.speedup_table(s, Choice(("attention-dense",), "a"))
    assert speedup.frame.loc["attention-dense"].tolist()[2:] == ["timeout", "new-status"]
    assert t.notes == (
        THROTTLED_NOTE,
        UNVERIFIED_NOTE,
        UNCHECKED_NOTE,
        NOISY_NOTE,
        "Not run in this setting: hyena-naive (oom: oom in test)",
    )


def test_notes_only_for_marks_that_occur():
    quiet = summary_of([row("hyena-fft", 1024, 1.0), row("hyena-fft", 2048, None, status="oom")])
    assert tables.latency_table(quiet).notes == ()
    assert tables._notes(quiet) == ()
    # An unverified failed row carries no mark, so no note either.
    failed = quiet.assign(verified=quiet["status"] == "ok")
    assert tables._notes(failed) == ()


def test_not_run_names_each_implementation_once():
    s = marked_summary()
    assert tables.not_run(s) == ("hyena-naive (oom: oom in test)",)
    s.loc[s["impl"] == "hyena-naive", "reason"] = ""
    assert tables.not_run(s) == ("hyena-naive (oom)",)
    two = pd.concat([s, s[s["impl"] == "hyena-naive"].assign(impl="z", seqlen=2048)])
    assert tables.not_run_note(two) == ("Not run in this setting: hyena-naive (oom); z (oom)",)
    assert tables.not_run_note(s[s["impl"] != "hyena-naive"]) == ()


def test_the_speedup_table_names_the_baseline_at_each_length():
    s = marked_summary()
    choice = Choice(("attention-dense",), "attention-dense", note="a note")
    t = tables.speedup_table(s, choice)
    assert t.title == "Speedup over attention-dense (ratio of medians; > 1 is faster)"
    assert t.frame.loc["(baseline at this length)"].tolist() == [
        "attention-dense",
        "attention-dense",
        "–",
        "–",
    ]
    assert t.frame.loc["hyena-fft"].tolist() == [
        f"2×{THROTTLED_MARK}",
        f"500×{NOISY_MARK}",
        "–",
        "–",
    ]
    assert t.frame.loc["attention-dense", "1k"] == "1×"
    assert t.notes[0] == "a note"
    assert NOISY_NOTE in t.notes
    assert tables.speedup_table(s, Choice((), "x", reason="none")) is None
    plain = tables.speedup_table(s, Choice(("attention-dense",), "attention-dense"))
    assert plain.notes[0] == THROTTLED_NOTE


def test_memory_is_in_the_unit_of_its_largest_value_and_carries_only_correctness_marks():
    t = tables.memory_table(marked_summary())
    assert t.title == "Peak memory, GiB"
    assert t.frame.loc["attention-dense", "2k"] == "1"
    assert t.frame.loc["attention-dense", "1k"] == "0.000977"
    assert t.frame.loc["hyena-fft"].tolist()[2:] == [
        f"0.00391{UNVERIFIED_MARK}",
        f"0.00781{UNCHECKED_MARK}",
    ]
    assert t.notes == (UNVERIFIED_NOTE, UNCHECKED_NOTE)
    no_memory = marked_summary().assign(peak_mem_mib=math.nan)
    assert tables.memory_table(no_memory).frame.loc["hyena-fft", "1k"] == "–"


def test_throughput_tables_for_the_columns_that_hold_values():
    s = marked_summary()
    found = tables.throughput_tables(s)
    assert [t.title for t in found] == [
        "Throughput, PFLOP/s",
        "Memory traffic (minimum bytes / time), TB/s",
    ]
    flops, traffic = found
    assert flops.notes[-1] == tables.FLOPS_NOTES["tflops"]
    assert traffic.notes[-1] == NOISY_NOTE
    assert flops.frame.loc["hyena-fft", "1k"] == f"1{THROTTLED_MARK}"
    issued = s.assign(tflops_issued=s["tflops"] * 1e-3)
    titles = [t.title for t in tables.throughput_tables(issued)]
    assert titles[1] == "Throughput of issued FLOPs, TFLOP/s"
    assert tables.throughput_tables(issued)[1].notes[-1] == tables.FLOPS_NOTES["tflops_issued"]


def test_the_crossover_table_marks_noisy_cells():
    crossing = pd.DataFrame(
        {
            "hyena": ["h1", "h1", "h2"],
            "attention": ["a1", "a2", "a1"],
            "crossover_seqlen": [1.0, None, 2.0],
            "text": ["1,448", "x", "y"],
            "noisy": [True, False, False],
        }
    )
    t = tables.crossover_table(crossing)
    assert (
        t.title == "Crossover: sequence length from which Hyena is faster (log-log interpolation)"
    )
    assert t.frame.loc["h1"].tolist() == [f"1,448{NOISY_MARK}", "x"]
    assert t.frame.loc["h2"].tolist() == ["y", ""]
    assert t.frame.index.name == "Hyena \\ attention"
    assert t.frame.columns.name is None
    assert t.notes == (f"{NOISY_MARK} computed from at least one noisy row ({NOISY_NOTE[2:]})",)
    assert NOISY_NOTE[2:].startswith("noisy latency")
    assert tables.crossover_table(crossing.iloc[:0]) is None
    assert tables.derived_noise_note(crossing.assign(noisy=False)) == ()


def test_the_scaling_table_gives_the_interval_when_there_is_one():
    fits = pd.DataFrame(
        {
            "impl": ["a", "b"],
            "exponent": [1.234, 2.0],
            "low": [1.0, math.nan],
            "high": [1.5, math.nan],
            "lengths": ["1k, 2k", "4k"],
            "noisy": [False, True],
        }
    )
    t = tables.scaling_table(fits)
    assert t.frame["exponent k (latency ∝ L^k)"].tolist() == [
        "1.23 [1.00, 1.50]",
        f"2.00{NOISY_MARK}",
    ]
    assert t.frame["lengths fitted"].tolist() == ["1k, 2k", "4k"]
    assert t.frame.index.name == "implementation"
    assert t.title == (
        "Scaling exponent over the upper half of the measured lengths (at least 4 where the run "
        "has them), 95% interval from the t distribution with (lengths - 2) degrees of freedom"
    )
    assert t.notes == tables.derived_noise_note(fits)
    assert tables.scaling_table(fits.iloc[:0]) is None


def test_a_table_keeps_implementations_that_ran_once():
    s = marked_summary()
    assert tables.ran(s).tolist() == [impl != "hyena-naive" for impl in s["impl"]]


SUMMARY_COLUMNS = [
    "impl", "family", "seqlen", "status", "reason", "latency_ms_median", "latency_ms_p10",
    "latency_ms_p90", "speedup", "baseline", "peak_mem_mib", "tflops", "tflops_issued", "gbps",
    "tokens_per_s", "throttled", "noisy", "verified", "unchecked",
]  # fmt: skip


def test_the_summary_columns_are_the_summary_csv_header_with_each_rows_family():
    # summary.csv is this frame with the group's fields in front; the plots draw a series with
    # circles or squares by its `family`.
    s = marked_summary()
    assert list(s.columns) == SUMMARY_COLUMNS
    families = dict(zip(s["impl"], s["family"], strict=True))
    assert families == {
        "attention-dense": "attention",
        "hyena-fft": "hyena",
        "hyena-naive": "hyena",
    }


def gaps_and_failures() -> pd.DataFrame:
    """hyena-naive never measured at 2k (an empty cell); attention-dense out of memory there
    (an "OOM" cell); hyena-flash out of memory at both lengths (not run)."""
    return summary_of(
        [
            row("hyena-fft", 1024, 1.0),
            row("hyena-fft", 2048, 2.0),
            row("hyena-naive", 1024, 2.0),
            row("attention-dense", 1024, 4.0),
            row("attention-dense", 2048, None, status="oom"),
            row("hyena-flash", 1024, None, status="oom"),
            row("hyena-flash", 2048, None, status="oom"),
        ],
        "attention-dense",
    )


def test_a_length_never_measured_is_an_empty_cell_and_an_oom_reads_oom():
    s = gaps_and_failures()
    latency = tables.latency_table(s).frame
    assert latency.loc["hyena-naive"].tolist() == ["2 (1.96–2.04)", ""]
    assert latency.loc["attention-dense"].tolist() == ["4 (3.92–4.08)", "OOM"]
    speedup = tables.speedup_table(s, Choice(("attention-dense",), "attention-dense")).frame
    assert speedup.loc["hyena-naive"].tolist() == ["2×", ""]
    assert speedup.loc["attention-dense"].tolist() == ["1×", "OOM"]
    assert speedup.loc["(baseline at this length)"].tolist() == ["attention-dense", "–"]
    memory = tables.memory_table(s).frame
    assert memory.loc["hyena-naive", "2k"] == ""
    assert memory.loc["attention-dense", "2k"] == "OOM"


def test_an_implementation_that_failed_at_every_length_is_named_once():
    s = gaps_and_failures()
    assert tables.not_run(s) == ("hyena-flash (oom: oom in test)",)
    assert tables.latency_table(s).notes == (
        "Not run in this setting: hyena-flash (oom: oom in test)",
    )


def test_crossovers_and_scaling_keep_their_columns_when_nothing_is_computed():
    # crossover.csv and scaling.csv keep their header for a setting without a pair or a fit.
    hyena_only = frame_of([row("hyena-fft", 1024, 1.0), row("hyena-fft", 2048, None, status="oom")])
    cross = tables.crossovers(hyena_only)
    assert cross.empty
    assert list(cross.columns) == ["hyena", "attention", "crossover_seqlen", "text", "noisy"]
    fits = tables.scaling(hyena_only)
    assert fits.empty
    assert list(fits.columns) == [
        "impl", "family", "exponent", "stderr", "low", "high", "lengths", "noisy"
    ]  # fmt: skip


def test_the_scaling_table_shows_the_fitted_interval():
    lengths = [1024 * 2**i for i in range(5)]
    latency = [1.0, 2.1, 3.9, 8.4, 15.8]
    fits = tables.scaling(
        frame_of([row("hyena-fft", n, t) for n, t in zip(lengths, latency, strict=True)])
    )
    # Reference: least squares on the upper four points, t interval with 2 degrees of freedom.
    x, y = np.log(np.array(lengths[1:], dtype=np.float64)), np.log(np.array(latency[1:]))
    k, c = np.polyfit(x, y, 1)
    residual = y - (k * x + c)
    stderr = math.sqrt(residual @ residual / (len(x) - 2) / ((x - x.mean()) @ (x - x.mean())))
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(x) - 2) * stderr
    fit = fits.iloc[0]
    assert fit["exponent"] == pytest.approx(k, rel=1e-9)
    assert (fit["low"], fit["high"]) == (pytest.approx(k - half), pytest.approx(k + half))
    assert 0.05 < half < 0.5  # a real interval, not a point
    text = tables.scaling_table(fits).frame.loc["hyena-fft", "exponent k (latency ∝ L^k)"]
    assert text == f"{k:.2f} [{k - half:.2f}, {k + half:.2f}]"


# --- series and common lengths (the numpy versions of 2026-11-29) -------------------------------
def test_series_are_each_implementations_ok_measured_rows_by_length():
    """A curve's points are its ok rows with a latency, ascending in length, as floats indexed by
    `seqlen` and named `latency_ms_median` like the fastest-Hyena entry: a failed row whose
    latency field was filled in anyway, or an ok row whose latency was lost, is no point."""
    g = frame_of(
        [row("hyena-naive", n, v) for n, v in ((4096, 9.0), (1024, 2.0), (2048, 3.0))]
        + [row("hyena-fft", n, v) for n, v in ((2048, 5.0), (1024, 1.0), (8192, 7.0))]
        + [row("attention-dense", n, 4.0) for n in (2048, 1024)]
    )
    g.loc[g["seqlen"].eq(4096), "status"] = "timeout"  # failed, its latency field kept
    g.loc[g["seqlen"].eq(8192), "latency_ms_median"] = math.nan  # ok, latency lost
    lat = tables.series(g)
    expected = {
        "attention-dense": {1024: 4.0, 2048: 4.0},
        "hyena-fft": {1024: 1.0, 2048: 5.0},
        "hyena-naive": {1024: 2.0, 2048: 3.0},
        FASTEST_HYENA_LABEL: {1024: 1.0, 2048: 3.0},
    }
    assert {impl: s.to_dict() for impl, s in lat.items()} == expected
    assert list(lat) == list(expected)  # implementations sorted, the fastest Hyena last
    for s in lat.values():
        assert (s.index.name, s.name, s.dtype) == ("seqlen", "latency_ms_median", float)
        assert s.index.is_monotonic_increasing


def test_series_are_floats_when_a_run_without_any_latency_made_the_column_objects():
    """Two runs read together, one of which measured nothing (every row out of memory): pandas
    concatenates its all-None latency column with the other's floats as dtype object. The
    curves are still floats."""
    with tempfile.TemporaryDirectory() as directory:
        measured, failed = Path(directory, "measured"), Path(directory, "failed")
        write_run(measured, [row("hyena-fft", n, n / 1024) for n in (1024, 2048)])
        write_run(failed, [row("hyena-fft", 4096, None, status="oom")])
        g = load([measured, failed]).frame
    assert g["latency_ms_median"].dtype == object  # the case this test is about
    lat = tables.series(g)["hyena-fft"]
    assert lat.dtype == float
    assert lat.to_dict() == {1024: 1.0, 2048: 2.0}


def test_common_lengths_are_the_lengths_both_series_have_a_value_at():
    # a / b where both have a number, ascending: 2048 -> 2/2, 4096 -> 4/1; 8192 and 16384 have
    # a gap on one side, 1024 is in a only.
    a = pd.Series([4.0, 1.0, np.nan, 8.0, 2.0], index=[4096, 1024, 8192, 16384, 2048])
    b = pd.Series([2.0, 3.0, 1.0, np.nan], index=[2048, 8192, 4096, 16384])
    for x, y in ((a, b), (a.astype(object), b.astype(object))):  # object: a column held None
        lengths, ratio = tables.common_lengths(x, y)
        assert lengths.tolist() == [2048.0, 4096.0] and lengths.dtype == float
        assert ratio.tolist() == [1.0, 4.0]
    lengths, ratio = tables.common_lengths(b, a)
    assert (lengths.tolist(), ratio.tolist()) == ([2048.0, 4096.0], [1.0, 0.25])
    lengths, ratio = tables.common_lengths(a[a.index < 4000], b[b.index > 4000])
    assert lengths.size == 0 and ratio.size == 0
