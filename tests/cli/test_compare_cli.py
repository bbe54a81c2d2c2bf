"""`hyena-bench compare` as CI runs it: the real command in a subprocess, exit status 0 (no
regression), 1 (regression) and 2 (unusable input: one line on stderr, no traceback)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.bench.test_compare import row, write_run
from tests.conftest import run_cli


def compare(tmp_path, base_rows, new_rows, *args, new_env=None):
    base = write_run(tmp_path / "base", base_rows)
    new = write_run(tmp_path / "new", new_rows, **(new_env or {}))
    return run_cli("compare", str(base), str(new), *args)


def assert_one_line_error(proc, text):
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and text in proc.stderr


def test_same_run_twice_is_no_regression(tmp_path):
    rows = [row(seqlen=n) for n in (1024, 2048)] + [row("attention-sdpa-math", ms=30.0)]
    proc = compare(tmp_path, rows, rows)
    assert proc.returncode == 0, proc.stderr
    assert "no regression: 3 unchanged (exit 0)" in proc.stdout


def test_significant_slowdown_fails(tmp_path):
    proc = compare(tmp_path, [row(ms=10.0), row(seqlen=2048)], [row(ms=13.0), row(seqlen=2048)])
    assert proc.returncode == 1, proc.stderr
    assert "SLOWER" in proc.stdout and "REGRESSION: 1 slower, 1 unchanged" in proc.stdout


def test_lost_result_fails(tmp_path):
    proc = compare(
        tmp_path, [row(), row(seqlen=2048)], [row(), row(seqlen=2048, status="oom", ms=None)]
    )
    assert proc.returncode == 1, proc.stderr
    assert "LOST" in proc.stdout and "test oom" in proc.stdout


def test_environment_mismatch_is_refused_unless_allowed(tmp_path):
    other = {"device": {"type": "cpu", "name": "Other CPU"}}
    proc = compare(tmp_path, [row()], [row()], new_env=other)
    assert_one_line_error(proc, "device.name: 'Test CPU' vs 'Other CPU'")
    proc = compare(tmp_path, [row()], [row()], "--allow-env-mismatch", new_env=other)
    assert proc.returncode == 0, proc.stderr
    assert "environments differ (allowed)" in proc.stdout


@pytest.mark.parametrize(
    ("damage", "text"),
    [
        ("missing", "no such results directory"),
        ("bad-json", "results.jsonl:1: not valid JSON"),
    ],
)
def test_unusable_input_exits_2(tmp_path, damage, text):
    base = write_run(tmp_path / "base", [row()])
    new = write_run(tmp_path / "new", [row()])
    if damage == "missing":
        shutil.rmtree(new)
    else:
        (new / "results.jsonl").write_text("{not json\n" + json.dumps(row()) + "\n")
    assert_one_line_error(run_cli("compare", str(base), str(new)), text)
