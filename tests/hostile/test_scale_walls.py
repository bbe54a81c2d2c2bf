"""tests/benchmarks/scale_walls.py, the device script's timing of issue 17's large run: the
commands it runs and the table it prints, with the commands' timing replaced (the real
commands on the real run are the benchmark, not a test)."""

from __future__ import annotations

from tests.benchmarks import scale_walls


def test_every_step_runs_on_the_generated_run_and_a_failure_is_shown_not_timed(monkeypatch, capsys):
    called: list[list[str]] = []

    def fake(args: list[str]) -> tuple[float, int, str]:
        called.append(args)
        failing = "csv" in args
        return 1.25, (2 if failing else 0), ("hyena-bench: bad" if failing else "")

    monkeypatch.setattr(scale_walls, "timed", fake)
    assert scale_walls.main(["--rows", "26", "--samples", "5", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("scale: 26 rows x 5 samples")
    assert len(called) == 2 * len(scale_walls.STEPS)
    compare = called[0]
    assert compare[0] == "compare" and compare[1] == compare[2]
    assert compare[1].endswith("run")
    outs = [a[a.index("--out") + 1] for a in called if "--out" in a]
    assert len(set(outs)) == len(outs)  # every report into a fresh directory
    assert "| `compare RUN RUN` | 1.2, 1.2 |" in out
    failed = "exit 2: hyena-bench: bad"
    assert f"| `report --format csv (no figures)` | {failed}, {failed} |" in out
