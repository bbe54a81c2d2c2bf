"""bench.timer_check: our timer and triton's do_bench on the same callables. On a CPU do_bench
cannot run, so the cases carry our samples and the reason; on a GPU the ratio is checked to be a
real number computed from both timers' samples."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import pytest
import torch

from bench import timer_check
from bench.timing import TimingOptions
from operators.config import Config
from tests.conftest import REPO, cli_env

TINY = Config(batch=1, seqlen=64, d_model=16, heads=2, dtype="fp32", level="layer")
QUICK = TimingOptions(target_s=0.0, min_reps=3, warmup_s=0.0)


def test_cli_writes_one_attention_and_one_hyena_case_per_length(tmp_path):
    out = tmp_path / "timer.json"
    args = "--device cpu --seqlens 64,128 --batch 1 --d-model 16 --heads 2 --target-time 0"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.timer_check", *args.split(), "--out", str(out)],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    cases = json.loads(out.read_text())["cases"]
    assert [(c["seqlen"], c["op"].split("-")[0]) for c in cases] == [
        (64, "attention"),
        (64, "hyena"),
        (128, "attention"),
        (128, "hyena"),
    ]
    for c in cases:
        assert len(c["ours_ms"]) == timer_check.ROUNDS and all(x > 0 for x in c["ours_ms"])
        assert c["do_bench_ms"] is None and c["ratio"] is None
        assert c["reason"] == timer_check.DO_BENCH_MISSING
    assert "| attention-" in proc.stdout and "| hyena-" in proc.stdout


@pytest.mark.parametrize("arg", ["--seqlens 0", "--batch 0", "--d-model 30 --heads 4"])
def test_cli_bad_input_is_one_line_and_exit_2(arg):
    proc = subprocess.run(
        [sys.executable, "-m", "bench.timer_check", "--device", "cpu", *arg.split()],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "error:" in proc.stderr


def test_ratio_is_median_over_median_of_the_two_timers():
    seen = []

    def other(fn):  # a second timer: calls fn like do_bench does, reports a known time
        fn()
        seen.append(1)
        return 2.0

    case = timer_check.check_case("hyena-fft", TINY, torch.device("cpu"), QUICK, other)
    assert len(seen) == timer_check.ROUNDS
    assert case.do_bench_ms == [2.0] * timer_check.ROUNDS
    assert case.ratio == pytest.approx(statistics.median(case.ours_ms) / 2.0, rel=1e-4)


def test_a_failing_case_is_recorded_and_the_rest_run(monkeypatch):
    real = timer_check.check_case

    def flaky(op, *args, **kwargs):
        if op.startswith("attention"):
            raise RuntimeError("CUDA out of memory. Tried to allocate 1 GiB\nmore text")
        return real(op, *args, **kwargs)

    monkeypatch.setattr(timer_check, "check_case", flaky)
    saved = []
    results = timer_check.run([64], TINY, torch.device("cpu"), QUICK, on_case=saved.append)
    assert results[0]["reason"] == "CUDA out of memory. Tried to allocate 1 GiB"
    assert results[1]["op"].startswith("hyena") and results[1]["ours_ms"]
    assert len(saved) == 2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (do_bench)")
def test_do_bench_ratio_on_the_gpu():
    base = Config(batch=1, seqlen=1024, d_model=256, heads=4, dtype="fp16", level="layer")
    results = timer_check.run([1024], base, torch.device("cuda"), TimingOptions(target_s=0.05))
    for c in results:
        assert c.get("ratio") is not None and c["ratio"] > 0, c
