"""`hyena-bench compare` as a user meets it, in-process (bench/compare.py): its help text, which
side an error names, the threshold's bounds and its default per device, the environment check
on a GPU, and the notes on a changed implementation. The decision itself is in test_compare.py.
"""

from __future__ import annotations

import json
import re

import pytest

from bench import cli, compare, comparison
from bench.errors import UsageError
from tests.bench.test_compare import row, run_pair, write_run

CUDA = {"device": {"type": "cuda", "name": "Test GPU"}, "torch": "2.5", "cpu": {"torch_threads": 1}}


def test_the_help_names_the_arguments_and_the_defaults(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["compare", "--help"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines to the terminal
    assert "compare [-h] [--threshold THRESHOLD]" in out
    assert "[--allow-env-mismatch] BASE_DIR NEW_DIR" in out
    assert "BASE_DIR the reference run (or its shards: A,B,...)" in out
    assert "NEW_DIR the run to check (or its shards: A,B,...)" in out
    assert "smallest change that counts, e.g. 5% (default: 5% on cuda, 25% on cpu)" in out
    assert "--metric {latency,memory}" in out
    assert "--format {text,md,json}" in out
    assert out.endswith(
        "--allow-env-mismatch compare runs from different devices or library versions anyway"
    )
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    top = " ".join(capsys.readouterr().out.split())
    assert re.search(r"\bcompare compare two runs; exit 1 on a significant regression( |$)", top)


@pytest.mark.parametrize(("text", "value"), [("150%", 1.5), ("999%", 9.99), ("0.99", 0.99)])
def test_threshold_bounds_accept(text, value):
    assert compare.parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["1", "1.5", "1000%", "-0.01"])
def test_threshold_bounds_refuse(text):
    with pytest.raises(UsageError) as caught:
        compare.parse_threshold(text)
    assert str(caught.value) == (
        f"--threshold {text!r}: write a percentage (15%) or a fraction (0.15)"
    )


def test_an_empty_or_missing_side_is_named(tmp_path, capsys):
    good = write_run(tmp_path / "good", [row()])
    assert cli.main(["compare", "", str(good)]) == 2
    assert "BASE '': an empty path" in capsys.readouterr().err
    assert cli.main(["compare", str(good), " "]) == 2
    assert "NEW ' ': an empty path" in capsys.readouterr().err
    assert cli.main(["compare", str(good), str(tmp_path / "nope")]) == 2
    assert f"NEW: {tmp_path / 'nope'}: no such results directory" in capsys.readouterr().err
    assert cli.main(["compare", str(tmp_path / "nope"), str(good)]) == 2
    assert f"BASE: {tmp_path / 'nope'}: no such results directory" in capsys.readouterr().err


def test_the_report_names_both_directories(tmp_path, capsys):
    assert run_pair(tmp_path, [row()], [row()], "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["base"], report["new"]) == (str(tmp_path / "base"), str(tmp_path / "new"))


def test_a_gpu_pair_gets_the_gpu_threshold_and_ignores_cpu_threads(tmp_path, capsys):
    a = write_run(tmp_path / "a", [row(device="cuda")], **CUDA)
    b = write_run(
        tmp_path / "b", [row(device="cuda", ms=10.3)], **{**CUDA, "cpu": {"torch_threads": 8}}
    )
    assert cli.main(["compare", str(a), str(b), "--format", "json"]) in (0, 1)
    report = json.loads(capsys.readouterr().out)
    assert report["threshold"] == comparison.DEFAULT_THRESHOLDS["cuda"]
    assert report["env_differences"] == []


def test_a_mismatch_is_refused_naming_every_difference_or_reported_when_allowed(tmp_path, capsys):
    a = write_run(tmp_path / "a", [row()])
    b = write_run(tmp_path / "b", [row()], torch="2.6", cpu={"torch_threads": 2})
    assert cli.main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert (
        "BASE and NEW come from different environments (torch: '2.13.0' vs '2.6'; "
        "cpu.torch_threads: 1 vs 2); pass --allow-env-mismatch to compare anyway"
    ) in err
    args = ["compare", str(a), str(b), "--allow-env-mismatch", "--format", "json"]
    assert cli.main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["env_differences"] == ["torch: '2.13.0' vs '2.6'", "cpu.torch_threads: 1 vs 2"]


def test_only_implementations_whose_description_changed_are_named(tmp_path, capsys):
    base = [row(), row(op="attention-dense", impl_detail="same")]
    new = [row(impl_detail="new kernel"), row(op="attention-dense", impl_detail="same")]
    assert run_pair(tmp_path, base, new, "--format", "json") == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert notes == ["hyena-fft is described differently: BASE 'test', NEW 'new kernel'"]
