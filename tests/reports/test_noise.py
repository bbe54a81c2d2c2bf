"""The run-level noise verdict and the noisy marks on derived tables, on hand-made runs whose load
fields say quiet or busy (the real run under a CPU hog is in tests/cli/test_noise_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports import document, noise
from reports.claims import evaluate, load_paper
from reports.load import groups, load
from reports.tables import NOISY_MARK, crossover_table, crossovers, scaling, scaling_table
from tests.reports.reports_testdata import H200_ENV, LENGTHS, paper_rows, row, write_run

NOISY_SPREAD = (0.5, 0.8, 1.0, 1.2, 1.5)  # p90/p10 about 2.6: a noisy row


def env_with_load(start: float, end: float, cpus: int = 16) -> dict:
    return {
        **H200_ENV,
        "cpu": {**H200_ENV["cpu"], "threads": cpus},
        "load": {"start": {"1m": start}, "end": {"1m": end}},
    }


def with_row_load(rows: list[dict], load: float) -> list[dict]:
    return [{**r, "load_1m_start": load, "load_1m_end": load} for r in rows]


def build(directory: Path, rows: list[dict], env: dict) -> document.Report:
    results = load([write_run(directory, rows, env)])
    return document.build(results, directory / "report", load_paper(), draw=False)


def test_a_quiet_run_gets_no_warning(tmp_path):
    report = build(tmp_path, with_row_load(paper_rows(), 3.0), env_with_load(2.0, 4.0))
    assert not any(isinstance(b, document.Alert) for b in report.blocks)
    assert not any("do not trust" in n for n in report.notes)


def test_a_busy_run_opens_with_a_warning_that_names_the_tables_and_the_cure(tmp_path):
    report = build(tmp_path, with_row_load(paper_rows(), 30.0), env_with_load(24.5, 31.0))
    first = report.blocks[1]
    assert isinstance(first, document.Alert), "the warning comes right after the title"
    text = first.text
    assert "do not trust the timings" in text and "24.5" in text and "16 CPUs" in text
    for table in ("latency", "speedup", "throughput", "crossover", "scaling"):
        assert table in text
    assert "Peak memory" in text and "uptime" in text and "below 16" in text
    assert any("do not trust" in n for n in report.notes), "the command repeats it"


def test_rows_under_load_alone_make_the_run_busy(tmp_path):
    """The run started and ended quietly, but most rows were measured under load."""
    rows = with_row_load(paper_rows(), 40.0)
    report = build(tmp_path, rows, env_with_load(1.0, 1.0))
    assert isinstance(report.blocks[1], document.Alert)
    assert "rows were measured while the load was above it" in report.blocks[1].text


def test_many_noisy_rows_make_the_run_noisy(tmp_path):
    rows = [row("hyena-fft", n, n / 1024, spread=NOISY_SPREAD) for n in LENGTHS]
    rows += [row("attention-dense", n, (n / 1024) ** 2) for n in LENGTHS]
    frame = load([write_run(tmp_path, rows, env_with_load(1.0, 1.0))]).frame
    v = noise.verdict(frame, [env_with_load(1.0, 1.0)])
    assert v.noisy_rows == len(LENGTHS) and v.busy_rows == 0
    assert "rows are noisy" in v.warning


def test_a_run_without_load_fields_is_not_judged_busy(paper_run):
    results = load([paper_run])
    assert noise.verdict(results.frame, [r.env for r in results.runs]).warning == ""


def test_crossover_and_scaling_carry_the_noisy_mark(tmp_path):
    rows = [row("hyena-fft", n, n / 1024, spread=NOISY_SPREAD) for n in LENGTHS]
    rows += [row("attention-dense", n, 0.25 * (n / 1024) ** 2) for n in LENGTHS]
    rows += [row("attention-sdpa-flash", n, 0.2 * (n / 1024) ** 2) for n in LENGTHS]
    frame = load([write_run(tmp_path, rows)]).frame
    _, group = groups(frame)[0]
    cross = crossover_table(crossovers(group))
    assert cross.frame.loc["hyena-fft", "attention-dense"].endswith(NOISY_MARK)
    assert any("noisy row" in n for n in cross.notes)
    fits = scaling_table(scaling(group))
    assert fits.frame.loc["hyena-fft"].iloc[0].endswith(NOISY_MARK)
    assert not fits.frame.loc["attention-dense"].iloc[0].endswith(NOISY_MARK)


def test_quiet_rows_give_unmarked_crossovers(paper_run):
    _, group = groups(load([paper_run]).frame)[0]
    cross = crossover_table(crossovers(group))
    assert not any(NOISY_MARK in str(v) for v in cross.frame.to_numpy().ravel())
    assert cross.notes == ()


@pytest.mark.parametrize("skipped_reason", ["attention-dense ran out of memory at L=16384"])
def test_a_claim_after_an_oom_skip_says_out_of_memory(tmp_path, skipped_reason):
    rows = [r for r in paper_rows() if r["batch"] == 64 and r["op"] != "attention-dense"]
    for n in LENGTHS:
        if n < 16384:
            rows.append(row("attention-dense", n, 0.5 * (n / 1024) ** 2))
        elif n == 16384:
            rows.append(row("attention-dense", n, None, status="oom"))
        else:
            rows.append(row("attention-dense", n, None, status="skipped", reason=skipped_reason))
    verdicts = {v.claim: v for v in evaluate(load([write_run(tmp_path, rows)]).frame, load_paper())}
    assert verdicts["B"].reason == (
        "baseline out of memory at 64k (attention-dense: out of memory from 16k)"
    )
