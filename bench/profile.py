"""`hyena-bench profile OP --seqlen L`: where the time goes inside one operator. Writes a
Chrome/Perfetto trace, and prints (and writes as CSV) the top kernels or ops and a per-stage table.

Measuring is bench.stages (shared with `run --stages`); this module checks the request, derives
the tables from the profiler's events and renders them.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch.autograd import DeviceType
from torch.autograd.profiler_util import MEMORY_EVENT_NAME, OUT_OF_MEMORY_EVENT_NAME

from bench import envinfo
from bench.commands import check_out, resolve_device
from bench.errors import UsageError
from bench.stages import STEP_RANGE, Event, StepTimes, profile_case, step_times
from bench.sweep import size
from bench.timing import WARMUP_CALLS
from bench.worker import is_oom, one_line
from operators import registry
from operators.config import DTYPES, LEVELS, MODES, Config

PROFILE_REPS = 5  # profiled calls: a median per stage, and a trace small enough to open
TOP_KERNELS = 15  # rows of the kernel table shown (the CSV keeps all)
NAME_WIDTH = 90  # kernel names (templated CUDA kernels) are cut to this width when printed
OUTSIDE = "(outside stages)"  # the row for time in no named stage
TRACE_FILE, KERNELS_FILE, STAGES_FILE = "trace.json", "kernels.csv", "stages.csv"
NOT_OPS = (MEMORY_EVENT_NAME, OUT_OF_MEMORY_EVENT_NAME)  # allocation markers, not work
VIEWER = "https://ui.perfetto.dev"
MS_FORMAT = "{:.3f}"  # times in ms, to the microsecond
CELL_FORMATS = {"share": "{:.1%}", "calls": "{:g}", "ranges": "{:g}"}


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile", help="trace one implementation: top kernels and time per named stage"
    )
    p.add_argument("op", help="implementation name (see `hyena-bench list`)")
    p.add_argument("--seqlen", required=True, help="sequence length, e.g. 4096 or 4k")
    defaults = Config()
    p.add_argument("--batch", type=int, default=defaults.batch)
    p.add_argument("--d-model", type=int, default=defaults.d_model)
    p.add_argument("--heads", type=int, default=defaults.heads)
    p.add_argument("--order", type=int, default=defaults.order, help="Hyena order")
    p.add_argument("--dtype", choices=[d for d in DTYPES if d != "fp64"], default=defaults.dtype)
    p.add_argument("--mode", choices=MODES, default=defaults.mode)
    p.add_argument("--level", choices=LEVELS, default=defaults.level)
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    p.add_argument("--out", help="output directory (default: runs/profile-<op>-L<seqlen>-<time>)")
    p.add_argument("--reps", type=int, default=PROFILE_REPS, help="profiled calls")
    p.add_argument("--top", type=int, default=TOP_KERNELS, help="kernel-table rows to print")
    p.add_argument(
        "--nvtx-only",
        action="store_true",
        help="for running under Nsight Systems/Compute: the calls with their NVTX ranges only, "
        "no torch.profiler (CUPTI serves one profiler at a time), no trace or tables",
    )
    p.set_defaults(func=cmd_profile)


# --- request -----------------------------------------------------------------------------------


def config_from_args(args: argparse.Namespace) -> Config:
    try:
        seqlen = size(args.seqlen)
    except ValueError as exc:
        raise UsageError(f"--seqlen: {exc}") from None
    return Config(
        batch=args.batch,
        seqlen=seqlen,
        d_model=args.d_model,
        heads=args.heads,
        order=args.order,
        dtype=args.dtype,
        mode=args.mode,
        level=args.level,
    )


def check_request(op: str, config: Config, device: torch.device) -> registry.OperatorSpec:
    """The implementation to profile, or a UsageError saying why it cannot run here."""
    try:
        spec = registry.get(op)
    except KeyError as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    why = spec.supports(config, device)
    if why:
        raise UsageError(f"{op} cannot run {config.level} L={config.seqlen} on {device}: {why}")
    return spec


def prepare_out(text: str | None, op: str, config: Config) -> Path:
    stamp = envinfo.now()[:19].replace(":", "")
    out = Path(text or f"runs/profile-{op}-L{config.seqlen}-{stamp}")
    check_out(out, resume=True)  # resume: a profile may overwrite an earlier one in place
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: {exc.strerror}") from None
    return out


# --- tables ------------------------------------------------------------------------------------


def kernel_records(events: Sequence[Event], device_type: str) -> pd.DataFrame:
    """One row per kernel (CUDA: GPU kernels, copies and memsets) or per op (CPU), with its self
    time in us: GPU time on CUDA, host time outside child ops on the CPU. Ranges are left out."""
    if device_type == "cuda":
        rows = [
            (e.name, e.device_time_total)
            for e in events
            if e.device_type == DeviceType.CUDA and not e.is_user_annotation
        ]
    else:
        rows = [
            (e.name, e.self_cpu_time_total)
            for e in events
            if e.device_type == DeviceType.CPU
            and not (e.is_user_annotation or e.is_async or e.name in NOT_OPS)
        ]
    return pd.DataFrame(rows, columns=["name", "self_us"])


def kernel_table(records: pd.DataFrame, reps: int) -> pd.DataFrame:
    """Kernels by self time per call, largest first: calls and ms per call, share of the total."""
    grouped = records.groupby("name", sort=False)["self_us"].agg(["count", "sum"])
    total = grouped["sum"].sum()
    table = pd.DataFrame(
        {
            "name": grouped.index,
            "calls": grouped["count"].to_numpy() / reps,
            "self_ms": grouped["sum"].to_numpy() / reps / 1e3,
            "share": grouped["sum"].to_numpy() / total if total > 0 else 0.0,
        }
    )
    return table.sort_values("self_ms", ascending=False, kind="stable").reset_index(drop=True)


def stage_table(steps: Sequence[StepTimes]) -> pd.DataFrame:
    """Median per call of each stage's time (split into forward and backward when there is a
    backward), its share of the call and the ranges it opens per call; a last row holds the time
    outside every stage."""
    names = list(dict.fromkeys(n for s in steps for n in s.stage_us()))

    def median_ms(values: list[float]) -> float:
        return statistics.median(values) / 1e3 if values else 0.0

    rows = [
        {
            "stage": n,
            "ranges": statistics.median([s.ranges.get(n, 0) for s in steps]),
            "fwd_ms": median_ms([s.forward.get(n, 0.0) for s in steps]),
            "bwd_ms": median_ms([s.backward.get(n, 0.0) for s in steps]),
            "ms": median_ms([s.stage_us().get(n, 0.0) for s in steps]),
        }
        for n in names
    ]
    outside = median_ms([s.total_us - sum(s.stage_us().values()) for s in steps])
    rows.append({"stage": OUTSIDE, "ranges": None, "ms": max(outside, 0.0)})
    table = pd.DataFrame(rows, columns=["stage", "ranges", "fwd_ms", "bwd_ms", "ms"])
    total = median_ms([s.total_us for s in steps])
    table["share"] = table["ms"] / total if total > 0 else 0.0
    if not any(s.backward for s in steps):
        table = table.drop(columns=["fwd_ms", "bwd_ms"])
    return table


# --- rendering ---------------------------------------------------------------------------------


def cell(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, str):
        return value if len(value) <= NAME_WIDTH else value[: NAME_WIDTH - 3] + "..."
    return CELL_FORMATS.get(column, MS_FORMAT).format(value)


def render(table: pd.DataFrame, top: int | None = None) -> str:
    """A table for the terminal: ms to the microsecond, shares as percentages, long names cut."""
    from tabulate import tabulate

    shown = table.head(top) if top is not None else table
    rows = [[cell(c, v) for c, v in zip(shown.columns, row, strict=True)] for row in shown.values]
    align = ("left",) + ("right",) * (len(shown.columns) - 1)
    return tabulate(rows, headers=list(shown.columns), colalign=align, disable_numparse=True)


def describe(op: str, config: Config, device: torch.device, reps: int) -> str:
    if device.type == "cuda":
        where, what = torch.cuda.get_device_name(device), "GPU time of the kernels"
    else:
        threads = torch.get_num_threads()
        where = f"cpu, {threads} thread{'' if threads == 1 else 's'}"
        what = "host wall time"
    return (
        f"{op}  {config.label()}  on {where}: {reps} profiled calls after {WARMUP_CALLS} "
        f"warm-up calls; time per call, {what}"
    )


# --- command -----------------------------------------------------------------------------------


def run_profile(
    spec: registry.OperatorSpec, config: Config, device: torch.device, reps: int
) -> torch.profiler.profile:
    try:
        case = spec.build(config, device, stages=True)
        return profile_case(case, device, reps, detail=True)
    except Exception as exc:
        if is_oom(exc):
            raise UsageError(f"out of memory at {config.label()}: {one_line(exc)}") from None
        raise


def run_nvtx_only(
    spec: registry.OperatorSpec, config: Config, device: torch.device, reps: int
) -> None:
    """Warm up, then `reps` calls, each in a STEP_RANGE NVTX range around the stages' ranges,
    between cudaProfilerStart/Stop (for `nsys --capture-range=cudaProfilerApi`)."""
    case = spec.build(config, device, stages=True)
    for _ in range(WARMUP_CALLS):
        case.step()
    torch.cuda.synchronize(device)
    torch.cuda.profiler.start()
    for _ in range(reps):
        with torch.cuda.nvtx.range(STEP_RANGE):
            case.step()
    torch.cuda.synchronize(device)
    torch.cuda.profiler.stop()


def cmd_profile(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    config = config_from_args(args)
    if args.reps < 1 or args.top < 1:
        raise UsageError("--reps and --top must be at least 1")
    if args.nvtx_only and device.type != "cuda":
        raise UsageError("--nvtx-only is for Nsight on a CUDA device; this run is on the cpu")
    spec = check_request(args.op, config, device)
    if args.nvtx_only:
        run_nvtx_only(spec, config, device, args.reps)
        print(f"{args.op}  {config.label()}: {args.reps} calls in NVTX ranges ({STEP_RANGE})")
        return 0
    out = prepare_out(args.out, args.op, config)
    prof = run_profile(spec, config, device, args.reps)
    prof.export_chrome_trace(str(out / TRACE_FILE))
    events = prof.events()
    kernels = kernel_table(kernel_records(events, device.type), args.reps)
    steps = step_times(events, device.type)
    stages = stage_table(steps)
    kernels.to_csv(out / KERNELS_FILE, index=False)
    stages.to_csv(out / STAGES_FILE, index=False)
    what = "kernels by GPU time" if device.type == "cuda" else "ops by self CPU time"
    print(describe(args.op, config, device, args.reps))
    print(f"\ntop {min(args.top, len(kernels))} {what}:")
    print(render(kernels, args.top))
    call_ms = statistics.median(s.total_us for s in steps) / 1e3
    print(f"\ntime per named stage (median per call; the whole call: {call_ms:.3f} ms):")
    print(render(stages))
    print(f"\nwrote {out / TRACE_FILE} (open in {VIEWER}), {KERNELS_FILE} and {STAGES_FILE}")
    return 0
