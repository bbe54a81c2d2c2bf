"""The options of `run --executor` (bench/executor.py): which executor, Slurm's options from
flags or a TOML file, the submitit executor made from them, and what a job's command line keeps
of the user's. Torch-free and without submitit at import: `hyena-bench --help` loads it.
"""

from __future__ import annotations

import argparse
import shutil
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bench.errors import UsageError

EXECUTORS = ("none", "auto", "local", "slurm")
SLURM_TIME_LIMIT_MIN = 240  # default Slurm time limit per job: the paper preset on one GPU fits
LOCAL_TIME_LIMIT_MIN = 7 * 24 * 60  # local jobs: submitit's own default (2 min) would kill them
GROUP = "scale-out through submitit (docs/SCALEOUT.md)"
OVERRIDDEN = ("shard", "out", "device", "quiet", "resume")  # set by executor.job_argv per job


@dataclass
class SlurmSettings:
    """Slurm options for every job; None leaves Slurm's (or the cluster's) default."""

    partition: str | None = None
    gpus_per_task: int | None = None
    time_limit: int | None = None  # minutes
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    setup: list[str] = field(default_factory=list)  # shell lines before the job (module load...)
    additional: dict[str, Any] = field(default_factory=dict)  # any other sbatch option

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


FLAG_SETTINGS = (
    "partition",
    "gpus_per_task",
    "time_limit",
    "cpus_per_task",
    "mem_gb",
    "account",
    "qos",
    "constraint",
)


def add_executor_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(GROUP)
    g.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="none",
        help="run the sweep as --jobs balanced shards, one job each, then merge them into --out: "
        "local (processes here), slurm, or auto (slurm where srun exists) (default: none: "
        "in this process)",
    )
    g.add_argument("--jobs", type=int, metavar="N", help="shards, one job each (default: 1)")
    g.add_argument(
        "--slurm-config",
        type=Path,
        metavar="FILE",
        help="TOML file with a [slurm] table: the options below, setup (list of shell lines), "
        "additional (any sbatch option); flags win (default: none)",
    )
    g.add_argument("--partition", help="Slurm partition (default: the cluster's)")
    g.add_argument(
        "--gpus-per-task",
        type=int,
        metavar="N",
        help="GPUs per Slurm job (default: 1 for --device cuda or auto, 0 for cpu)",
    )
    g.add_argument(
        "--time-limit",
        type=int,
        metavar="MINUTES",
        help=f"per job (default: {SLURM_TIME_LIMIT_MIN} on Slurm, none for local jobs)",
    )
    g.add_argument("--cpus-per-task", type=int, metavar="N", help="(default: the cluster's)")
    g.add_argument("--mem-gb", type=float, metavar="GB", help="(default: the cluster's)")
    g.add_argument("--account", help="Slurm account (default: yours)")
    g.add_argument("--qos", help="Slurm quality of service (default: the cluster's)")
    g.add_argument("--constraint", help="Slurm node constraint, e.g. h100 (default: none)")


def executor_kind(args: argparse.Namespace) -> str:
    """none, local or slurm (auto resolved as submitit's AutoExecutor does: srun present)."""
    kind = getattr(args, "executor", "none") or "none"
    if kind == "auto":
        kind = "slurm" if shutil.which("srun") else "local"
    if kind == "none":
        if args.jobs is not None or args.slurm_config is not None:
            raise UsageError("--jobs and --slurm-config need --executor local, slurm or auto")
        return kind
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: need at least 1")
    if kind == "slurm" and not shutil.which("srun"):
        raise UsageError("--executor slurm: no srun here (submit from a Slurm login node)")
    return kind


def slurm_settings(args: argparse.Namespace, device_type: str) -> SlurmSettings:
    """The TOML file's [slurm] table, then the flags given."""
    settings = SlurmSettings()
    if args.slurm_config is not None:
        path: Path = args.slurm_config
        try:
            table = tomllib.loads(path.read_text()).get("slurm", {})
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"--slurm-config {path}: {exc}") from None
        known = {f.name for f in fields(SlurmSettings)}
        unknown = sorted(set(table) - known)
        if unknown or not isinstance(table, dict):
            raise UsageError(
                f"--slurm-config {path}: unknown [slurm] key {unknown[0]!r}; known: "
                f"{', '.join(sorted(known))}"
            )
        for name, value in table.items():
            setattr(settings, name, value)
    for name in FLAG_SETTINGS:
        if getattr(args, name, None) is not None:
            setattr(settings, name, getattr(args, name))
    if settings.gpus_per_task is None:
        settings.gpus_per_task = 1 if device_type == "cuda" else 0
    return settings


def make_executor(kind: str, folder: Path, settings: SlurmSettings) -> Any:
    import submitit

    executor = submitit.AutoExecutor(folder=folder, cluster=kind)
    if kind == "slurm":
        params = {
            "timeout_min": settings.time_limit or SLURM_TIME_LIMIT_MIN,
            "gpus_per_node": settings.gpus_per_task,
            "cpus_per_task": settings.cpus_per_task,
            "mem_gb": settings.mem_gb,
            "slurm_partition": settings.partition,
            "slurm_account": settings.account,
            "slurm_qos": settings.qos,
            "slurm_constraint": settings.constraint,
            "slurm_setup": settings.setup or None,
            "slurm_additional_parameters": settings.additional or None,
        }
    else:
        params = {"timeout_min": settings.time_limit or LOCAL_TIME_LIMIT_MIN}
    executor.update_parameters(
        name="hyena-bench", nodes=1, tasks_per_node=1, **{k: v for k, v in params.items() if v}
    )
    return executor


def without_executor_options(argv: list[str]) -> list[str]:
    """`argv` (a `run` command line) without this module's options and those a job sets
    itself (OVERRIDDEN), with their values, matched as argparse matches them (an unambiguous
    prefix, `--opt value` or `--opt=value`)."""
    from bench.commands import add_run_arguments  # bench.commands imports this module

    parser = argparse.ArgumentParser(add_help=False)
    add_run_arguments(parser)
    ours = {a.dest for g in parser._action_groups if g.title == GROUP for a in g._group_actions}
    ours |= set(OVERRIDDEN)
    options = parser._option_string_actions
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
            continue
        name, has_value = word.split("=", 1)[0], "=" in word
        matches = [o for o in options if o.startswith(name)] if name.startswith("--") else []
        action = options.get(name) or (options[matches[0]] if len(matches) == 1 else None)
        if action is not None and action.dest in ours:
            skip = action.nargs != 0 and not has_value  # a flag (store_true) takes no value
            continue
        kept.append(word)
    return kept
