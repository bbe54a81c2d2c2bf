"""The core subcommands: `list` (the plugin table here), `env` (the environment record) and
`run` (a sweep). Argument checking happens before anything is created on disk."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import defaults, store
from bench.errors import EXIT_FAILURE, EXIT_NOTHING_RAN, EXIT_OK, UsageError
from bench.flags import add_config_flags, config_changes
from bench.sweep import (
    DEFAULT_LENGTHS,
    DEFAULT_SWEEP,
    PRESETS,
    Sweep,
    find_preset,
    parse_seqlens,
    validate,
)
from operators.config import FAMILIES

if TYPE_CHECKING:  # the command line is built without importing torch; commands import it
    import torch


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="implementations in the plugin table and whether they run here")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("env", help="print the environment record (what env.json holds)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser(
        "run",
        help="measure implementations over sequence length",
        description="Measure implementations over sequence length; each row is written as it "
        "finishes. Exit 0 when the sweep is done (rows that failed are recorded as oom, error "
        "or timeout), 1 when no worker could start, 2 on bad arguments, 3 when every row was "
        "skipped (nothing selected runs here).",
    )
    add_run_arguments(p)
    p.set_defaults(func=cmd_run)


# --- list / env --------------------------------------------------------------------------------


def resolve_device(text: str) -> torch.device:
    import torch

    from operators import capabilities

    if text not in ("auto", "cpu", "cuda") and not text.startswith("cuda:"):
        raise UsageError(f"unknown device {text!r} (auto, cpu, cuda or cuda:N)")
    device = capabilities.resolve_device(text)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {text}: no CUDA device here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {text}: only {torch.cuda.device_count()} CUDA device(s)")
    return device


def list_rows(device: torch.device) -> list[dict[str, Any]]:
    from operators import registry

    rows = []
    for spec in registry.specs():
        availability = spec.available(device)
        rows.append(
            {
                "name": spec.name,
                "family": spec.family,
                "levels": list(spec.levels),
                "requires": list(spec.requires),
                "available": availability.ok,
                "reason": availability.reason,
                "detail": spec.detail,
                "source": spec.source,
            }
        )
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    device = resolve_device(args.device)
    rows = list_rows(device)
    if args.json:
        print(json.dumps({"device": str(device), "operators": rows}, indent=2))
        return 0
    table = [
        [
            r["name"],
            r["family"],
            ",".join(r["levels"]),
            ",".join(r["requires"]) or "-",
            "yes" if r["available"] else f"no: {r['reason']}",
        ]
        for r in rows
    ]
    print(f"device: {device}")
    print(tabulate(table, headers=["name", "family", "levels", "requires", "available here"]))
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from bench import envinfo

    print(json.dumps(envinfo.collect(resolve_device(args.device)), indent=2, default=str))
    return 0


# --- run ---------------------------------------------------------------------------------------


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """`run`'s flags. The configuration flags come from Config's declaration (bench.flags); a
    flag left out keeps the preset's value."""
    p.add_argument(
        "--preset",
        help="a named sweep (see --list-presets), or auto (paper on a GPU, smoke otherwise); "
        "the flags below override it (default: none: every implementation at the defaults "
        f"below, L {DEFAULT_LENGTHS})",
    )
    p.add_argument(
        "--list-presets", action="store_true", help="print the presets and exit (default: off)"
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--ops",
        help="comma-separated implementation names, see `hyena-bench list` "
        "(default: the preset's, else all)",
    )
    which.add_argument(
        "--family",
        help=f"comma-separated families: {', '.join(FAMILIES)} (default: the preset's, else all)",
    )
    p.add_argument(
        "--seqlens",
        help="sequence lengths: 1k..64k (powers of two) or 1024,2048,3000 "
        f"(default: the preset's, else {DEFAULT_LENGTHS})",
    )
    add_config_flags(p, skip=("seqlen",), default_text="the preset's, else {default}")
    p.add_argument(
        "--device", default="auto", help="auto (CUDA if present), cpu or cuda (default: auto)"
    )
    p.add_argument(
        "--devices", help="comma-separated GPU indices: one worker per GPU (default: one device)"
    )
    p.add_argument("--out", help="run directory (default: runs/<preset>-<time>)")
    p.add_argument(
        "--resume", action="store_true", help="skip rows already in --out (default: off)"
    )
    p.add_argument(
        "--shard",
        help="k/n: run the k-th of n deterministic parts of the sweep (default: all of it)",
    )
    p.add_argument(
        "--cuda-graph", action="store_true", help="time CUDA-graph replays (default: off)"
    )
    p.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="stop starting new rows after this long; finish later with --resume "
        "(default: no limit)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=defaults.ROW_TIMEOUT_S,
        metavar="SECONDS",
        help="per-row limit; a row past it is status=timeout (default: %(default)g)",
    )
    p.add_argument(
        "--target-time",
        type=float,
        metavar="SECONDS",
        help=f"measured time per row (default: the preset's, else {defaults.TARGET_S:g})",
    )
    p.add_argument(
        "--min-reps",
        type=int,
        default=defaults.MIN_REPS,
        metavar="N",
        help="timed calls per row, at least (default: %(default)s)",
    )
    p.add_argument(
        "--max-call-ms",
        type=float,
        metavar="MS",
        help="a call slower than this skips that implementation's longer lengths "
        "(default: the preset's, else no limit)",
    )
    p.add_argument(
        "--no-oom-skip",
        action="store_true",
        help="keep running longer lengths after an OOM (default: off: they are skipped)",
    )
    p.add_argument(
        "--no-verify",
        action="store_true",
        help="skip the float64 check, not advised (default: off: every row is checked)",
    )
    p.add_argument(
        "--telemetry",
        action="store_true",
        help="sample GPU clocks, power, temperature and throttling during each row (default: off)",
    )
    p.add_argument(
        "--stages",
        action="store_true",
        help="also record the time of each named stage with torch.profiler (default: off)",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar or per-row lines, only the header and the summary (default: off)",
    )


def list_presets(device: torch.device) -> int:
    for preset in PRESETS.values():
        sweep = preset.for_device(device.type)
        print(f"{preset.name}: {preset.description}")
        print(
            f"    on {device.type}: {sweep.label()} L={','.join(map(str, sweep.seqlens))}"
            f" ops={','.join(sweep.ops) or 'all'}"
        )
    return 0


def sweep_from_args(args: argparse.Namespace, device: torch.device) -> Sweep:
    if args.preset == "auto":  # the README's main job: the paper's setup on a GPU, else smoke
        args.preset = "paper" if device.type == "cuda" else "smoke"
    sweep = find_preset(args.preset).for_device(device.type) if args.preset else DEFAULT_SWEEP
    changes: dict[str, Any] = config_changes(args, skip=("seqlen",))
    if args.ops:
        changes.update(ops=tuple(o.strip() for o in args.ops.split(",") if o.strip()), families=())
    if args.family:
        changes.update(families=tuple(f.strip() for f in args.family.split(",")), ops=())
    if args.seqlens:
        changes["seqlens"] = parse_seqlens(args.seqlens)
    if args.max_call_ms is not None:
        changes["max_call_ms"] = args.max_call_ms
    if args.target_time is not None:
        changes["target_s"] = args.target_time
    return validate(sweep.replace(**changes))


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected k/n, e.g. 1/4") from None
    if not 1 <= k <= n:
        raise UsageError(f"--shard {text}: need 1 <= k <= n")
    return k, n


def parse_devices(args: argparse.Namespace, device: torch.device) -> tuple[str, ...]:
    import torch

    if not args.devices:
        if device.type == "cuda" and device.index is None:
            return (f"cuda:{torch.cuda.current_device()}",)
        return (str(device),)
    if not torch.cuda.is_available():
        raise UsageError("--devices needs CUDA GPUs; none here")
    try:
        indices = [int(x) for x in args.devices.split(",")]
    except ValueError:
        raise UsageError(f"--devices {args.devices!r}: expected GPU indices like 0,1") from None
    bad = [i for i in indices if not 0 <= i < torch.cuda.device_count()]
    if bad:
        raise UsageError(
            f"--devices: no GPU {bad[0]} (this machine has {torch.cuda.device_count()})"
        )
    return tuple(f"cuda:{i}" for i in indices)


def check_out(out: Path, resume: bool) -> None:
    """Refuse an unwritable --out, or one holding results without --resume, before creating it."""
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UsageError(f"--out {out}: {probe} is not a writable directory")
    if (out / store.RESULTS_FILE).exists() and not resume:
        raise UsageError(f"--out {out} already holds results; pass --resume or choose a new --out")


def cmd_run(args: argparse.Namespace) -> int:
    from bench import allocator, envinfo
    from bench.progress import Progress
    from bench.runner import Runner, RunOptions, WorkerStartError, plan
    from bench.timing import TimingOptions
    from bench.verification import BUDGET_SHARE_OF_TIMEOUT
    from bench.worker import MeasureOptions
    from operators import capabilities

    device = resolve_device(args.device)
    if args.list_presets:
        return list_presets(device)
    try:
        sweep = sweep_from_args(args, device)
        tasks = plan(sweep, parse_shard(args.shard))
    except (ValueError, KeyError) as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    if sweep.base.dtype == "bf16" and not capabilities.dtype_runs("bf16", device):
        raise UsageError(f"--dtype bf16 does not run on {device} (needs compute capability 8.0)")
    if args.cuda_graph and device.type != "cuda":
        raise UsageError("--cuda-graph needs a CUDA device")
    try:
        allocator.chosen()
    except allocator.AllocatorError as exc:
        raise UsageError(str(exc)) from None
    devices = parse_devices(args, device)
    if args.telemetry:
        from bench.telemetry import unavailable_message

        if line := unavailable_message(device):
            print(line, file=sys.stderr)  # the run goes on without telemetry
    out = Path(args.out or f"runs/{args.preset or 'custom'}-{envinfo.now()[:19].replace(':', '')}")
    check_out(out, args.resume)
    timing = TimingOptions(
        target_s=sweep.target_s if sweep.target_s is not None else defaults.TARGET_S,
        min_reps=args.min_reps,
        cuda_graph=args.cuda_graph,
    )
    opts = RunOptions(
        out=out,
        devices=devices,
        resume=args.resume,
        shard=parse_shard(args.shard),
        timeout_s=args.timeout,
        time_budget_s=args.time_budget,
        oom_skip=not args.no_oom_skip,
        measure=MeasureOptions(
            timing=timing,
            verify=not args.no_verify,
            telemetry=args.telemetry,
            stages=args.stages,
            verify_budget_s=args.timeout * BUDGET_SHARE_OF_TIMEOUT,  # the check leaves the rest
        ),
        env_extra={"preset": args.preset, "sweep": sweep.as_dict(), "shard": args.shard},
    )
    print(run_header(args.preset, sweep, devices, tasks, out), file=sys.stderr)
    try:
        with Progress(quiet=args.quiet) as progress:
            summary = Runner(tasks, opts, on_row=progress.row).run(max_call_ms=sweep.max_call_ms)
    except WorkerStartError as exc:
        print(f"hyena-bench: error: {exc}; no rows were measured", file=sys.stderr)
        return EXIT_FAILURE
    progress.summary(summary, out)
    if summary["rows"] and summary["counts"].get("skipped") == summary["rows"]:
        print(
            f"hyena-bench run: nothing was measured: every row was skipped on {devices[0]} "
            f"(exit {EXIT_NOTHING_RAN}); `hyena-bench list` says what runs here",
            file=sys.stderr,
        )
        return EXIT_NOTHING_RAN
    return EXIT_OK


def run_header(
    preset: str | None, sweep: Sweep, devices: tuple[str, ...], tasks: list, out: Path
) -> str:
    """The one line before the rows: the configuration, where it runs, how many rows."""
    import torch

    if devices[0].startswith("cuda"):
        where = f"{', '.join(devices)} ({torch.cuda.get_device_name(devices[0])})"
    else:
        where = f"{devices[0]} ({torch.get_num_threads()} threads)"
    ops, lengths = len(dict.fromkeys(t.op for t in tasks)), len(sweep.seqlens)
    return (
        f"hyena-bench run {preset or 'custom'}: {sweep.label()} on {where}; "
        f"{plural(ops, 'implementation')} x {plural(lengths, 'length')} = "
        f"{plural(len(tasks), 'row')} -> {out}"
    )


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
