"""Results files that are not what they claim: symlinks out of the run directory (/dev/zero, a
file elsewhere), FIFOs, directories, files and lines past the caps, bytes that are not UTF-8,
JSON nested past the parser's depth, integers past its digit limit, env.json of the wrong shape.
`report` and `compare` each refuse them with one line naming the file (exit 2), write nothing,
and never hang or read without bound."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import files
from tests.hostile.conftest import ALL, Tree, bench, one_line_error, small_rows, write_run

RESULTS, ENV = "results.jsonl", "env.json"


def replace(path: Path, make: Callable[[Path], None]) -> None:
    path.unlink()
    make(path)


def sparse(size: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with open(path, "wb") as f:
            f.truncate(size)  # no disk used: the size alone is over the cap

    return make


def text(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def row_line(**changes: object) -> bytes:
    return json.dumps({**small_rows()[0], **changes}).encode()


GOOD = b"".join(json.dumps(r).encode() + b"\n" for r in small_rows())
# (case, file replaced, how, words the one-line message must hold)
CASES = [
    ("symlink to /dev/zero", RESULTS, lambda p: p.symlink_to("/dev/zero"), "outside"),
    ("symlink to /etc/passwd", ENV, lambda p: p.symlink_to("/etc/passwd"), "outside"),
    ("results FIFO", RESULTS, lambda p: os.mkfifo(p), "a FIFO, not a regular file"),
    ("env FIFO", ENV, lambda p: os.mkfifo(p), "a FIFO, not a regular file"),
    ("results directory", RESULTS, lambda p: p.mkdir(), "a directory, not a regular file"),
    ("results over 1 GiB", RESULTS, sparse(files.MAX_RESULTS_BYTES + 1), "-byte limit"),
    ("env over 1 MiB", ENV, sparse(files.MAX_ENV_BYTES + 1), "-byte limit"),
    ("one endless line", RESULTS, text(b"[" + b"1," * (files.MAX_LINE_BYTES // 2)), "longer than"),
    ("not UTF-8", RESULTS, text(GOOD + b'{"op": "\xff\xfe"}\n'), ":7: not valid JSON (not UTF-8"),
    ("nested too deep", RESULTS, text(GOOD + b"[" * 200_000 + b"\n"), ":7: not valid JSON"),
    (
        "a 5000-digit int",
        RESULTS,
        text(row_line(batch=1).replace(b'"batch": 1', b'"batch": ' + b"9" * 5000) + b"\n"),
        ":1: not valid JSON",
    ),
    ("env not an object", ENV, text(b"[1, 2]"), "env.json: expected a JSON object"),
    (
        "env device name a dict",
        ENV,
        text(json.dumps({"device": {"name": {"a": 1}}}).encode()),
        "device.name: expected text",
    ),
    ("env not JSON", ENV, text(b"{oops"), "env.json:1: not valid JSON"),
]


# Both commands read through one loader: CI runs one case of each kind with `compare` and the
# report's headline case; the rest is the opt-in matrix (conftest.ALL).
REPORT_IN_CI = {"symlink to /dev/zero"}
# compare: one case of each kind (a link out, a FIFO, a size cap, bytes that do not parse, env)
COMPARE_IN_CI = {"symlink to /dev/zero", "results FIFO", "results over 1 GiB", "one endless line",
                 "not UTF-8", "env not an object"}  # fmt: skip
PARAMS = [
    pytest.param(
        command, *case, id=f"{case[0]}-{command}",
        marks=() if case[0] in (COMPARE_IN_CI if command == "compare" else REPORT_IN_CI) else ALL,
    )
    for case in CASES
    for command in ("report", "compare")
]  # fmt: skip


@pytest.mark.parametrize(("command", "case", "name", "make", "message"), PARAMS)
def test_refused_in_one_line_and_nothing_written(
    tmp_path, scratch, command, case, name, make, message
):
    run = write_run(tmp_path / "run")
    replace(run / name, make)
    good = write_run(tmp_path / "good")
    before = Tree.of(tmp_path)
    out = tmp_path / "report"
    args = ["report", run, "--out", out] if command == "report" else ["compare", good, run]
    proc = bench(*args, cwd=scratch, timeout=120)  # a FIFO must not hang it: 120 s at most
    line = one_line_error(proc, 2, message)
    assert str(run) in line, "the message names the file"
    assert before.changes() == [], "nothing written, nothing read destructively"
    assert not out.exists()


@ALL
def test_a_symlink_that_stays_inside_the_run_directory_is_read(tmp_path, scratch):
    run = write_run(tmp_path / "run")
    (run / "data").mkdir()
    (run / RESULTS).rename(run / "data" / "rows.jsonl")
    (run / RESULTS).symlink_to(Path("data") / "rows.jsonl")
    proc = bench("report", run, "--out", tmp_path / "report", "--format", "csv", cwd=scratch)
    assert proc.returncode == 0, proc.stderr
    assert "6 rows" in proc.stdout


@ALL
def test_a_symlinked_run_directory_is_the_user_s_choice_and_is_read(tmp_path, scratch):
    """The directory named on the command line may itself be a link; only links inside it that
    leave it are refused."""
    run = write_run(tmp_path / "real")
    (tmp_path / "link").symlink_to(run)
    proc = bench("compare", tmp_path / "link", run, cwd=scratch)
    assert proc.returncode == 0, proc.stderr


@ALL
def test_a_torn_last_line_is_a_note_and_a_parsed_one_is_a_row(tmp_path, scratch):
    run = write_run(tmp_path / "run")
    data = (run / RESULTS).read_bytes()
    (run / RESULTS).write_bytes(data.rstrip(b"\n"))  # the last row lost only its newline
    proc = bench("compare", run, write_run(tmp_path / "good"), cwd=scratch)
    assert proc.returncode == 0 and "6 unchanged" in proc.stdout, proc.stdout
    (run / RESULTS).write_bytes(data[:-40])  # cut inside the last row: torn
    proc = bench("compare", write_run(tmp_path / "good2"), run, cwd=scratch)
    assert "ignoring a torn last line" in proc.stdout
    assert "1 lost" in proc.stdout, "the torn row is missing from NEW, and said so"
