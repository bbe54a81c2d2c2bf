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


def test_record_has_every_field_and_is_json():
    record = envinfo.collect(torch.device("cpu"), argv=["hyena-bench", "run", "--preset", "smoke"])
    assert set(REQUIRED) <= set(record)
    assert record["command"] == "hyena-bench run --preset smoke"
    assert record["cpu"]["threads"] >= 1 and record["device"]["type"] == "cpu"
    assert len(record["git_commit"] or "") in (0, 40)
    assert record["load"]["start"]["1m"] >= 0 and record["load"]["end"] is None
    assert record["cpu"]["allocator"]["setting"] in ("glibc", "retain")
    json.dumps(record)
    done = envinfo.finish(record, torch.device("cpu"))
    assert done["finished_at"] and done["nvml"]["end"]
    assert done["load"]["start"] == record["load"]["start"] and done["load"]["end"]["1m"] >= 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="the no-GPU path")
def test_no_gpu_path_gives_reasons_not_numbers():
    record = envinfo.collect(torch.device("cpu"), argv=["x"])
    assert record["nvml"]["start"] == {"reason": "no GPU in this run"}
