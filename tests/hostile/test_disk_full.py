"""A full disk, and a read-only one: `run`, `report` and `profile` say so in one line and exit 1,
keep every row already written whole, and leave nothing behind (no 0-byte file, no temporary
name, no half row, no directory they created and could not fill); a re-report that fails leaves
the previous report as it was.

How the disk fills: a small tmpfs mounted in a private mount namespace (`unshare -m`, or
`unshare -rm` without root), holding only the command's files and a filler that leaves it a few
pages; the namespace's contents are copied out for the checks before it ends. Where no namespace
can be made, the run case falls back to RLIMIT_FSIZE (a write past the limit fails with EFBIG,
as a quota would), and the others skip.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from bench import store
from tests.conftest import cli_env
from tests.hostile.conftest import ALL, Tree, bench, one_line_error, write_run

PAGE = 4096
SMALL = ("--d-model", "16", "--heads", "2", "--target-time", "0.02", "--min-reps", "3")
RUN = ("run", "--ops", "hyena-fft,attention-dense,attention-sdpa-math,hyena-naive",
       "--seqlens", "256,512", *SMALL, "--quiet")  # fmt: skip


@cache
def unshare_flags() -> tuple[str, ...] | None:
    """How to enter a private mount namespace here, or None where it cannot be done."""
    if not shutil.which("unshare"):
        return None
    for flags in (("-m",), ("-rm",)) if os.geteuid() == 0 else (("-rm",),):
        probe = subprocess.run(
            ["unshare", *flags, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /tmp"],
            capture_output=True,
        )
        if probe.returncode == 0:
            return flags
    return None


needs_namespace = pytest.mark.skipif(
    unshare_flags() is None, reason="cannot mount a tmpfs in a private mount namespace here"
)


@dataclass
class Outcome:
    proc: subprocess.CompletedProcess[str]
    disk: Path  # what the tmpfs held when the command ended (copied out)


def on_small_disk(
    tmp_path: Path, args: list[str | Path], free: int | None, before: str = "", ro: bool = False
) -> Outcome:
    """Run `python -m bench ARGS` with DISK (tmp_path/disk) a fresh tmpfs of which `free` bytes
    are left free (after the shell commands `before` ran on it; None: not filled), read-only if
    `ro`; copy DISK out afterwards."""
    disk, snap, logs = tmp_path / "disk", tmp_path / "snapshot", tmp_path / "logs"
    for d in (disk, snap, logs):
        d.mkdir()
    fill = (
        f"import os; st = os.statvfs({str(disk)!r}); n = st.f_bavail * st.f_frsize - {free}; "
        f"open({str(disk / 'filler')!r}, 'wb').write(b'x' * max(n, 0))"
    )
    command = shlex.join([sys.executable, "-m", "bench", *map(str, args)])
    script = f"""
set -e
mount -t tmpfs -o size=8m tmpfs {disk}
{before}
{shlex.join([sys.executable, "-c", fill]) if free is not None else ""}
{"mount -o remount,ro " + str(disk) if ro else ""}
set +e
{command} > {logs}/stdout 2> {logs}/stderr
echo $? > {logs}/rc
cp -a {disk}/. {snap}/
rm -f {snap}/filler
"""
    flags = unshare_flags()
    assert flags is not None
    done = subprocess.run(
        ["unshare", *flags, "sh", "-c", script],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rc = int((logs / "rc").read_text())
    out, err = (logs / "stdout").read_text(), (logs / "stderr").read_text()
    return Outcome(subprocess.CompletedProcess(args, rc, out, err), snap)


def leftovers(root: Path) -> list[str]:
    """Temporary names, empty files and lock files under `root`."""
    found = []
    for path in root.rglob("*"):
        empty = path.is_file() and path.stat().st_size == 0
        if ".tmp" in path.name or path.name == ".lock" or empty:
            found.append(str(path.relative_to(root)))
    return found


def rows_whole(run: Path) -> int:
    """The rows of `run`; every line of results.jsonl is a whole row ending in a newline."""
    data = (run / store.RESULTS_FILE).read_bytes()
    assert data.endswith(b"\n"), "no half row at the end"
    return len(store.read_rows(run))


@needs_namespace
@pytest.mark.slow
def test_run_stops_with_one_line_keeping_every_row_written(tmp_path):
    disk = tmp_path / "disk"
    outcome = on_small_disk(tmp_path, [*RUN, "--out", disk / "run"], free=3 * PAGE)
    line = one_line_error(outcome.proc, 1, "disk full: ", "results.jsonl: No space left on device")
    written = rows_whole(outcome.disk / "run")
    assert 1 <= written < 8 and f"the {written} rows written before it are kept" in line
    assert leftovers(outcome.disk) == []
    assert json.loads((outcome.disk / "run" / "env.json").read_text())["run_id"]


@ALL
@needs_namespace
def test_run_on_a_disk_without_room_leaves_nothing(tmp_path):
    outcome = on_small_disk(tmp_path, [*RUN, "--out", tmp_path / "disk" / "run"], free=0)
    one_line_error(outcome.proc, 1, "disk full: ")
    assert sorted(p.name for p in outcome.disk.iterdir()) == [], "not even the directory"


@ALL
@pytest.mark.slow
def test_run_past_a_file_size_limit_is_the_same_one_line(tmp_path):
    """RLIMIT_FSIZE: writes past 6 kB fail with EFBIG (as a quota would); no namespace needed."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))

    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *RUN, "--out", str(out)],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=limit,
    )
    line = one_line_error(proc, 1, "disk full: ", "results.jsonl: File too large")
    written = rows_whole(out)
    assert 1 <= written < 8 and f"the {written} rows written before it are kept" in line
    assert leftovers(tmp_path) == []


@ALL
@needs_namespace
def test_a_report_that_does_not_fit_leaves_the_previous_one_whole(tmp_path):
    disk = tmp_path / "disk"
    source = write_run(tmp_path / "source")
    first = (
        f"cp -a {source} {disk}/run && "
        f"{sys.executable} -m bench report {disk}/run --out {disk}/report > /dev/null"
    )
    outcome = on_small_disk(
        tmp_path, ["report", disk / "run", "--out", disk / "report"], free=16 * 1024, before=first
    )
    one_line_error(outcome.proc, 1, "disk full: ", "No space left on device")
    assert Tree.of(outcome.disk / "run").entries == Tree.of(source).entries, "rows untouched"
    previous = sorted(p.name for p in (outcome.disk / "report").iterdir())
    assert "report.html" in previous and "report.md" in previous
    assert leftovers(outcome.disk) == []
    assert sorted(p.name for p in outcome.disk.iterdir()) == ["report", "run"]


@ALL
@needs_namespace
def test_a_first_report_that_does_not_fit_leaves_nothing(tmp_path):
    disk = tmp_path / "disk"
    source = write_run(tmp_path / "source")
    outcome = on_small_disk(
        tmp_path,
        ["report", disk / "run", "--out", disk / "report"],
        free=16 * 1024,
        before=f"cp -a {source} {disk}/run",
    )
    one_line_error(outcome.proc, 1, "disk full: ")
    assert sorted(p.name for p in outcome.disk.iterdir()) == ["run"]


@ALL
@needs_namespace
@pytest.mark.slow
def test_profile_that_does_not_fit_leaves_no_file(tmp_path):
    disk = tmp_path / "disk"
    args = ["profile", "hyena-fft", "--seqlen", "256", "--d-model", "16", "--heads", "2"]
    outcome = on_small_disk(tmp_path, [*args, "--out", disk / "prof"], free=8 * 1024)
    one_line_error(outcome.proc, 1, "disk full: ")
    assert sorted(p.name for p in outcome.disk.iterdir()) == [], "no 0-byte CSV, no .tmp"


@needs_namespace
def test_report_refuses_a_read_only_out(tmp_path):
    source = write_run(tmp_path / "source")
    for name, out, message in (
        ("existing", "disk", "not writable"),
        ("new", "disk/new", "cannot create it"),
    ):
        root = tmp_path / name
        root.mkdir()
        outcome = on_small_disk(root, ["report", source, "--out", root / out], free=None, ro=True)
        one_line_error(outcome.proc, 2, message)
    assert Tree.of(source).entries == Tree.of(write_run(tmp_path / "again")).entries


@ALL
def test_a_killed_re_report_leaves_the_previous_report_whole(tmp_path, scratch):
    """issue 17: killing a re-report left the old complete-looking report.html beside new
    plots. The new report is built beside --out and swapped in whole; a kill before the swap
    leaves the previous report exactly as it was (and the unfinished build, hidden, beside it)."""
    from tests.hostile import bigrun

    run = bigrun.write(tmp_path / "run", count=260, samples=50)  # two settings: some seconds
    out = tmp_path / "report"
    first = bench("report", run, "--out", out, cwd=scratch)
    assert first.returncode == 0, first.stderr
    previous = Tree.of(out)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "report", str(run), "--out", str(out)],
        cwd=scratch,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def staged_plots() -> list[Path]:
            return [p for d in tmp_path.glob(".report.*.tmp") for p in d.glob("plots/*.png")]

        deadline = time.monotonic() + 300
        while not staged_plots():
            assert proc.poll() is None and time.monotonic() < deadline, "no plot was drawn"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert Tree.of(out).entries == previous.entries
    again = bench("report", run, "--out", out, cwd=scratch)
    assert again.returncode == 0, again.stderr
    assert {"report.md", "report.html", "plots"} <= {p.name for p in out.iterdir()}


@ALL
def test_report_output_keeps_the_usual_permissions(tmp_path, scratch):
    out = tmp_path / "report"
    proc = bench("report", write_run(tmp_path / "run"), "--out", out, "--format", "md", cwd=scratch)
    assert proc.returncode == 0, proc.stderr
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~mask
    assert (out / "report.md").stat().st_mode & 0o777 == 0o666 & ~mask
