"""Rows that parse but lie: names that would reach a path outside --out, and values that would
render as a silently wrong table (negative, zero, NaN, infinite or string latencies, a float
length, a string boolean, an unknown schema version, sizes without bound). Each is a load error
naming file, line and field (exit 2) for `report` and `compare` alike, and nothing is written;
`compare` never answers "no regression" about them."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import pytest

from bench import record
from tests.hostile.conftest import ALL, Tree, bench, one_line_error, small_rows, write_run

MARK = f"hb-{uuid.uuid4().hex[:8]}"
ESCAPE = f"../../../../tmp/{MARK}"  # from a plot directory a few levels down: into /tmp
# (field, value, words of the message after "results.jsonl:3: "): the cases issue 17 names,
# the names that reach paths first
NAMED = [
    ("level", f"{ESCAPE}/REL", "level: "),
    ("level", "/tmp/abs", "level: '/tmp/abs' is not one of core, layer"),
    ("mode", "../fwd", "mode: '../fwd' is not one of"),
    ("dtype", "fp16/../../x", "dtype: "),
    ("op", "../../evil", "op: '../../evil' is not a safe name"),
    ("op", "hyena-fft\n::error::x", "op: "),
    ("device", "../cuda", "device: '../cuda' is not a safe name"),
    ("latency_ms_median", -30.4, "latency_ms_median: -30.4 is below 0"),
    ("latency_ms_median", 0.0, "latency_ms_median: 0.0 in an ok row"),
    ("latency_ms_median", math.nan, "latency_ms_median: nan is not a finite number"),
    ("latency_ms_median", math.inf, "latency_ms_median: inf is not a finite number"),
    ("latency_ms_median", "30.4", "latency_ms_median: expected float"),
    ("seqlen", 4096.0, "seqlen: expected int in 1..16777216, got 4096.0"),
    ("verified", "false", "verified: expected bool, got 'false'"),
    ("schema_version", 2, "schema_version 2 is not supported"),
]
# ... and more of the same kinds
MORE = [
    ("latency_ms_p10", 99.0, "latency_ms_median: p10 99 <= median"),
    ("samples_ms", [1.0, math.inf], "samples_ms: holds a value that is not a finite number"),
    ("samples_ms", [1.0, -2.0], "samples_ms: holds a value below 0"),
    ("samples_ms", [1.0] * (record.MAX_SAMPLES + 1), "samples_ms: 100,001 entries"),
    ("batch", 2**70, "batch: 1180591620717411303424 does not fit 64 bits"),
    ("schema_version", "1", "schema_version '1' is not supported"),
    ("reason", "x" * (record.MAX_TEXT + 1), "reason: 4,097 characters, more than 4,096"),
    ("device_name", "n" * 300, "device_name: 300 characters, more than 256"),
    ("stage_ms", {"a" * 200: 1.0}, "stage_ms: key"),
    ("stage_ms", {"x": math.nan}, "stage_ms: holds a value that is not a finite number"),
    ("telemetry", {str(i): i for i in range(300)}, "telemetry: 300 entries, more than 256"),
    ("tflops", math.inf, "tflops: inf is not a finite number"),
]
# CI runs one case of each kind with `compare` (both commands read through one loader), and the
# path escape that `report` followed; the rest of the matrix is opt-in (conftest.ALL).
COMPARE_IN_CI = [
    ("level", NAMED[0][1]),
    ("op", "hyena-fft\n::error::x"),
    ("latency_ms_median", -30.4),
    ("latency_ms_median", "30.4"),
    ("seqlen", 4096.0),
    ("verified", "false"),
    ("schema_version", 2),
]


def in_ci(case: tuple, command: str) -> bool:
    if command == "report":
        return case is NAMED[0]
    return case[:2] in COMPARE_IN_CI


PARAMS = [
    pytest.param(
        command, *case, id=f"{case[0]}={str(case[1]).replace(MARK, 'MARK')[:24]!r}-{command}",
        marks=() if in_ci(case, command) else ALL,
    )
    for case in NAMED + MORE
    for command in ("report", "compare")
]  # fmt: skip


def rows_with(field: str, value: object) -> list[dict]:
    rows = small_rows()
    rows[2] = {**rows[2], field: value}
    return rows


@pytest.mark.parametrize(("command", "field", "value", "message"), PARAMS)
def test_a_bad_row_is_a_load_error_naming_file_line_and_field(
    tmp_path, scratch, command, field, value, message
):
    run = write_run(tmp_path / "run", rows_with(field, value))
    good = write_run(tmp_path / "good")
    before = Tree.of(tmp_path)
    out = tmp_path / "out"
    args = ["report", run, "--out", out] if command == "report" else ["compare", good, run]
    proc = bench(*args, cwd=scratch)
    one_line_error(proc, 2, f"{run / 'results.jsonl'}:3: {message}")
    assert "no regression" not in proc.stdout
    assert before.changes() == [] and not out.exists()
    assert not (Path("/tmp") / MARK).exists()


@ALL
def test_too_many_fields_and_a_field_name_that_is_no_name(tmp_path, scratch):
    many = {f"extra_{i}": i for i in range(record.MAX_FIELDS)}
    for extra, message in ((many, "fields, more than 256"), ({"Bad Name": 1}, "not a field name")):
        rows = small_rows()
        rows[0] = {**rows[0], **extra}
        run = write_run(tmp_path / f"run{len(extra)}", rows)
        proc = bench("compare", run, run, cwd=scratch)
        one_line_error(proc, 2, "results.jsonl:1: ", message)


@ALL
def test_a_device_name_holding_a_path_stays_a_label(tmp_path, scratch):
    """device_name is free text (it is a label, not a name the record restricts); where it
    reaches a file name (two devices in one report) it is reduced to letters and dashes, so
    every figure lands in --out."""
    outside = Path("/tmp") / f"hb-{uuid.uuid4().hex[:8]}"
    names = [f"../../../..{outside}/GPU", "x" * 256, "x" * 255 + "y"]  # the last two: long
    rows = small_rows() + [{**r, "device_name": name} for name in names for r in small_rows()]
    run = write_run(tmp_path / "run", rows)
    out = tmp_path / "out"
    before = Tree.of(tmp_path)
    proc = bench("report", run, "--out", out, "--allow-mixed-env", cwd=scratch)
    assert proc.returncode == 0, proc.stderr
    assert before.changes(outside_of=out) == []
    assert not outside.exists()
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert any(name.startswith("tmp-hb-") for name in plots), plots
    long = {name.split("-layer-")[0] for name in plots if name.startswith("xxx")}
    assert len(long) == 2, "two long names cut to one prefix still get their own files"
    assert max(len(name) for name in plots) < 128
