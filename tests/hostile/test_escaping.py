"""Text from a stranger's results, printed or written: control characters, terminal escapes and
CI workflow commands in reasons, descriptions, device names, env.json values and paths are shown
as escapes by `compare` (text, markdown, JSON) and in error messages; the report escapes them for
each format (no raw HTML in markdown, pipes and newlines kept inside their cell, no spreadsheet
formula in CSV) and draws `$` as a dollar, not as mathtext."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from tests.hostile.conftest import (
    ALL,
    Tree,
    bench,
    no_control_characters,
    one_line_error,
    small_rows,
    write_run,
)
from tests.reports.reports_testdata import H200_ENV

INJECTED = "boom\n::error file=x::injected\x1b[2J\x1b]0;title\x07\u202edesrever\r"


def hostile_runs(tmp_path):
    """BASE and NEW: NEW lost a result whose reason is INJECTED, describes an implementation
    with it, and says its torch version with it (environments then differ)."""
    base = write_run(tmp_path / "base")
    rows = small_rows()
    rows[0] = {
        **rows[0],
        "status": "error",
        "reason": INJECTED,
        "samples_ms": [],
        "reps": 0,
        "latency_ms_median": None,
        "latency_ms_p10": None,
        "latency_ms_p90": None,
    }
    rows[1] = {**rows[1], "impl_detail": INJECTED}
    new = write_run(tmp_path / "new", rows, {**H200_ENV, "torch": "2.5.1" + INJECTED[:20]})
    return base, new


@pytest.mark.parametrize(
    "fmt", ["text", pytest.param("md", marks=ALL), pytest.param("json", marks=ALL)]
)
def test_compare_prints_every_stranger_s_text_escaped(tmp_path, scratch, fmt):
    base, new = hostile_runs(tmp_path)
    before = Tree.of(tmp_path)
    proc = bench("compare", base, new, "--allow-env-mismatch", "--format", fmt, cwd=scratch)
    assert proc.returncode == 1, proc.stderr  # the lost result is a regression
    no_control_characters(proc.stdout + proc.stderr)
    assert not re.search(r"^\s*::error", proc.stdout, re.MULTILINE), "no workflow command"
    if fmt == "json":
        reasons = [o["reason"] for o in json.loads(proc.stdout)["outcomes"]]
        assert INJECTED in reasons, "JSON escapes it and gives it back whole"
    else:
        assert "boom\\n::error file=x::injected\\x1b[2J" in proc.stdout
    assert before.changes() == []


def test_an_error_message_quoting_a_path_is_one_escaped_line(tmp_path, scratch):
    missing = tmp_path / "no\n::error::such\x1b[31m"
    proc = bench("compare", missing, missing, cwd=scratch)
    line = one_line_error(proc, 2, "no\\n::error::such\\x1b[31m")
    no_control_characters(proc.stderr)
    assert line.startswith("hyena-bench")


def report_of(tmp_path: Path, scratch: Path) -> Path:
    evil = '=HYPERLINK("http://x") <script>alert(1)</script> | $\\frac{$ [a](javascript:x)'
    rows = small_rows() + [{**r, "device_name": evil + "\n# heading"} for r in small_rows()[:2]]
    rows.append(
        {
            **small_rows()[0],
            "seqlen": 8192,
            "status": "oom",
            "reason": "=cmd|' /C calc'!A0 | <img src=x onerror=alert(1)>\nnext",
            "samples_ms": [],
            "reps": 0,
            "latency_ms_median": None,
            "latency_ms_p10": None,
            "latency_ms_p90": None,
        }
    )
    env = {**H200_ENV, "hostname": "<b>host</b>|x", "command": "=1+1 <script>x</script>"}
    run = write_run(tmp_path / "run", rows, env)
    out = tmp_path / "out"
    before = Tree.of(tmp_path)
    proc = bench("report", run, "--out", out, cwd=scratch)
    assert proc.returncode == 0, proc.stderr
    assert before.changes(outside_of=out) == []
    return out


@pytest.fixture(scope="module")
def evil_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One report of hostile text, read by the three tests below."""
    root = tmp_path_factory.mktemp("evil")
    (root / "cwd").mkdir()
    return report_of(root, root / "cwd")


def test_markdown_holds_no_raw_html_and_its_tables_keep_their_columns(evil_report):
    md = (evil_report / "report.md").read_text()
    assert "<script" not in md and "<img" not in md and "<b>" not in md
    assert "&lt;script&gt;" in md
    assert "[a](javascript" not in md
    no_control_characters(md)
    for block in md.split("\n\n"):
        lines = [line for line in block.splitlines() if line.startswith("|")]
        if lines:  # a table: every row has as many unescaped pipes as its header
            counts = {len(re.findall(r"(?<!\\)\|", line)) for line in lines}
            assert len(counts) == 1, lines


def test_html_escapes_every_text(evil_report):
    page = (evil_report / "report.html").read_text()
    assert "<script" not in page
    assert "alert(1)</script>" not in page and "<img src=x" not in page and "<b>host" not in page


def test_csv_cells_never_start_a_formula(evil_report):
    assert "'=HYPERLINK" in (evil_report / "summary.csv").read_text(), "the device is a column"
    for path in evil_report.glob("*.csv"):
        with open(path, newline="") as f:
            for record in csv.reader(f):
                for cell in record:
                    assert not cell.startswith(("=", "+", "@")), (path.name, cell)
                    if cell.startswith("-"):
                        float(cell)  # only numbers may start with a minus
