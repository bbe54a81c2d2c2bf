"""`hyena-bench ab`: is NEW slower than BASE, measured side by side? Both sides run in the same
time window, alternating in small blocks of calls row by row (bench.ab_runner), so a busy
machine slows both alike; the decision pairs the blocks (bench.evidence) and controls the
false-alarm rate per sweep (bench.comparison: Holm across rows, plus the geometric mean).

Sides: --base/--new name a git revision (checked out into a temporary worktree) or another
checkout's directory, default this checkout; --base-op/--new-op compare two implementations.
Only `operators` comes from a side: the harness (this checkout's bench: runner, timer,
statistics) measures both. Writes DIR/base and DIR/new (ordinary run directories) and
DIR/decision.{txt,json}; exits like `compare`: 0 no regression, 1 regression, 2 unusable input
(3: nothing measured on either side).

Imports here stay light (no torch, scipy): `hyena-bench --help` loads this module.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.compare import load_run, parse_threshold
from bench.compare_render import RENDERERS, label
from bench.comparison import METRICS, Metric, Report, Run, compare, two_run_evidence
from bench.errors import EXIT_NOTHING_RAN, UsageError
from bench.record import KEY_FIELDS, row_key

# The smallest change that counts, by device type. cpu: interleaving cancels the load drift that
# forces `compare` to 25% on a shared CPU; the A/A false alarms and the smallest slowdown caught
# at 5% on the shared 2-core CPU are in reports/baselines/README.md. cuda: compare's 5%, which two
# separate H200 runs already held (< 1% A/A change); ab on a GPU is not measured yet.
AB_THRESHOLDS = {"cuda": 0.05, "cpu": 0.05}
# Block pairs per row: 20 pairs give the bootstrap of the per-pair ratios 20 independent-ish
# values (a nominal 95% interval held the truth in 92-95% of simulated rows, coverage_study.py),
# and leave each block a few calls at the smoke preset's 0.15 s per row.
DEFAULT_BLOCKS = 20
MIN_BLOCKS = 6  # fewer pairs cannot reach Holm's p-values for a sweep of a few rows


def add_commands(sub: argparse._SubParsersAction) -> None:
    from bench.commands import add_sweep_arguments

    p = sub.add_parser(
        "ab",
        help="interleaved A/B speed check of two revisions or implementations; exit 1 if NEW "
        "is slower",
        description="Measure BASE and NEW side by side, alternating in small blocks of calls "
        "row by row, and decide whether NEW is slower. Only `operators` comes from each side; "
        "this checkout's harness measures both. Exit 0 no regression, 1 regression, 2 bad "
        "arguments or a side that cannot be measured, 3 nothing measured.",
    )
    p.add_argument(
        "--base",
        metavar="REV|DIR",
        help="git revision or checkout directory (default: this checkout)",
    )
    p.add_argument(
        "--new",
        metavar="REV|DIR",
        help="git revision or checkout directory (default: this checkout)",
    )
    p.add_argument(
        "--base-op",
        metavar="OPS",
        help="BASE's implementations, comma-separated; "
        "with --new-op: compare implementations (default: the sweep's on both sides)",
    )
    p.add_argument(
        "--new-op", metavar="OPS", help="NEW's implementations, paired with --base-op by position"
    )
    defaults = ", ".join(f"{v * 100:g}%% on {k}" for k, v in AB_THRESHOLDS.items())
    p.add_argument(
        "--threshold", help=f"smallest slowdown that counts, e.g. 5%% (default: {defaults})"
    )
    p.add_argument(
        "--blocks",
        type=int,
        default=DEFAULT_BLOCKS,
        metavar="N",
        help="block pairs per row (default: %(default)s)",
    )
    p.add_argument("--out", help="output directory (default: runs/ab-<time>)")
    p.add_argument("--format", choices=tuple(RENDERERS), default="text")
    add_sweep_arguments(p)
    p.set_defaults(func=cmd_ab)


def interleaved_evidence(base: dict, new: dict, metric: Metric) -> Any:
    """ab's evidence: the rows' samples cut into their blocks and paired block by block."""
    from bench import evidence

    if metric.samples is None:
        return two_run_evidence(base, new, metric)
    if base.get("block_calls") is None or new.get("block_calls") is None:
        return None
    a = evidence.split_blocks(base["samples_ms"], base["block_calls"])
    b = evidence.split_blocks(new["samples_ms"], new["block_calls"])
    return evidence.interleaved(a, b) if len(a) == len(b) else None


def rekeyed(run: Run, pairs: dict[str, str]) -> Run:
    """NEW's rows keyed by the BASE implementation they stand against (--base-op/--new-op)."""
    back = {new: base for base, new in pairs.items()}
    op = KEY_FIELDS.index("op")
    rows = {}
    for key, row in run.rows.items():
        k = list(key)
        k[op] = back.get(k[op], k[op])
        rows[tuple(k)] = row
    return Run(run.directory, run.env, rows)


def decide(out: Path, pairs: dict[str, str], threshold: float, notes: list[str]) -> Report:
    """The decision over DIR/base and DIR/new (pairs: --base-op/--new-op, NEW's op by BASE's)."""
    base, base_notes = load_run(str(out / "base"), "BASE")
    new, new_notes = load_run(str(out / "new"), "NEW")
    new = rekeyed(new, pairs)
    return compare(
        base,
        new,
        METRICS["latency"],
        threshold,
        [],
        [*notes, *base_notes, *new_notes],
        evidence_of=interleaved_evidence,
        design="interleaved",
    )


def side_notes(sides: tuple[Any, Any]) -> list[str]:
    from bench.ab_sides import HARNESS_ROOT
    from bench.gitrepo import commit_of

    commit, dirty = commit_of(HARNESS_ROOT)
    harness = f"{HARNESS_ROOT}" + (f", commit {commit[:12]}" if commit else "")
    notes = [s.describe() for s in sides]
    notes.append(
        f"both sides measured by this checkout's harness (bench: runner, timer, statistics; "
        f"{harness}{' with uncommitted changes' if dirty else ''}); each side's implementations "
        f"come from its own operators package"
    )
    notes += [f"NEW runs {n} where BASE runs {b}" for b, n in sides[1].ops.items()]
    if sides[0].root == sides[1].root and not sides[1].ops:
        notes.append(
            "BASE and NEW are the same code: an A/A run (what the gate's noise alone does)"
        )
    return notes


def check_args(args: argparse.Namespace) -> tuple[float | None, dict[str, str]]:
    from bench.ab_sides import op_pairs

    threshold = parse_threshold(args.threshold) if args.threshold is not None else None
    if args.blocks < MIN_BLOCKS:
        raise UsageError(f"--blocks {args.blocks}: at least {MIN_BLOCKS} block pairs per row")
    pairs = op_pairs(args.base_op, args.new_op)
    if pairs and (args.ops or args.family):
        raise UsageError("--base-op/--new-op choose the implementations; leave out --ops/--family")
    if pairs:
        args.ops = ",".join(pairs)
    return threshold, pairs


def plan_tasks(args: argparse.Namespace, pairs: dict[str, str], device: Any) -> tuple[Any, list]:
    from bench.commands import sweep_from_args
    from bench.runner import plan
    from operators import registry

    try:
        sweep = sweep_from_args(args, device)
        tasks = plan(sweep)
        for op in pairs.values():
            registry.get(op)
    except (ValueError, KeyError) as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    return sweep, tasks


def output_dir(args: argparse.Namespace) -> Path:
    from bench import envinfo
    from bench.commands import check_out

    out = Path(args.out or f"runs/ab-{envinfo.now()[:19].replace(':', '')}")
    for side in ("base", "new"):
        check_out(out / side, resume=False)
    return out


def cmd_ab(args: argparse.Namespace) -> int:
    from bench import ab_sides

    threshold, pairs = check_args(args)  # before git and torch: a typo answers at once
    with (
        tempfile.TemporaryDirectory(prefix="hyena-bench-ab-") as tmp,
        ab_sides.sides(args.base, args.new, pairs, Path(tmp), Path.cwd()) as sides,
    ):
        out, threshold = measure(args, sides, pairs, threshold)
    notes = side_notes(sides)
    report = decide(out, pairs, threshold, notes)
    (out / "decision.json").write_text(RENDERERS["json"](report, "json") + "\n")
    (out / "decision.txt").write_text(RENDERERS["text"](report, "text") + "\n")
    print(RENDERERS[args.format](report, args.format))
    if not report.outcomes:
        print("hyena-bench ab: nothing was measured on either side", file=sys.stderr)
        return EXIT_NOTHING_RAN
    return report.exit_status


def measure(
    args: argparse.Namespace, sides: tuple[Any, Any], pairs: dict[str, str], threshold: float | None
) -> tuple[Path, float]:
    """Run the interleaved sweep into DIR/base and DIR/new; returns DIR and the threshold."""
    from bench import ab_runner, defaults
    from bench.commands import resolve_device
    from bench.timing import TimingOptions

    device = resolve_device(args.device)
    sweep, tasks = plan_tasks(args, pairs, device)
    out = output_dir(args)
    if threshold is None:
        threshold = AB_THRESHOLDS.get(device.type, AB_THRESHOLDS["cpu"])
    device_name = str(device) if device.type == "cpu" or device.index is not None else "cuda:0"
    timing = TimingOptions(
        target_s=sweep.target_s if sweep.target_s is not None else defaults.TARGET_S,
        min_reps=args.min_reps,
    )
    opts = ab_runner.AbOptions(
        out=out,
        device=device_name,
        blocks=args.blocks,
        timing=timing,
        timeout_s=args.timeout,
        verify=not args.no_verify,
        env_extra={"preset": args.preset, "sweep": sweep.as_dict()},
    )
    print(
        f"hyena-bench ab: {sweep.label()} on {device_name}; {len(tasks)} rows x "
        f"{args.blocks} block pairs -> {out}",
        file=sys.stderr,
    )
    for line in side_notes(sides):
        print(f"  {line}", file=sys.stderr)
    progress = None if args.quiet else print_row
    try:
        ab_runner.Interleaver(sides, opts, on_row=progress).run(tasks)
    except ab_runner.WorkerStartError as exc:
        raise UsageError(str(exc)) from None
    return out, threshold


def print_row(rows: list[dict[str, Any]], done: int, total: int) -> None:
    base, new = rows
    if base["status"] == new["status"] == "ok":
        change = new["latency_ms_median"] / base["latency_ms_median"] - 1
        what = (
            f"BASE {base['latency_ms_median']:.4g} ms, NEW {new['latency_ms_median']:.4g} ms "
            f"({change * 100:+.1f}%, medians)"
        )
    else:
        what = f"BASE {base['status']}, NEW {new['status']}: {base['reason'] or new['reason']}"
    print(f"[{done}/{total}] {label(row_key(base))}: {what}", file=sys.stderr)
