"""`hyena-bench compare`, in process: the decision rule (bench.comparison), the statistics
behind it, and how rows that lost or gained a result are counted. Run directories are made by
hand (`write_run`) with known outcomes; tests/cli/test_compare_cli.py runs the same command in
a subprocess."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import cli, compare, comparison
from bench.errors import UsageError
from bench.record import CONTRACT_FIELDS, SCHEMA_VERSION

ENV = {
    "device": {"type": "cpu", "name": "Test CPU"},
    "torch": "2.13.0",
    "triton": None,
    "flash_attn": None,
    "cpu": {"torch_threads": 1},
    "run_id": "test",
}


def samples(median: float, n: int = 40, spread: float = 0.02, seed: int = 0) -> list[float]:
    """n samples around `median` with relative spread `spread` (seeded: outcomes are known)."""
    rng = np.random.default_rng(seed)
    values = median * (1 + spread * rng.standard_normal(n))
    return [float(v) for v in values - np.median(values) + median]


def row(
    op: str = "hyena-fft",
    seqlen: int = 1024,
    ms: float | list[float] | None = 10.0,
    status: str = "ok",
    **fields: Any,
) -> dict[str, Any]:
    """A complete results row (every contract field) for one configuration."""
    data = samples(ms) if isinstance(ms, int | float) else (ms or [])
    base = {f: None for f in CONTRACT_FIELDS}
    base.update(
        schema_version=SCHEMA_VERSION,
        run_id="test",
        op=op,
        family=op.split("-")[0],
        level="layer",
        impl_detail="test",
        device="cpu",
        dtype="fp32",
        mode="fwd",
        batch=1,
        seqlen=seqlen,
        d_model=64,
        heads=4,
        order=2,
        status=status,
        reason="",
        reps=len(data),
        samples_ms=data,
        verified=status == "ok",
        latency_ms_median=float(np.median(data)) if data else None,
        peak_mem_bytes=1 << 20 if status == "ok" else None,
        started_at="2026-01-01",
    )
    if status != "ok":
        base["reason"] = f"test {status}"
    base.update(fields)
    return base


def write_run(directory: Path, rows: list[dict[str, Any]], **env: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "env.json").write_text(json.dumps({**ENV, **env}))
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (directory / "results.jsonl").write_text(text)
    return directory


def run_pair(tmp_path: Path, base: list, new: list, *args: str) -> int:
    a = write_run(tmp_path / "base", base)
    b = write_run(tmp_path / "new", new)
    return cli.main(["compare", str(a), str(b), *args])


def estimate(ratio: float, low: float, high: float, p_worse: float = 1.0, p_better: float = 1.0):
    return comparison.Estimate(ratio, low, high, p_worse, p_better, 40, 40)


LATENCY = comparison.METRICS["latency"]
SURE = comparison.ALPHA_EACH / 2  # a Holm-adjusted p-value that passes


@pytest.mark.parametrize(
    ("ratio", "low", "high", "p_worse", "p_better", "verdict"),
    [
        (1.30, 1.20, 1.40, SURE, 1.0, "slower"),  # beyond 15% and sure of it after Holm
        (1.30, 1.20, 1.40, 0.2, 1.0, "inconclusive"),  # not sure enough after Holm
        (1.30, 0.95, 1.80, 0.3, 1.0, "inconclusive"),  # the interval includes 1
        (1.10, 1.05, 1.14, 1.0, 1.0, "unchanged"),  # real but smaller than the threshold
        (1.10, 1.05, 1.20, 0.4, 1.0, "inconclusive"),  # could still be beyond the threshold
        (0.70, 0.60, 0.80, 1.0, SURE, "faster"),
        (1.00, 0.99, 1.01, 1.0, 1.0, "unchanged"),
        (1.10, 1.05, 1.14, SURE, 1.0, "unchanged"),  # sure, but the ratio is within 15%
    ],
)
def test_decision_rule(ratio, low, high, p_worse, p_better, verdict):
    e = estimate(ratio, low, high, p_worse, p_better)
    assert comparison.decide(e, 0.15, LATENCY) == verdict


def test_interval_is_seeded_and_brackets_the_ratio(tmp_path, capsys):
    rows = ([row(ms=samples(10.0, seed=1))], [row(ms=samples(12.0, seed=2))])
    assert run_pair(tmp_path, *rows, "--format", "json", "--threshold", "10%") == 1
    first = json.loads(capsys.readouterr().out)["outcomes"][0]["estimate"]
    assert run_pair(tmp_path / "again", *rows, "--format", "json", "--threshold", "10%") == 1
    assert json.loads(capsys.readouterr().out)["outcomes"][0]["estimate"] == first
    assert first["ratio"] == pytest.approx(1.2)
    assert first["low"] < first["ratio"] < first["high"]
    assert first["p_worse"] <= comparison.ALPHA_EACH


def test_single_values_are_exact_the_threshold_decides(tmp_path, capsys):
    """One value a side (peak memory): nothing to resample, so the interval is the point and the
    one-sided p-values are 0 or 1."""
    new = [row(peak_mem_bytes=3 << 19)]
    assert run_pair(tmp_path, [row()], new, "--metric", "memory", "--format", "json") == 1
    e = json.loads(capsys.readouterr().out)["outcomes"][0]["estimate"]
    assert (e["ratio"], e["low"], e["high"]) == pytest.approx((1.5, 1.5, 1.5))
    assert e["p_worse"] == 0.0


@pytest.mark.parametrize(("text", "value"), [("15%", 0.15), ("0.05", 0.05), ("0%", 0.0)])
def test_threshold_parses(text, value):
    assert compare.parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["5", "-5%", "abc", "nan", "2000%"])
def test_bad_threshold_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--threshold"):
        compare.parse_threshold(text)


def test_table_is_sorted_by_size_of_change(tmp_path, capsys):
    base = [row(seqlen=n) for n in (1024, 2048, 4096)]
    new = [row(seqlen=1024, ms=10.5), row(seqlen=2048, ms=6.0), row(seqlen=4096, ms=14.0)]
    assert run_pair(tmp_path, base, new) == 1
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("hyena-fft")]
    assert [ln.split()[1] for ln in lines] == ["L=2048", "L=4096", "L=1024"]
    assert "faster" in lines[0] and "SLOWER" in lines[1] and "unchanged" in lines[2]


@pytest.mark.parametrize(
    ("base", "new", "status", "verdict"),
    [
        (row(), row(status="oom", ms=None), 1, "LOST"),  # ok -> oom
        (row(), row(status="error", ms=None), 1, "LOST"),  # ok -> error
        (row(), None, 1, "LOST"),  # ok -> absent
        (row(), row(verified=False, max_rel_err=0.5), 1, "LOST"),  # now wrong, however fast
        (row(status="oom", ms=None), row(), 0, "gained"),
        (row(status="oom", ms=None), row(status="error", ms=None), 0, "status changed"),
        (None, row(), 0, "gained"),  # only in NEW
    ],
)
def test_status_changes(tmp_path, capsys, base, new, status, verdict):
    anchor = row(op="attention-sdpa-math")  # a pair in common on both sides
    base_rows = [anchor] + ([base] if base else [])
    new_rows = [anchor] + ([new] if new else [])
    assert run_pair(tmp_path, base_rows, new_rows) == status
    out = capsys.readouterr().out
    assert "results lost or changed" in out and verdict in out


def test_same_failure_on_both_sides_is_not_listed(tmp_path, capsys):
    skipped = row(seqlen=2048, status="skipped", ms=None)
    assert run_pair(tmp_path, [row(), skipped], [row(), skipped]) == 0
    assert "lost or changed" not in capsys.readouterr().out


def test_memory_metric_uses_peak_bytes(tmp_path, capsys):
    new = row(peak_mem_bytes=2 << 20)
    assert run_pair(tmp_path, [row()], [new], "--metric", "memory") == 1
    assert "LARGER" in capsys.readouterr().out


def test_json_output_holds_the_rule_and_every_outcome(tmp_path, capsys):
    assert run_pair(tmp_path, [row()], [row(ms=20.0)], "--format", "json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["exit_status"] == 1
    assert report["threshold"] == comparison.DEFAULT_THRESHOLDS["cpu"]
    assert report["confidence"] == comparison.CONFIDENCE and report["alpha"] == comparison.ALPHA
    (outcome,) = report["outcomes"]
    assert outcome["op"] == "hyena-fft" and outcome["verdict"] == "slower"
    assert outcome["estimate"]["ratio"] == pytest.approx(2.0)


def test_markdown_output_is_a_table(tmp_path, capsys):
    assert run_pair(tmp_path, [row()], [row()], "--format", "md") == 0
    assert "| hyena-fft L=1024" in capsys.readouterr().out


def test_a_changed_implementation_detail_is_named(tmp_path, capsys):
    assert run_pair(tmp_path, [row()], [row(impl_detail="new kernel")]) == 0
    assert "hyena-fft is described differently: BASE 'test', NEW 'new kernel'" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("base", "new", "message"),
    [
        ([row()], [row(op="attention-dense")], "no configuration in common"),
        ([row(), row()], [row()], "two rows for hyena-fft"),
    ],
)
def test_unusable_pairs_are_usage_errors(tmp_path, capsys, base, new, message):
    assert run_pair(tmp_path, base, new) == 2
    assert message in capsys.readouterr().err


def test_thread_count_is_part_of_a_cpu_environment(tmp_path, capsys):
    a = write_run(tmp_path / "a", [row()])
    b = write_run(tmp_path / "b", [row()], cpu={"torch_threads": 2})
    assert cli.main(["compare", str(a), str(b)]) == 2
    assert "cpu.torch_threads: 1 vs 2" in capsys.readouterr().err


def test_slowdown_below_the_threshold_passes(tmp_path, capsys):
    assert run_pair(tmp_path, [row(ms=10.0)], [row(ms=13.0)], "--threshold", "40%") == 0
    assert "unchanged" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--threshold", "ten"], "--threshold 'ten'"), (["--metric", "joules"], "invalid choice")],
)
def test_bad_options_exit_2(tmp_path, capsys, args, message):
    assert run_pair(tmp_path, [row()], [row()], *args) == 2
    assert message in capsys.readouterr().err


def test_missing_env_exits_2(tmp_path, capsys):
    a = write_run(tmp_path / "a", [row()])
    b = write_run(tmp_path / "b", [row()])
    (b / "env.json").unlink()
    assert cli.main(["compare", str(a), str(b)]) == 2
    assert "env.json: missing" in capsys.readouterr().err


def test_an_ok_row_without_a_usable_time_is_unusable_input_not_no_regression(tmp_path, capsys):
    broken = row(ms=[0.0, float("nan")], latency_ms_median=None)
    assert run_pair(tmp_path, [row()], [broken]) == 2
    assert "results.jsonl:1: samples_ms: holds a value that is not a finite" in (
        capsys.readouterr().err
    )
    zero = row(ms=[0.0, 0.0], latency_ms_median=0.0)
    assert run_pair(tmp_path, [row()], [zero]) == 2
    assert "latency_ms_median: 0.0 in an ok row" in capsys.readouterr().err
