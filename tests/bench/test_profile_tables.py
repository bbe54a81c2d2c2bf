"""bench.profile and bench.profile_tables: the request checks and the kernel and stage tables
(the command itself runs as a subprocess in tests/cli/test_profile_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.profile_tables import (
    OUTSIDE,
    kernel_records,
    kernel_table,
    render,
    stage_table,
)
from bench.stages import StepTimes, profile_case
from operators import registry
from operators.config import Config

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")


def test_kernel_table_ranks_by_self_time_per_call_with_shares() -> None:
    records = pd.DataFrame(
        [("mm", 600.0), ("mm", 600.0), ("fft", 500.0), ("mul", 100.0), ("mm", 200.0)],
        columns=["name", "self_us"],
    )
    table = kernel_table(records, reps=2)
    assert list(table["name"]) == ["mm", "fft", "mul"]
    mm = table.iloc[0]
    assert mm["calls"] == 1.5 and mm["self_ms"] == pytest.approx(0.7)
    assert mm["share"] == pytest.approx(1400 / 2000)
    assert table["share"].sum() == pytest.approx(1.0)


def test_kernel_records_on_cpu_are_ops_not_ranges() -> None:
    case = registry.get("hyena-fft").build(Config(seqlen=128, d_model=16), CPU, stages=True)
    events = profile_case(case, CPU, 1, warmup_calls=1, detail=True).events()
    names = set(kernel_records(events, "cpu")["name"])
    assert any(n.startswith("aten::") for n in names)
    assert not names & {"bench.step", "hyena.long_conv", "[memory]"}


def test_stage_table_medians_shares_and_time_outside_stages() -> None:
    steps = [
        StepTimes({"a": 1000.0, "b": 3000.0}, {}, {"a": 1, "b": 2}, total_us=5000.0),
        StepTimes({"a": 2000.0, "b": 3000.0}, {}, {"a": 1, "b": 2}, total_us=6000.0),
        StepTimes({"a": 9000.0, "b": 3000.0}, {}, {"a": 1, "b": 2}, total_us=13000.0),
    ]
    table = stage_table(steps).set_index("stage")
    assert list(table.columns) == ["ranges", "ms", "share"]  # forward only: no fwd/bwd split
    assert table.loc["a", "ms"] == 2.0 and table.loc["b", "ranges"] == 2
    assert table.loc[OUTSIDE, "ms"] == 1.0
    assert table.loc["b", "share"] == pytest.approx(3.0 / 6.0)


def test_stage_table_splits_forward_and_backward() -> None:
    steps = [StepTimes({"a": 1000.0}, {"a": 2000.0, "b": 500.0}, {"a": 1}, total_us=4000.0)]
    table = stage_table(steps).set_index("stage")
    assert table.loc["a", ["fwd_ms", "bwd_ms", "ms"]].tolist() == [1.0, 2.0, 3.0]
    assert table.loc["b", "fwd_ms"] == 0.0 and table.loc["b", "bwd_ms"] == 0.5
    assert "-" in render(table.reset_index())  # the outside row has no range count


def test_render_cuts_long_kernel_names() -> None:
    table = pd.DataFrame({"name": ["k" * 300], "calls": [2.0], "self_ms": [1.5], "share": [1.0]})
    text = render(table)
    assert "..." in text and "100.0%" in text and "k" * 300 not in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no-such-op", "--seqlen", "1k"], "unknown operator 'no-such-op'"),
        (["flash-attn2", "--seqlen", "1k", "--device", "cpu"], "needs a CUDA GPU"),
        (["hyena-fft", "--seqlen", "0"], "--seqlen"),
        (["hyena-fft", "--seqlen", "-4"], "--seqlen"),
        (["hyena-fft", "--seqlen", "1k", "--d-model", "0"], "--d-model: 0 must be at least 1"),
        (["hyena-fft", "--seqlen", "1k", "--level", "nope"], "invalid choice"),
        (["hyena-fft", "--seqlen", "1k", "--reps", "0"], "--reps"),
        (["hyena-fft", "--seqlen", "1k", "--device", "cpu", "--nvtx-only"], "--nvtx-only"),
    ],
)
def test_bad_requests_are_one_line_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["profile", *argv, "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert err.startswith(("hyena-bench: error:", "hyena-bench profile: error:")), err
    assert not (tmp_path / "p").exists()


def test_unwritable_out_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert main(["profile", "hyena-fft", "--seqlen", "64", "--out", str(blocker / "p")]) == 2
    assert "is not a writable directory" in capsys.readouterr().err
