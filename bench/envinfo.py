"""The environment record written beside every run (env.json): versions, device, clocks, CPU,
git commit and command line, so that a result can be reproduced and runs are not mixed blindly.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import shlex
import socket
import sys
from pathlib import Path
from typing import Any

import torch

from bench import __version__, allocator, nvml
from bench.gitrepo import commit_of

REPO_ROOT = Path(__file__).resolve().parent.parent


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_info() -> dict[str, Any]:
    commit, dirty = commit_of(REPO_ROOT)
    return {"git_commit": commit, "git_dirty": dirty}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(device: torch.device) -> dict[str, Any]:
    if device.type != "cuda":
        return {"type": device.type, "name": cpu_model(), "index": None}
    index = device.index if device.index is not None else torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    return {
        "type": "cuda",
        "index": index,
        "name": props.name,
        "compute_capability": f"{props.major}.{props.minor}",
        "memory_bytes": props.total_memory,
        "sm_count": props.multi_processor_count,
        "l2_bytes": getattr(props, "L2_cache_size", None),
        "driver": nvml.driver_version(),
    }


def nvml_state(device: torch.device) -> dict[str, Any]:
    if device.type != "cuda":
        return {"reason": "no GPU in this run"}
    return nvml.snapshot(device.index or 0)


def command_text(argv: list[str] | None) -> str:
    """The command as the user gave it: `argv` is what `bench.cli.main` received (a job launcher
    calling main(argv) has its own sys.argv); None: this process's command line."""
    words = sys.argv[1:] if argv is None else argv
    return shlex.join(["hyena-bench", *words])


def scheduler_job() -> dict[str, Any]:
    """The scheduler job this process runs in (submitit's executor, Slurm's job id, the
    process id), or {} outside one."""
    env = os.environ
    executor = env.get("SUBMITIT_EXECUTOR") or ("slurm" if env.get("SLURM_JOB_ID") else None)
    if executor is None:
        return {}
    if env.get("SLURM_ARRAY_JOB_ID"):
        job_id = f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '')}"
    else:
        job_id = env.get("SLURM_JOB_ID") or env.get("SUBMITIT_LOCAL_JOB_ID")
    return {"executor": executor, "job_id": job_id, "pid": os.getpid()}


def collect(device: torch.device, argv: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The environment record at the start of a run; `argv` as for command_text."""
    record = {
        "hyena_bench_version": __version__,
        **git_info(),
        "command": command_text(argv),
        "argv": list(sys.argv[1:] if argv is None else argv),
        "job": scheduler_job() or None,
        "started_at": now(),
        "finished_at": None,
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "triton": package_version("triton"),
        "flash_attn": package_version("flash-attn") or package_version("flash_attn"),
        "numpy": package_version("numpy"),
        "pandas": package_version("pandas"),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": device_info(device),
        "nvml": {"start": nvml_state(device), "end": None},
        "cpu": {
            "model": cpu_model(),
            "threads": os.cpu_count(),
            "available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "torch_threads": torch.get_num_threads(),
            "allocator": allocator.describe(device.type),
        },
        "load": {"start": load_average(), "end": None},
        "env_vars": {
            k: v
            for k, v in os.environ.items()
            if k.startswith(("CUDA_", "TRITON_", "OMP_", "HYENA_BENCH_", "MALLOC_"))
        },
    }
    record.update(extra)
    return record


def load_average() -> dict[str, float] | None:
    """The host's load averages over 1, 5 and 15 minutes (runnable and waiting processes): above
    the CPU count, other work competed with the measurements."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return None
    return {"1m": round(one, 2), "5m": round(five, 2), "15m": round(fifteen, 2)}


def finish(record: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Add the end time, the load and the GPU state at the end."""
    record = dict(record)
    record["finished_at"] = now()
    record["load"] = {**(record.get("load") or {}), "end": load_average()}
    record["nvml"] = {**record.get("nvml", {}), "end": nvml_state(device)}
    return record
