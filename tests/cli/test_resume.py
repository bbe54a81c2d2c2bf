"""Resuming a sweep whose results hold every kind of row (issue 19): ok, oom, skipped (a longer
length after an OOM) and error (an exception in the worker). A resume that treated only ok rows
as done would run the others again and write their keys twice."""

from __future__ import annotations

from collections import Counter

from bench import record, store
from tests.cli.test_run import SMALL
from tests.conftest import run_cli

SWEEP = ("--ops", "test-oom,test-error,plugin-fft", "--seqlens", "512,1024", "--level", "core")
# Taken out of the finished file before resuming: the rows an interrupted sweep had not written.
MISSING = {("test-error", 1024), ("plugin-fft", 1024)}


def test_resume_keeps_skipped_oom_and_error_rows_and_fills_the_rest(tmp_path, plugin_env):
    out = tmp_path / "run"
    args = ("run", *SWEEP, "--out", str(out), *SMALL)
    run_cli(*args, env=plugin_env, check=True, timeout=300)
    results = out / store.RESULTS_FILE
    lines = results.read_text().splitlines(keepends=True)
    first = {(r["op"], r["seqlen"]): r for r in store.read_rows(out)}
    statuses = {key: row["status"] for key, row in first.items()}
    assert statuses == {
        ("test-oom", 512): "oom",
        ("test-oom", 1024): "skipped",
        ("test-error", 512): "error",
        ("test-error", 1024): "error",
        ("plugin-fft", 512): "ok",
        ("plugin-fft", 1024): "ok",
    }
    kept = [ln for ln, r in zip(lines, first.values(), strict=True) if (r["op"], r["seqlen"])
            not in MISSING]  # fmt: skip
    results.write_text("".join(kept))

    run_cli(*args, "--resume", env=plugin_env, check=True, timeout=300)
    rows = store.read_rows(out)
    keys = Counter(record.row_key(r) for r in rows)
    assert len(rows) == 6 and set(keys.values()) == {1}, "every key exactly once"
    assert results.read_text().splitlines(keepends=True)[: len(kept)] == kept, "kept as they were"
    again = {(r["op"], r["seqlen"]): r["status"] for r in rows}
    assert again == statuses
    assert {(r["op"], r["seqlen"]) for r in rows[len(kept) :]} == MISSING
