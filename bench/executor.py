"""`hyena-bench run ... --executor local|slurm --jobs N`: the sweep as N balanced shards
(bench.shards), one submitit job each, then one merged run directory.

Each job calls `bench.cli.main` with the user's own arguments plus `--shard k/n --out
OUT/shards/k-of-n --executor none --quiet` (argparse keeps the last value of a repeated
option), so a job records the command it really ran. A job that fails or is pre-empted is
submitted once more with `--resume` (its finished rows are kept); one that fails again is
reported with its log. The shards are then merged into OUT (bench.merge): its env.json names the
executor, every shard's job ids and log, and the planned rows that are missing, with the reason.

`auto` uses Slurm where `srun` exists and local processes otherwise (submitit's AutoExecutor).
Slurm options come from flags or a TOML file (`--slurm-config`); flags win. Top-level imports
stay light: `hyena-bench --help` loads this module; submitit is imported when a job is sent.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import EXIT_FAILURE, EXIT_NOTHING_RAN, EXIT_OK, UsageError

if TYPE_CHECKING:
    from bench.runner import RunOptions
    from bench.shards import Shard
    from bench.sweep import Sweep

EXECUTORS = ("none", "auto", "local", "slurm")
ATTEMPTS = 2  # a failed or pre-empted job is submitted once more, with --resume
POLL_S = 1.0  # how often job states and row counts are read (submitit caches Slurm's sacct)
SLURM_TIME_LIMIT_MIN = 240  # default Slurm time limit per job: the paper preset on one GPU fits
LOCAL_TIME_LIMIT_MIN = 7 * 24 * 60  # local jobs: submitit's own default (2 min) would kill them
SHARDS_DIR = "shards"
GROUP = "scale-out through submitit (docs/SCALEOUT.md)"
OVERRIDDEN = ("shard", "out", "device", "quiet", "resume")  # set by job_argv for each job


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


def run_shard(argv: list[str]) -> dict[str, Any]:
    """A job: one shard through the ordinary command (bench.cli.main). A failing exit status
    raises, so submitit reports the job as failed (0: done; 3: every row skipped, also done)."""
    from bench.cli import main

    code = main(argv)
    if code not in (EXIT_OK, EXIT_NOTHING_RAN):
        raise RuntimeError(f"hyena-bench {shlex.join(argv)} exited with status {code}")
    return {"exit": code}


@dataclass
class ShardJob:
    """One shard and the jobs sent for it."""

    shard: Shard
    directory: Path
    argv: list[str]
    jobs: list[Any] = field(default_factory=list)
    state: str = "pending"  # pending, running, done, failed
    error: str = ""

    @property
    def job_ids(self) -> list[str]:
        return [str(j.job_id) for j in self.jobs]

    @property
    def log(self) -> str:
        return str(self.jobs[-1].paths.stderr) if self.jobs else ""

    def rows(self) -> int:
        path = self.directory / "results.jsonl"
        try:
            return path.read_bytes().count(b"\n")
        except OSError:
            return 0

    def record(self) -> dict[str, Any]:
        return {
            "shard": self.shard.label,
            "directory": str(self.directory),
            "job_ids": self.job_ids,
            "state": self.state,
            "error": self.error,
            "log": self.log,
            "estimated_s": round(self.shard.cost, 1),
            "planned_rows": len(self.shard.tasks),
        }


def shard_directory(out: Path, shard: Shard) -> Path:
    return out / SHARDS_DIR / f"{shard.index}-of-{shard.count}"


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


def job_argv(args: argparse.Namespace, shard: Shard, directory: Path, device: str) -> list[str]:
    """The user's arguments without the executor's, then this job's shard, directory and
    device type (the one its plan was costed for)."""
    given = getattr(args, "argv", None)
    given = without_executor_options(list(sys.argv[1:] if given is None else given))
    overrides = ["--shard", shard.label, "--out", str(directory), "--device", device, "--quiet"]
    return [*given, *overrides, *(["--resume"] if args.resume else [])]


def check_shard_dirs(out: Path, resume: bool) -> None:
    stale = sorted((out / SHARDS_DIR).glob("*/results.jsonl"))
    if stale and not resume:
        raise UsageError(
            f"--out {out} already holds shards ({stale[0].parent}); pass --resume or choose a "
            "new --out"
        )


def run_sharded(
    args: argparse.Namespace, kind: str, sweep: Sweep, device_type: str, opts: RunOptions
) -> int:
    """Plan the shards, send the jobs, wait for them (resubmitting a failed one once), merge."""
    from bench.shards import balance, plan, split

    out = Path(opts.out)
    check_shard_dirs(out, args.resume)
    settings = slurm_settings(args, device_type)
    shards = split(plan(sweep, None, device_type), args.jobs or 1, sweep, device_type)
    used = [s for s in shards if s.tasks]
    print(header(args, kind, sweep, shards, used, out), file=sys.stderr)
    folder = out / SHARDS_DIR / "logs"
    executor = make_executor(kind, folder, settings)
    dirs = {s.index: shard_directory(out, s) for s in used}
    jobs = [ShardJob(s, dirs[s.index], job_argv(args, s, dirs[s.index], device_type)) for s in used]
    gpus = local_gpus(kind, device_type)
    for job in jobs:
        submit(executor, job, gpus)
    watch(jobs, executor, gpus, quiet=args.quiet)
    return finish(args, kind, jobs, shards, balance(shards), settings, folder, out)


def header(
    args: argparse.Namespace,
    kind: str,
    sweep: Sweep,
    shards: list[Shard],
    used: list[Shard],
    out: Path,
) -> str:
    from bench.shards import balance

    costs = ", ".join(f"{s.label} {s.cost:.0f} s" for s in used)
    empty = len(shards) - len(used)
    note = f"; {empty} shards empty (fewer implementation groups than --jobs)" if empty else ""
    rows = sum(len(s.tasks) for s in shards)
    return (
        f"hyena-bench run {args.preset or 'custom'}: {sweep.label()}; {rows} rows as "
        f"{len(used)} {kind} job(s), estimated {costs} (max/mean {balance(shards):.2f}){note} "
        f"-> {out}"
    )


def local_gpus(kind: str, device_type: str) -> int:
    """Local jobs on CUDA each see one GPU, in turn (submitit would give every job GPU 0)."""
    if kind != "local" or device_type != "cuda":
        return 0
    import torch

    return torch.cuda.device_count()


def submit(executor: Any, job: ShardJob, gpus: int) -> None:
    if gpus:
        gpu = (job.shard.index - 1) % gpus
        executor.update_parameters(local_visible_gpus=(gpu,), gpus_per_node=1)
    argv = job.argv if not job.jobs else [*job.argv, "--resume"]
    job.jobs.append(executor.submit(run_shard, argv))
    job.state = "running"


def outcome(sent: Any) -> str | None:
    """None if the job finished its shard, else what went wrong (one line)."""
    error = sent.exception()
    if error is None:
        return None
    lines = [ln for ln in str(error).splitlines() if ln.strip()]
    last = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "")
    return f"{type(error).__name__}: {last.strip()[:300]}"


def watch(jobs: list[ShardJob], executor: Any, gpus: int, quiet: bool) -> None:
    """Wait for every job with a progress bar over jobs (and rows); resubmit a failure once."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, highlight=False)
    planned = sum(len(j.shard.tasks) for j in jobs)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet,
    ) as bar:
        job_bar = bar.add_task("jobs", total=len(jobs))
        row_bar = bar.add_task("rows", total=planned)
        while any(j.state == "running" for j in jobs):
            time.sleep(POLL_S)
            for job in jobs:
                if job.state == "running" and job.jobs[-1].done():
                    settle(job, executor, gpus, bar.console)
            bar.update(job_bar, completed=sum(j.state in ("done", "failed") for j in jobs))
            bar.update(row_bar, completed=min(planned, sum(j.rows() for j in jobs)))


def settle(job: ShardJob, executor: Any, gpus: int, console: Any) -> None:
    error = outcome(job.jobs[-1])
    name = f"shard {job.shard.label} (job {job.job_ids[-1]})"
    if error is None:
        job.state = "done"
        console.print(f"{name}: done, {job.rows()} rows", markup=False)
        return
    job.error = error
    if len(job.jobs) < ATTEMPTS:
        console.print(f"{name} failed: {error}; log {job.log}; resubmitting", markup=False)
        submit(executor, job, gpus)
        return
    job.state = "failed"
    console.print(f"{name} failed again: {error}; log {job.log}", markup=False)


def finish(
    args: argparse.Namespace,
    kind: str,
    jobs: list[ShardJob],
    shards: list[Shard],
    balance: float,
    settings: SlurmSettings,
    folder: Path,
    out: Path,
) -> int:
    """Merge the shards that wrote rows into `out`; exit 1 if a job failed twice."""
    from bench import envinfo, merge

    reasons = {
        j.shard.label: (
            f"shard {j.shard.label}: job(s) {', '.join(j.job_ids)} failed ({j.error}); log {j.log}"
        )
        for j in jobs
        if j.state == "failed"
    }
    wrote = [j.directory for j in jobs if (j.directory / "results.jsonl").exists()]
    if not wrote:
        print(f"hyena-bench run: no job wrote a row; logs in {folder}", file=sys.stderr)
        return EXIT_FAILURE
    merged, missing = merge.merge_into(
        out,
        wrote,
        shard_reasons=reasons,
        command=envinfo.command_text(getattr(args, "argv", None)),
        argv=getattr(args, "argv", None),
        executor={
            "kind": kind,
            "jobs": len(shards),
            "folder": str(folder),
            "balance": round(balance, 3),
            "slurm": settings.as_dict() if kind == "slurm" else None,
        },
        shards=[j.record() for j in jobs],
    )
    print("\n".join(merge.summary_lines(merged, missing, out)), file=sys.stderr)
    if reasons:
        return EXIT_FAILURE
    statuses = {r["status"] for r in merged.rows}
    return EXIT_NOTHING_RAN if statuses == {"skipped"} else EXIT_OK
