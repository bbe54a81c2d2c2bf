"""One run directory, many hands: a second run on a directory in use is refused naming the
holder's pid (issue 17: two `run --resume` at once wrote every remaining row twice); `--resume`
refuses a directory made in another environment or for another sweep, or one whose files do
not load, before writing anything; a last row whose newline was not written is a row, not a torn
line; concurrent atomic writes of one file each use their own temporary name."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench import files, record, store
from tests.conftest import REPO
from tests.hostile.conftest import ALL, TEST_PLUGINS, Tree, bench, hostile_env, one_line_error

SMALL = ("--d-model", "16", "--heads", "2", "--target-time", "0.02", "--min-reps", "3")
ARGS = ("run", "--ops", "hyena-fft", "--seqlens", "256,512", *SMALL, "--quiet")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real two-row run, made once; each test works on a copy."""
    root = tmp_path_factory.mktemp("finished")
    proc = bench(*ARGS, "--out", root / "run", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root / "run"


@pytest.fixture
def run_copy(finished: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "run"))


def edit_env(run: Path, change) -> None:
    env = json.loads((run / "env.json").read_text())
    change(env)
    (run / "env.json").write_text(json.dumps(env))


def refuse_resume(run: Path, scratch: Path, *extra: str, message: str) -> None:
    before = Tree.of(run.parent)
    proc = bench(*ARGS, *extra, "--out", run, "--resume", cwd=scratch)
    one_line_error(proc, 2, "--resume", message)
    assert before.changes() == [], "nothing written: not env.json, not a row, not a lock"


def test_resume_refuses_an_edited_environment(run_copy, scratch):
    edit_env(run_copy, lambda env: env.update(torch="2.0.0-edited"))
    refuse_resume(run_copy, scratch, message="with torch '2.0.0-edited' (now ")


@ALL
def test_resume_refuses_another_sweep(run_copy, scratch):
    refuse_resume(run_copy, scratch, "--d-model", "32", message="for sweep d_model 16 (now 32)")


def garbage_line(run: Path) -> None:
    path = run / "results.jsonl"
    path.write_text("{oops\n" + path.read_text())


def env_not_an_object(run: Path) -> None:
    (run / "env.json").write_text("[1, 2, 3]")


def env_missing(run: Path) -> None:
    (run / "env.json").unlink()


def unknown_schema(run: Path) -> None:
    (run / "results.jsonl").write_text(json.dumps({"schema_version": 9}) + "\n")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(garbage_line, "results.jsonl:1: not valid JSON", id="garbage_line"),
        pytest.param(
            env_not_an_object, "env.json: expected a JSON object", id="env_not_an_object", marks=ALL
        ),
        pytest.param(env_missing, "env.json: missing", id="env_missing", marks=ALL),
        pytest.param(
            unknown_schema, "results.jsonl:1: schema_version 9", id="unknown_schema", marks=ALL
        ),
    ],
)
def test_resume_refuses_a_directory_that_does_not_load(run_copy, scratch, damage, message):
    damage(run_copy)
    refuse_resume(run_copy, scratch, message=message)


@ALL
def test_a_new_run_on_a_directory_with_results_is_refused(run_copy, scratch):
    before = Tree.of(run_copy.parent)
    proc = bench(*ARGS, "--out", run_copy, cwd=scratch)
    one_line_error(proc, 2, "already holds results")
    assert before.changes() == []


def test_a_finished_last_row_without_its_newline_is_kept(run_copy, scratch):
    path = run_copy / "results.jsonl"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    proc = bench(*ARGS, "--out", run_copy, "--resume", cwd=scratch)
    assert proc.returncode == 0, proc.stderr
    assert "2 rows were already done" in proc.stderr
    assert "torn" not in proc.stderr
    assert path.read_bytes().endswith(b"}\n") and len(store.read_rows(run_copy)) == 2


def test_the_writer_keeps_a_parsed_tail_and_drops_a_torn_one(tmp_path):
    row = json.dumps({"a": 1})
    path = tmp_path / "results.jsonl"
    path.write_text(row + "\n" + row)
    store.ResultsWriter(tmp_path).close()
    assert path.read_text() == row + "\n" + row + "\n"
    path.write_text(row + "\n" + row[:-3])
    with pytest.warns(UserWarning, match="dropping a torn last line"):
        store.ResultsWriter(tmp_path).close()
    assert path.read_text() == row + "\n"


def start(out: Path, scratch: Path, sleep_s: str) -> subprocess.Popen[str]:
    """A run whose second row sleeps `sleep_s` seconds (test-hang), holding the lock."""
    env = hostile_env(TEST_PLUGINS, HYENA_BENCH_TEST_SLEEP=sleep_s)
    return subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--ops", "hyena-fft,test-hang", "--seqlens",
         "256,512", *SMALL, "--timeout", "120", "--quiet", "--out", str(out)],
        cwd=scratch, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                status = (entry / "status").read_text()
                if f"\nPPid:\t{pid}\n" in status:
                    found.append(int(entry.name))
    return found


def keys(out: Path) -> list[tuple]:
    return [record.row_key(r) for r in store.read_rows(out)]


@ALL
@pytest.mark.slow
def test_a_second_run_on_a_directory_in_use_is_refused_naming_the_holder(tmp_path, scratch):
    out = tmp_path / "run"
    holder = start(out, scratch, "20")
    try:
        wait_for(lambda: (out / "results.jsonl").exists() and (out / "results.jsonl").read_text())
        assert (out / files.LOCK_FILE).read_text().strip() == str(holder.pid)
        env = hostile_env(TEST_PLUGINS, HYENA_BENCH_TEST_SLEEP="20")
        proc = bench(
            "run", "--ops", "hyena-fft,test-hang", "--seqlens", "256,512", *SMALL,
            "--timeout", "120", "--quiet", "--out", out, "--resume", cwd=scratch, env=env,
        )  # fmt: skip
        one_line_error(proc, 2, f"in use by another hyena-bench run (pid {holder.pid})")
        assert holder.wait(timeout=180) == 0, holder.stderr.read() if holder.stderr else ""
    finally:
        holder.kill()
        holder.wait()
    rows = keys(out)
    assert len(rows) == 4 == len(set(rows)), "every row once"
    assert not (out / files.LOCK_FILE).exists(), "the lock goes with its holder"


@ALL
@pytest.mark.slow
def test_a_killed_holder_does_not_block_the_next_run(tmp_path, scratch):
    out = tmp_path / "run"
    holder = start(out, scratch, "60")
    wait_for(lambda: (out / "results.jsonl").exists() and (out / "results.jsonl").read_text())
    workers = children(holder.pid)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    for pid in workers:  # the orphaned worker, still asleep in test-hang
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    env = hostile_env(TEST_PLUGINS, HYENA_BENCH_TEST_SLEEP="0")
    proc = bench(
        "run", "--ops", "hyena-fft,test-hang", "--seqlens", "256,512", *SMALL, "--timeout",
        "120", "--quiet", "--out", out, "--resume", cwd=scratch, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = keys(out)
    assert len(rows) == 4 == len(set(rows)), "each of the 4 rows once"


def test_concurrent_atomic_writes_of_one_file_each_use_their_own_temporary(tmp_path):
    """issue 17: env.json.tmp was a fixed name (241 of 600 concurrent writes raised)."""
    path = tmp_path / "env.json"
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        for i in range(75):
            try:
                store.write_json_atomic(path, {"worker": worker, "i": i, "pad": "x" * 4096})
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert json.loads(path.read_text())["pad"] == "x" * 4096
    assert [p.name for p in tmp_path.iterdir()] == ["env.json"], "no temporary left"


def test_the_lock_is_exclusive_across_processes(tmp_path):
    with files.RunLock(tmp_path):
        code = (
            "import sys; from bench import files\n"
            "try:\n    files.RunLock(sys.argv[1]).acquire()\n"
            "except files.LockedError as e:\n    print(e.pid)\n"
        )
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        other = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env
        )
        assert other.stdout.strip() == str(os.getpid()), other.stderr
    assert not (tmp_path / files.LOCK_FILE).exists()
    with files.RunLock(tmp_path):  # free again
        pass
