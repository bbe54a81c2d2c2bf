"""`hyena-bench profile` end to end, as a user runs it: a real subprocess from the repo root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from operators import hyena

REPO = Path(__file__).resolve().parents[2]
HYENA_STAGES = set(hyena.STAGES)
TIMEOUT_S = 300  # importing torch alone takes seconds on a small CI machine
# One CPU thread: a small problem gains nothing from more, and a busy machine's other processes
# can slow multi-threaded CPU ops down many times over.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def profile(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "profile", *args, "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=ENV,
    )


def check_outputs(out: Path, stdout: str) -> None:
    trace = json.loads((out / "trace.json").read_text())
    assert trace["traceEvents"]
    names = {e.get("name") for e in trace["traceEvents"]}
    assert {"bench.step", *HYENA_STAGES} <= names  # the ranges are in the trace, for Perfetto
    stage_lines = stdout.split("time per named stage")[1].splitlines()
    for name in HYENA_STAGES:
        assert any(line.startswith(name) for line in stage_lines), name
    stages = pd.read_csv(out / "stages.csv")
    assert set(HYENA_STAGES) <= set(stages["stage"]) and (stages["ms"] >= 0).all()
    kernels = pd.read_csv(out / "kernels.csv")
    assert {"name", "calls", "self_ms", "share"} <= set(kernels.columns)
    assert kernels["share"].sum() == pytest.approx(1.0)


def test_profile_hyena_fft_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "prof"
    result = profile(out, "hyena-fft", "--seqlen", "2048", "--device", "cpu", "--reps", "2")
    assert result.returncode == 0, result.stderr
    assert "ops by self CPU time" in result.stdout and "host wall time" in result.stdout
    check_outputs(out, result.stdout)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_profile_on_cuda_ranks_gpu_kernels(tmp_path: Path) -> None:
    out = tmp_path / "prof"
    args = ("hyena-fft", "--seqlen", "8k", "--device", "cuda", "--mode", "fwd_bwd")
    result = profile(out, *args)
    assert result.returncode == 0, result.stderr
    assert "kernels by GPU time" in result.stdout
    check_outputs(out, result.stdout)
    kernels = pd.read_csv(out / "kernels.csv")
    assert not kernels["name"].str.startswith("aten::").any()  # GPU kernels, not host ops
    stages = pd.read_csv(out / "stages.csv").set_index("stage")
    assert (stages.loc[list(HYENA_STAGES), "bwd_ms"] >= 0).all()
    assert stages.loc["hyena.long_conv", "bwd_ms"] > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_nvtx_only_runs_the_calls_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "prof"
    result = profile(out, "hyena-fft", "--seqlen", "4k", "--device", "cuda", "--nvtx-only")
    assert result.returncode == 0, result.stderr
    assert "calls in NVTX ranges" in result.stdout and not out.exists()
