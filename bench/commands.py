"""The core subcommands: `list` (the plugin table here), `env` (the environment record) and
`run` (a sweep). Argument checking happens before anything is created on disk."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import defaults, store
from bench.errors import EXIT_FAILURE, EXIT_NOTHING_RAN, EXIT_OK, UsageError
from bench.executor_options import add_executor_arguments, executor_kind
from bench.flags import add_config_flags, config_changes, listed, number, out_path
from bench.record import MAX_SAMPLES
from bench.safetext import printable
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

DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]{1,3})?")
# Positive, finite seconds or milliseconds: 0, -5 or nan would run nothing, or forever.
POSITIVE = number(float, 0, above=True)


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
        "or timeout), 1 when no worker could start or (--executor) a job failed twice, 2 on "
        "bad arguments, 3 when every row was skipped (nothing selected runs here).",
    )
    add_run_arguments(p)
    p.set_defaults(func=cmd_run)


# --- list / env --------------------------------------------------------------------------------


def resolve_device(text: str) -> torch.device:
    import torch

    from operators import capabilities

    if not DEVICE.fullmatch(text):
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
                "opt_in": registry.opt_in(spec),
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
            printable(cell)  # a plugin's names and reasons are printed, never interpreted
            for cell in (
                r["name"],
                r["family"],
                ",".join(r["levels"]),
                ",".join(r["requires"]) or "-",
                (f"yes (opt-in: {r['opt_in']})" if r["opt_in"] else "yes")
                if r["available"]
                else f"no: {r['reason']}",
            )
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


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that choose and time a sweep, shared by `run` and `ab`. The configuration
    flags come from Config's declaration (bench.flags); a flag left out keeps the preset's
    value."""
    p.add_argument(
        "--preset",
        help="a named sweep (see run --list-presets), or auto (paper on a GPU, smoke otherwise); "
        "the flags below override it (default: none: every implementation at the defaults "
        f"below, L {DEFAULT_LENGTHS})",
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
        "--timeout",
        type=POSITIVE,
        default=defaults.ROW_TIMEOUT_S,
        metavar="SECONDS",
        help="per-row limit; a row past it is status=timeout (default: %(default)g)",
    )
    p.add_argument(
        "--target-time",
        type=POSITIVE,
        metavar="SECONDS",
        help=f"measured time per row (default: the preset's, else {defaults.TARGET_S:g})",
    )
    p.add_argument(
        "--min-reps",
        type=number(int, 1, MAX_SAMPLES),
        default=defaults.MIN_REPS,
        metavar="N",
        help="timed calls per row, at least (default: %(default)s)",
    )
    p.add_argument(
        "--no-verify",
        action="store_true",
        help="skip the float64 check, not advised (default: off: every row is checked)",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar or per-row lines, only the header and the summary (default: off)",
    )


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """`run`'s flags: the sweep's (add_sweep_arguments) and the run's own."""
    add_sweep_arguments(p)
    p.add_argument(
        "--list-presets", action="store_true", help="print the presets and exit (default: off)"
    )
    p.add_argument(
        "--devices",
        help="comma-separated GPU indices: one worker per GPU, each taking whole implementation "
        "groups (cpu,cpu: two CPU workers, to test this path; default: one device)",
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
        type=POSITIVE,
        metavar="SECONDS",
        help="stop starting new rows after this long; finish later with --resume "
        "(default: no limit)",
    )
    p.add_argument(
        "--max-call-ms",
        type=POSITIVE,
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
        "--telemetry",
        action="store_true",
        help="sample GPU clocks, power, temperature and throttling during each row (default: off)",
    )
    p.add_argument(
        "--stages",
        action="store_true",
        help="also record the time of each named stage with torch.profiler (default: off)",
    )
    add_executor_arguments(p)


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
    preset = args.preset is not None
    sweep = find_preset(args.preset).for_device(device.type) if preset else DEFAULT_SWEEP
    changes: dict[str, Any] = config_changes(args, skip=("seqlen",))
    if args.ops is not None:
        changes.update(ops=listed(args.ops, "--ops"), families=())
    if args.family is not None:
        changes.update(families=listed(args.family, "--family"), ops=())
    if args.seqlens is not None:
        changes["seqlens"] = parse_seqlens(args.seqlens)
    if getattr(args, "max_call_ms", None) is not None:
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

    if args.devices is not None and set(listed(args.devices, "--devices")) == {"cpu"}:
        if device.type != "cpu":
            raise UsageError(f"--devices {args.devices}: CPU workers need --device cpu")
        return listed(args.devices, "--devices")
    if args.devices is None:
        if device.type == "cuda" and device.index is None:
            return (f"cuda:{torch.cuda.current_device()}",)
        return (str(device),)
    items = listed(args.devices, "--devices")
    if not torch.cuda.is_available():
        raise UsageError("--devices needs CUDA GPUs; none here")
    try:
        indices = [int(x) for x in items]
    except ValueError:
        raise UsageError(f"--devices {args.devices!r}: expected GPU indices like 0,1") from None
    bad = [i for i in indices if not 0 <= i < torch.cuda.device_count()]
    if bad:
        raise UsageError(
            f"--devices: no GPU {bad[0]} (this machine has {torch.cuda.device_count()})"
        )
    return tuple(f"cuda:{i}" for i in indices)


def slurm_device(args: argparse.Namespace) -> torch.device:
    """The device type Slurm jobs run on: --device cuda or cpu; auto: cuda unless
    --gpus-per-task 0."""
    import torch

    if args.device == "auto":
        return torch.device("cpu" if args.gpus_per_task == 0 else "cuda")
    if args.device not in ("cpu", "cuda"):
        raise UsageError(f"--device {args.device}: with --executor slurm, cpu or cuda")
    return torch.device(args.device)


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

    executor = executor_kind(args)
    # A Slurm job runs on another node: its device is named, not looked for here.
    device = resolve_device(args.device) if executor != "slurm" else slurm_device(args)
    if args.list_presets:
        return list_presets(device)
    try:
        sweep = sweep_from_args(args, device)
        tasks = plan(sweep, parse_shard(args.shard), device.type)
    except (ValueError, KeyError) as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    if sweep.base.dtype == "bf16" and not capabilities.dtype_runs("bf16", device):
        raise UsageError(f"--dtype bf16 does not run on {device} (needs compute capability 8.0)")
    if args.cuda_graph and device.type != "cuda":
        raise UsageError("--cuda-graph needs a CUDA device")
    if executor != "none" and (args.shard or args.devices):
        raise UsageError(f"--executor {executor} makes its own shards; drop --shard and --devices")
    try:
        allocator.chosen()
    except allocator.AllocatorError as exc:
        raise UsageError(str(exc)) from None
    devices = parse_devices(args, device) if executor != "slurm" else (device.type,)
    if args.telemetry:
        from bench.telemetry import unavailable_message

        if line := unavailable_message(device):
            print(line, file=sys.stderr)  # the run goes on without telemetry
    out = out_path(args.out) or Path(
        f"runs/{args.preset or 'custom'}-{envinfo.now()[:19].replace(':', '')}"
    )
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
        env_extra={
            "preset": args.preset,
            "sweep": sweep.as_dict(),
            "shard": args.shard,
            "command": envinfo.command_text(getattr(args, "argv", None)),
            "argv": getattr(args, "argv", None),
        },
    )
    if executor != "none":
        from bench.executor import run_sharded

        return run_sharded(args, executor, sweep, device.type, opts)
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
