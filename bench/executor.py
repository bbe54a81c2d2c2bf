"""`hyena-bench run ... --executor local|slurm --jobs N`: the sweep as N balanced shards
(bench.shards), one submitit job each, then one merged run directory.

Each job calls `bench.cli.main` with the user's own arguments, less the executor's, plus `--shard
k/n --out OUT/shards/k-of-n --device TYPE --quiet`, so a job records the command it really ran.
A job that fails or is pre-empted is submitted once more with `--resume` (its finished rows are
kept); one that fails again is reported with its log. The shards are then merged into OUT
(bench.merge): its env.json names the executor, every shard's job ids and log, and the planned
rows that are missing, with the reason. The options (Slurm's included) are in
bench/executor_options.py; docs/SCALEOUT.md describes it all.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import EXIT_FAILURE, EXIT_NOTHING_RAN, EXIT_OK, UsageError
from bench.executor_options import (
    SlurmSettings,
    make_executor,
    slurm_settings,
    without_executor_options,
)

if TYPE_CHECKING:
    from bench.runner import RunOptions
    from bench.shards import Shard
    from bench.sweep import Sweep

ATTEMPTS = 2  # a failed or pre-empted job is submitted once more, with --resume
POLL_S = 1.0  # how often job states and row counts are read (submitit caches Slurm's sacct)
SHARDS_DIR = "shards"


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


def job_argv(args: argparse.Namespace, shard: Shard, directory: Path, device: str) -> list[str]:
    """The user's arguments without the executor's, then this job's shard, directory and
    device type (the one its plan was costed for)."""
    given = getattr(args, "argv", None)
    given = without_executor_options(list(sys.argv[1:] if given is None else given))
    overrides = ["--shard", shard.label, "--out", str(directory), "--device", device, "--quiet"]
    return [*given, *overrides, *(["--resume"] if args.resume else [])]


def check_shard_dirs(out: Path, resume: bool, jobs: int) -> None:
    """Refuse to write over shards, or to resume shards cut for another number of jobs."""
    found = sorted((out / SHARDS_DIR).glob("*-of-*/results.jsonl"))
    if found and not resume:
        raise UsageError(
            f"--out {out} already holds shards ({found[0].parent}); pass --resume or choose a "
            "new --out"
        )
    other = [p.parent.name for p in found if not p.parent.name.endswith(f"-of-{jobs}")]
    if other:
        raise UsageError(
            f"--out {out} holds shards of another --jobs ({other[0]}); resume with the same --jobs"
        )


def run_sharded(
    args: argparse.Namespace, kind: str, sweep: Sweep, device_type: str, opts: RunOptions
) -> int:
    """Plan the shards, send the jobs, wait for them (resubmitting a failed one once), merge."""
    from bench.shards import balance, plan, split

    out = Path(opts.out)
    check_shard_dirs(out, args.resume, args.jobs or 1)
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
        try:
            while any(j.state == "running" for j in jobs):
                time.sleep(POLL_S)
                for job in jobs:
                    if job.state == "running" and job.jobs[-1].done():
                        settle(job, executor, gpus, bar.console)
                bar.update(job_bar, completed=sum(j.state in ("done", "failed") for j in jobs))
                bar.update(row_bar, completed=min(planned, sum(j.rows() for j in jobs)))
        except KeyboardInterrupt:
            # Jobs left running would write into their shards while a later --resume sends new
            # ones to the same directories.
            running = [j for j in jobs if j.state == "running"]
            for job in running:
                job.jobs[-1].cancel(check=False)
            console.print(f"cancelled {len(running)} job(s); finish with --resume", markup=False)
            raise


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
    try:
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
    except UsageError as exc:  # e.g. jobs that landed on different GPU models
        print(
            f"hyena-bench run: the shards in {out / SHARDS_DIR} were not merged: {exc} "
            "(hyena-bench merge can, with --allow-mixed-env)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    print("\n".join(merge.summary_lines(merged, missing, out)), file=sys.stderr)
    if reasons:
        return EXIT_FAILURE
    statuses = {r["status"] for r in merged.rows}
    return EXIT_NOTHING_RAN if statuses == {"skipped"} else EXIT_OK
