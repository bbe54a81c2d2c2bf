"""The executor's options: what a job's command line keeps of the user's, and how Slurm options
from a TOML file and flags reach the sbatch script submitit writes (no Slurm needed)."""

from __future__ import annotations

import argparse
import os

import pytest

from bench.commands import add_run_arguments
from bench.errors import UsageError
from bench.executor_options import make_executor, slurm_settings, without_executor_options


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return parser.parse_args(argv)


def test_a_job_keeps_the_sweep_and_drops_what_it_sets_itself():
    argv = ["run", "--quiet", "--out", "runs/x", "--ops", "hyena-fft", "--executor", "slurm"]
    argv += ["--jobs=4", "--part", "gpu", "--resume", "--gpus-per-task", "1", "--no-verify"]
    assert without_executor_options(argv) == ["run", "--ops", "hyena-fft", "--no-verify"]


def test_slurm_options_from_toml_and_flags_reach_sbatch(tmp_path, monkeypatch):
    # submitit's Slurm executor looks for srun before it writes anything; this one never runs
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 1\n")
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    config = tmp_path / "slurm.toml"
    config.write_text(
        '[slurm]\npartition = "from-file"\nqos = "high"\ntime_limit = 90\n'
        'setup = ["module load cuda"]\nadditional = { reservation = "bench" }\n'
    )
    args = parse("--slurm-config", str(config), "--partition", "h100", "--gpus-per-task", "1")
    settings = slurm_settings(args, "cuda")
    assert (settings.partition, settings.qos, settings.time_limit) == ("h100", "high", 90)
    executor = make_executor("slurm", tmp_path / "logs", settings)
    script = executor._executor._make_submission_file_text("python -m x", "uid")
    for line in (
        "#SBATCH --partition=h100",
        "#SBATCH --qos=high",
        "#SBATCH --time=90",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --reservation=bench",
        "module load cuda",
    ):
        assert line in script, line


def test_a_bad_slurm_config_is_a_usage_error(tmp_path):
    config = tmp_path / "slurm.toml"
    config.write_text('[slurm]\npartiton = "gpu"\n')
    with pytest.raises(UsageError, match="unknown \\[slurm\\] key 'partiton'"):
        slurm_settings(parse("--slurm-config", str(config)), "cuda")
    config.write_text("[slurm\n")
    with pytest.raises(UsageError, match="--slurm-config"):
        slurm_settings(parse("--slurm-config", str(config)), "cuda")
