"""Plugins that misbehave: one calls sys.exit when imported (as an implementation and as a
command), one raises an error holding rich markup, one returns junk, and one implementation fails
every build with markup, escape codes and a workflow command in its message. `list` and `run`
carry on: each broken plugin is one warning line, every row of the sweep is run and recorded,
and nothing printed holds a raw control character. A display that fails never stops a sweep."""

from __future__ import annotations

import pytest

from bench import store
from bench.runner import Runner, RunOptions, plan
from bench.sweep import Sweep
from tests.hostile.conftest import (
    ALL,
    HOSTILE_PLUGINS,
    Tree,
    bench,
    hostile_env,
    no_control_characters,
)

SMALL = ("--d-model", "16", "--heads", "2", "--target-time", "0.02", "--min-reps", "3")


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "warning:" in line]


def test_list_survives_every_broken_plugin_with_one_warning_each(scratch):
    proc = bench("list", cwd=scratch, env=hostile_env(HOSTILE_PLUGINS), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "hyena-fft" in proc.stdout and "hostile-markup" in proc.stdout
    probe = next(line for line in proc.stdout.splitlines() if line.startswith("hostile-probe"))
    assert "no: its availability check failed: SystemExit: 4" in probe
    said = warnings_of(proc.stderr)
    assert len(said) == 4, proc.stderr  # exits (operators), exits (commands), raises, junk
    assert sum("SystemExit: 3" in line for line in said) == 2
    assert any("[/opt/lib/libfoo.so] is missing" in line for line in said)
    assert any("'junk'" in line and "TypeError" in line for line in said)
    assert "Traceback" not in proc.stderr
    no_control_characters(proc.stderr)
    assert not [p for p in scratch.iterdir()], "list writes nothing"


def test_run_records_every_row_when_messages_hold_markup(tmp_path, scratch):
    """issue 17: a reason holding `[/opt/lib/libfoo.so]` raised in the printing thread and 5 of
    6 rows were never run, exit 0."""
    out = tmp_path / "run"
    before = Tree.of(tmp_path)
    proc = bench(
        "run",
        "--ops",
        "hostile-markup,hyena-fft",
        "--seqlens",
        "256,512,1024",
        *SMALL,
        "--out",
        out,
        cwd=scratch,
        env=hostile_env(HOSTILE_PLUGINS),
    )
    assert proc.returncode == 0, proc.stderr
    rows = store.read_rows(out)
    assert sorted((r["op"], r["status"]) for r in rows) == sorted(
        [("hostile-markup", "error")] * 3 + [("hyena-fft", "ok")] * 3
    )
    assert all("[/opt/lib/libfoo.so]" in r["reason"] for r in rows if r["status"] == "error")
    assert "Traceback" not in proc.stderr
    assert "cannot load [/opt/lib/libfoo.so] [bold red]x[/]" in proc.stderr, "shown as written"
    no_control_characters(proc.stdout + proc.stderr)
    assert before.changes(outside_of=out) == []
    assert len(warnings_of(proc.stderr)) == 4, "said once, not once per worker"


@ALL
@pytest.mark.slow
def test_a_failing_display_never_stops_the_sweep(tmp_path, capsys):
    def broken_display(row, done, total):
        raise RuntimeError("the terminal went away")

    sweep = Sweep(seqlens=(256, 512, 1024), ops=("hyena-fft",)).replace(d_model=16, heads=2)
    runner = Runner(plan(sweep), RunOptions(out=tmp_path / "run"), on_row=broken_display)
    summary = runner.run()
    assert summary["rows"] == 3 and len(store.read_rows(tmp_path / "run")) == 3
    err = capsys.readouterr().err
    assert err.count("the progress display failed (RuntimeError); the sweep goes on") == 1
