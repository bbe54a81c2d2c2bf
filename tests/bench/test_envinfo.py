"""The environment record holds what reproduction needs, with reasons where a GPU is absent."""

import json

import pytest
import torch

from bench import envinfo

REQUIRED = [
    "hyena_bench_version",
    "git_commit",
    "git_dirty",
    "python",
    "torch",
    "triton",
    "flash_attn",
    "cuda",
    "cudnn",
    "device",
    "nvml",
    "cpu",
    "command",
    "started_at",
]


def outside_any_job(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SUBMITIT_EXECUTOR",
        "SLURM_JOB_ID",
        "SLURM_ARRAY_JOB_ID",
        "SUBMITIT_LOCAL_JOB_ID",
    ):
        monkeypatch.delenv(name, raising=False)


def test_record_has_every_field_and_is_json(monkeypatch):
    outside_any_job(monkeypatch)
    record = envinfo.collect(torch.device("cpu"), argv=["run", "--preset", "smoke"])
    assert set(REQUIRED) <= set(record)
    assert record["command"] == "hyena-bench run --preset smoke"  # argv as main received it
    assert record["argv"] == ["run", "--preset", "smoke"] and record["job"] is None
    assert record["cpu"]["threads"] >= 1 and record["device"]["type"] == "cpu"
    assert len(record["git_commit"] or "") in (0, 40)
    assert record["load"]["start"]["1m"] >= 0 and record["load"]["end"] is None
    assert record["cpu"]["allocator"]["setting"] in ("glibc", "retain")
    json.dumps(record)
    done = envinfo.finish(record, torch.device("cpu"))
    assert done["finished_at"] and done["nvml"]["end"]
    assert done["load"]["start"] == record["load"]["start"] and done["load"]["end"]["1m"] >= 0


def test_scheduler_job_names_the_executor_and_the_job(monkeypatch):
    outside_any_job(monkeypatch)
    assert envinfo.scheduler_job() == {}
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    assert envinfo.scheduler_job()["job_id"] == "4242"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "4240")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    job = envinfo.scheduler_job()
    assert job["executor"] == "slurm" and job["job_id"] == "4240_2"
    outside_any_job(monkeypatch)
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "local")
    monkeypatch.setenv("SUBMITIT_LOCAL_JOB_ID", "777")
    assert envinfo.scheduler_job()["job_id"] == "777"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the no-GPU path")
def test_no_gpu_path_gives_reasons_not_numbers():
    record = envinfo.collect(torch.device("cpu"), argv=["env"])
    assert record["nvml"]["start"] == {"reason": "no GPU in this run"}
