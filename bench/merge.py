"""Several run directories as one: the shards of a sweep, merged into one run directory
(`hyena-bench merge`, and `run --executor` after its jobs), or read as one side of `compare`.

Runs merge only if they come from the same environment (bench.compare's identity: device, torch,
triton, flash-attn, and the CPU thread count on a CPU), unless the caller allows mixing; a
configuration measured in two of them is refused, not silently picked. The merged env.json keeps
the environment, lists the runs it came from (`merged_from`: directory, run id, shard, job,
host, times) and the rows the sweep planned that none of them holds, each with the reason
(`missing_rows`).

Imports stay light (no torch): `hyena-bench --help` loads this module; finding missing rows
re-plans the sweep and imports the plugin table then.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.compare_render import label
from bench.errors import EXIT_OK, UsageError
from bench.record import Row, row_key, to_json
from bench.store import ENV_FILE, RESULTS_FILE, ResultsError, read_env, read_rows, write_json_atomic

# env.json fields that belong to one run, not to the merged one: they move into `merged_from`.
PER_RUN = (
    "run_id",
    "command",
    "argv",
    "job",
    "shard",
    "started_at",
    "finished_at",
    "resumes",
    "hostname",
    "nvml",
    "missing_rows",
    "merged_from",
    "ceilings",  # measured by each shard on its own device: kept per shard in merged_from
)

NOT_LISTED = ("merged_from", "missing_rows", "nvml")  # per-run fields merged_from leaves out


@dataclass
class Merged:
    """Rows of several runs, the merged environment record and what reading them noticed."""

    rows: list[Row]
    env: dict[str, Any]
    directories: tuple[Path, ...]
    envs: tuple[dict[str, Any], ...]
    notes: list[str] = field(default_factory=list)


def identity_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What makes two runs incomparable, as `name: a vs b` (compare's rule)."""
    from bench.compare import env_differences  # compare imports this module

    return env_differences(a, b)


def read_runs(
    directories: Sequence[Path | str],
    allow_mixed_env: bool = False,
    side: str = "",
    hint: str = "; pass --allow-mixed-env to merge them anyway",
) -> Merged:
    """Rows and environments of `directories`, checked to be one environment with no
    configuration twice; a problem is a one-line UsageError (prefixed with `side`)."""
    prefix = f"{side}: " if side else ""
    dirs = tuple(Path(d) for d in directories)
    if not dirs:
        raise UsageError(f"{prefix}no run directory given")
    rows: list[Row] = []
    envs: list[dict[str, Any]] = []
    notes: list[str] = []
    seen: dict[tuple[Any, ...], Path] = {}
    for directory in dirs:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                these, env = read_rows(directory), read_env(directory)
            except ResultsError as exc:
                raise UsageError(f"{prefix}{exc}") from None
        notes += [f"{prefix}{w.message}" for w in caught]
        differences = identity_differences(envs[0], env) if envs else []
        if differences and not allow_mixed_env:
            raise UsageError(
                f"{prefix}{dirs[0]} and {directory} come from different environments "
                f"({'; '.join(differences)}){hint}"
            )
        if differences:
            notes.append(f"{prefix}{directory}: another environment ({'; '.join(differences)})")
        for row in these:
            key = row_key(row)
            if key in seen:
                where = directory if seen[key] == directory else f"{seen[key]} and {directory}"
                raise UsageError(f"{prefix}two rows for {label(key)} ({where})")
            seen[key] = directory
        rows += these
        envs.append(env)
    env = envs[0] if len(envs) == 1 else merged_env(dirs, envs, rows)
    return Merged(rows, env, dirs, tuple(envs), notes)


def read_side(text: str, side: str) -> Merged:
    """One side of compare: a run directory, or several joined by commas (shards of a sweep)."""
    parts = [part for part in text.split(",") if part]
    return read_runs(parts, side=side, hint="; one side's runs must come from one environment")


def merged_env(
    dirs: Sequence[Path], envs: Sequence[dict[str, Any]], rows: Sequence[Row]
) -> dict[str, Any]:
    """The first run's environment without its per-run fields, plus where the rows came from."""
    env = {k: v for k, v in envs[0].items() if k not in PER_RUN}
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["run_id"]] = counts.get(row["run_id"], 0) + 1
    started = [e["started_at"] for e in envs if e.get("started_at")]
    finished = [e.get("finished_at") for e in envs]
    env.update(
        run_id=f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}",
        started_at=min(started) if started else None,
        finished_at=None if None in finished else max(finished),
        merged_from=[
            {
                "directory": str(d),
                **{k: e.get(k) for k in PER_RUN if k not in NOT_LISTED},
                "rows": counts.get(e.get("run_id"), 0),
            }
            for d, e in zip(dirs, envs, strict=True)
        ],
    )
    return env


# --- rows the sweep planned that no run holds ----------------------------------------------------


def missing_rows(
    envs: Sequence[dict[str, Any]], rows: Sequence[Row], shard_reasons: dict[str, str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows the runs' sweeps planned that `rows` lacks, each with why: its shard's reason in
    `shard_reasons` ("k/n" -> text), else "not among the merged directories" for a shard none of
    them ran, else "not measured in shard k/n". Notes say what could not be checked."""
    from bench.shards import plan, split
    from bench.sweep import Sweep

    present = {row_key(r) for r in rows}
    sweeps: dict[str, tuple[Sweep, str, int, set[str]]] = {}
    notes: list[str] = []
    for env in envs:
        try:
            sweep = Sweep.from_dict(env["sweep"])
        except (KeyError, TypeError, ValueError):
            notes.append(
                f"run {env.get('run_id')}: env.json has no sweep; its missing rows unknown"
            )
            continue
        device_type = str((env.get("device") or {}).get("type") or "cpu")
        shard = str(env.get("shard") or "1/1")
        count = int(shard.split("/")[1])
        key = repr((sweep, device_type, count))
        sweeps.setdefault(key, (sweep, device_type, count, set()))[3].add(shard)
    missing: list[dict[str, Any]] = []
    for sweep, device_type, count, shards_ran in sweeps.values():
        try:
            tasks = plan(sweep, None, device_type)
        except (KeyError, ValueError) as exc:
            notes.append(f"cannot re-plan a sweep to find its missing rows ({exc})")
            continue
        shard_of = {(t.op, t.config): "1/1" for t in tasks}
        if count > 1:
            for s in split(tasks, count, sweep, device_type):
                shard_of.update({(t.op, t.config): s.label for t in s.tasks})
        for task in tasks:
            if row_key(task.key_row()) in present:
                continue
            label = shard_of[(task.op, task.config)]
            if label in shard_reasons:
                reason = shard_reasons[label]
            elif label not in shards_ran:
                reason = f"shard {label} is not among the merged directories"
            else:
                reason = f"not measured in shard {label} (time budget or an interrupted run)"
            missing.append({**task.key_row(), "shard": label, "reason": reason})
    return missing, notes


# --- writing -------------------------------------------------------------------------------------


def write_run(out: Path, rows: Sequence[Row], env: dict[str, Any]) -> None:
    """A run directory holding `rows` and `env`; results.jsonl is replaced whole (written beside
    it, then renamed), so a reader never sees half of it."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (RESULTS_FILE + ".tmp")
    with open(tmp, "w") as f:
        for row in rows:
            f.write(to_json(row) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out / RESULTS_FILE)
    write_json_atomic(out / ENV_FILE, env)


def merge_into(
    out: Path,
    directories: Sequence[Path],
    allow_mixed_env: bool = False,
    shard_reasons: dict[str, str] | None = None,
    **env_extra: Any,
) -> tuple[Merged, list[dict[str, Any]]]:
    """Merge `directories` into the run directory `out`; returns what was merged and the
    missing rows (also in its env.json)."""
    merged = read_runs(directories, allow_mixed_env)
    if len(directories) == 1:
        merged.env = merged_env(merged.directories, merged.envs, merged.rows)
    missing, notes = missing_rows(merged.envs, merged.rows, shard_reasons or {})
    merged.notes += notes
    merged.env.update(env_extra, missing_rows=missing)
    write_run(out, merged.rows, merged.env)
    return merged, missing


def summary_lines(merged: Merged, missing: Sequence[dict[str, Any]], out: Path) -> list[str]:
    lines = [f"merged {len(merged.rows)} rows from {len(merged.directories)} run(s) -> {out}"]
    if missing:
        lines.append(f"{len(missing)} planned rows are missing (listed in {out / ENV_FILE}):")
        reasons: dict[str, int] = {}
        for m in missing:
            reasons[m["reason"]] = reasons.get(m["reason"], 0) + 1
        lines += [f"  {n} rows: {reason}" for reason, n in reasons.items()]
    return lines + [f"note: {n}" for n in merged.notes]


# --- the command ---------------------------------------------------------------------------------


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "merge",
        help="merge run directories (shards of one sweep) into one",
        description="Merge run directories made by shards of one sweep (--shard k/n) into one "
        "run directory: same environment, no configuration twice. Its env.json lists the runs "
        "merged and the planned rows none of them holds, with the reason. Exit 0 when merged, "
        "2 on unusable input (mixed environments, a configuration in two runs).",
    )
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="run directories")
    p.add_argument("--out", type=Path, required=True, help="the merged run directory (new)")
    p.add_argument(
        "--allow-mixed-env",
        action="store_true",
        help="merge runs from different devices or library versions (default: refuse)",
    )
    p.set_defaults(func=cmd_merge)


def cmd_merge(args: argparse.Namespace) -> int:
    from bench import envinfo

    out: Path = args.out
    if (out / RESULTS_FILE).exists():
        raise UsageError(f"--out {out} already holds results; choose a new directory")
    if out.resolve() in {Path(d).resolve() for d in args.dirs}:
        raise UsageError(f"--out {out} is one of the directories to merge")
    argv = getattr(args, "argv", None)
    merged, missing = merge_into(
        out,
        args.dirs,
        args.allow_mixed_env,
        command=envinfo.command_text(argv),
        argv=argv,
    )
    print("\n".join(summary_lines(merged, missing, out)), file=sys.stderr)
    return EXIT_OK
