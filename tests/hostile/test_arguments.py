"""Arguments that must be refused (issue 17): empty lists and paths, non-positive or non-finite
times and counts, a malformed device, names and paths the system cannot hold, a report --out
that is a file or holds other things. Each exits 2 with one line naming the flag, and writes
nothing: not in the working directory (where a default --out would go), not anywhere else."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import ALL, Tree, bench, one_line_error, write_run

LONG_NAME = "n" * 300
DEEP_PATH = "/".join(["d" * 200] * 21)  # 4,220 bytes: over PATH_MAX (4,096)

RUN_CASES = [
    (["--seqlens", ""], "empty item in sequence lengths"),
    (["--ops", ""], "--ops '': an empty name in the list"),
    (["--ops", ","], "--ops ',': an empty name in the list"),
    (["--family", ""], "--family '': an empty name"),
    (["--devices", ""], "--devices '': an empty name"),
    (["--preset", ""], "unknown preset ''"),
    (["--out", ""], "--out '': an empty path"),
    (["--out", "  "], "--out '  ': an empty path"),
    (["--target-time", "-1"], "argument --target-time: -1 must be above 0"),
    (["--target-time", "nan"], "argument --target-time: 'nan' is not a finite number"),
    (["--target-time", "0"], "argument --target-time: 0 must be above 0"),
    (["--timeout", "0"], "argument --timeout: 0 must be above 0"),
    (["--timeout", "-5"], "argument --timeout: -5 must be above 0"),
    (["--timeout", "inf"], "argument --timeout: 'inf' is not a finite number"),
    (["--min-reps", "0"], "argument --min-reps: 0 must be at least 1"),
    (["--min-reps", "-3"], "argument --min-reps: -3 must be at least 1"),
    (["--min-reps", "1000000000"], "argument --min-reps: 1000000000 must be at most 100000"),
    (["--min-reps", "2.5"], "argument --min-reps: '2.5' is not an integer"),
    (["--time-budget", "-1"], "argument --time-budget: -1 must be above 0"),
    (["--max-call-ms", "-1"], "argument --max-call-ms: -1 must be above 0"),
    (["--batch", "0"], "argument --batch: 0 must be at least 1"),
    (["--seqlen" + "s", "0"], "out of range"),
    (["--device", "cuda:x"], "unknown device 'cuda:x'"),
    (["--device", "cuda:"], "unknown device 'cuda:'"),
    (["--out", LONG_NAME], "--out: a name of 300 bytes, over the limit of 255"),
    (["--out", DEEP_PATH], "--out: path is"),
    (["--shard", "0/0"], "--shard 0/0"),
]


# CI runs the checks made while the command line is parsed (a fraction of a second each) and
# the one that ran every implementation; the checks made after torch is imported (seconds each)
# are the opt-in rest of the matrix (conftest.ALL).
RUN_IN_CI = {"argument --", "--ops ','"}
RUN_PARAMS = [
    pytest.param(
        args, message, id=repr(args)[:40],
        marks=() if any(m in message for m in RUN_IN_CI) else ALL,
    )
    for args, message in RUN_CASES
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), RUN_PARAMS)
def test_run_refuses(tmp_path, scratch, args, message):
    before = Tree.of(tmp_path)
    which = [] if "--family" in args else ["--ops", "hyena-fft"]
    proc = bench("run", *which, "--seqlens", "256", *args, cwd=scratch)
    one_line_error(proc, 2, message)
    assert before.changes() == [], "nothing written, not even a default runs/ directory"


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path / "run")


def report_cases(tmp_path, run):
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("mine too")
    return [
        (["report", run, "--out", ""], "--out '': an empty path"),
        (["report", run, "--out", a_file], "not a directory"),
        (["report", run, "--out", busy], "holds files that are not a report (thesis.tex)"),
        (["report", run, "--jobs", "0"], "argument --jobs: 0 must be at least 1"),
        (["report", run, "--jobs", "two"], "argument --jobs: 'two' is not an integer"),
        (["report", run, "--format", "md,pdf"], "--format 'md,pdf': choose from md, html"),
        (["report", run, "--out", run], "holds files that are not a report"),
        (["report", run, "--out", tmp_path], "holds files that are not a report"),
        (["report", run, "--out", tmp_path / LONG_NAME], "a name of 300 bytes"),
        (["report", "", "--out", tmp_path / "r"], "run directory '': an empty path"),
        (["report", run, "--format", ""], "--format ''"),
        (["compare", "", run], "BASE '': an empty path"),
        (["compare", run, ""], "NEW '': an empty path"),
        (["compare", run, run, "--threshold", "nan"], "--threshold 'nan'"),
        (["profile", "hyena-fft", "--seqlen", "256", "--out", ""], "--out '': an empty path"),
    ]


REPORT_IN_CI = 4  # report --out '', a file, a directory of someone else's files, --jobs 0


@pytest.mark.parametrize(
    "which",
    [
        pytest.param(slice(0, REPORT_IN_CI), id="in-ci"),
        pytest.param(slice(REPORT_IN_CI, None), id="rest", marks=ALL),
    ],
)
def test_report_compare_and_profile_refuse(tmp_path, scratch, run, which):
    for args, message in report_cases(tmp_path, run)[which]:
        before = Tree.of(tmp_path)
        proc = bench(*args, cwd=scratch)
        one_line_error(proc, 2, message)
        assert before.changes() == [], args
