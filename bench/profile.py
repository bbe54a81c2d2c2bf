"""`hyena-bench profile OP --seqlen L`: where the time goes inside one operator. Writes a
Chrome/Perfetto trace, and prints (and writes as CSV) the top kernels or ops and a per-stage table.

Measuring is bench.stages (shared with `run --stages`); the tables are bench.profile_tables; this
module checks the request and wires them. Torch is imported when the command runs, not when the
command line is built.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import files
from bench.commands import check_out, resolve_device
from bench.defaults import WARMUP_CALLS
from bench.errors import UsageError
from bench.flags import add_config_flags, config_changes, out_path
from bench.sweep import size
from operators.config import Config

if TYPE_CHECKING:
    import torch

    from operators.registry import OperatorSpec

PROFILE_REPS = 5  # profiled calls: a median per stage, and a trace small enough to open
TOP_KERNELS = 15  # rows of the kernel table shown (the CSV keeps all)
TRACE_FILE, KERNELS_FILE, STAGES_FILE = "trace.json", "kernels.csv", "stages.csv"
VIEWER = "https://ui.perfetto.dev"


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile", help="trace one implementation: top kernels and time per named stage"
    )
    p.add_argument("op", help="implementation name (see `hyena-bench list`)")
    p.add_argument("--seqlen", required=True, help="sequence length, e.g. 4096 or 4k")
    add_config_flags(p, skip=("seqlen",), defaults=Config())
    p.add_argument(
        "--device", default="auto", help="auto (CUDA if present), cpu or cuda (default: auto)"
    )
    p.add_argument("--out", help="output directory (default: runs/profile-<op>-L<seqlen>-<time>)")
    p.add_argument(
        "--reps", type=int, default=PROFILE_REPS, help="profiled calls (default: %(default)s)"
    )
    p.add_argument(
        "--top",
        type=int,
        default=TOP_KERNELS,
        help="kernel-table rows to print (default: %(default)s)",
    )
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
    return Config(seqlen=seqlen, **config_changes(args, skip=("seqlen",)))


def check_request(op: str, config: Config, device: torch.device) -> OperatorSpec:
    """The implementation to profile, or a UsageError saying why it cannot run here."""
    from operators import registry

    try:
        spec = registry.get(op)
    except KeyError as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    why = spec.supports(config, device)
    if why:
        raise UsageError(f"{op} cannot run {config.level} L={config.seqlen} on {device}: {why}")
    return spec


def prepare_out(text: str | None, op: str, config: Config) -> Path:
    from bench import envinfo

    stamp = envinfo.now()[:19].replace(":", "")
    out = out_path(text) or Path(f"runs/profile-{op}-L{config.seqlen}-{stamp}")
    check_out(out, resume=True)  # resume: a profile may overwrite an earlier one in place
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: {exc.strerror}") from None
    return out


def describe(op: str, config: Config, device: torch.device, reps: int) -> str:
    import torch

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
    spec: OperatorSpec, config: Config, device: torch.device, reps: int
) -> torch.profiler.profile:
    from bench.memory import is_oom
    from bench.stages import profile_case
    from bench.worker import one_line

    try:
        case = spec.build(config, device, stages=True)
        return profile_case(case, device, reps, detail=True)
    except Exception as exc:
        if is_oom(exc):
            raise UsageError(f"out of memory at {config.label()}: {one_line(exc)}") from None
        raise


def run_nvtx_only(spec: OperatorSpec, config: Config, device: torch.device, reps: int) -> None:
    """Warm up, then `reps` calls, each in a STEP_RANGE NVTX range around the stages' ranges,
    between cudaProfilerStart/Stop (for `nsys --capture-range=cudaProfilerApi`)."""
    import torch

    from bench.stages import STEP_RANGE

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


def write_outputs(out: Path, created: bool, prof: Any, kernels: Any, stages: Any) -> None:
    """The trace and the two tables, each whole or not at all: written into a directory inside
    --out, then each renamed into place. A full disk leaves neither a 0-byte CSV nor a
    temporary file, and a directory this command created and could not fill is removed.
    torch's trace export reports a failed write only in its log (it leaves `<file>.tmp`), so
    that is checked for."""
    staged = files.staging_dir(out / TRACE_FILE)
    failed = True
    try:
        trace = staged / TRACE_FILE
        prof.export_chrome_trace(str(trace))
        if not trace.is_file() or Path(f"{trace}.tmp").exists():
            raise files.OutputError(
                f"disk full: {out / TRACE_FILE}: the profiler could not write its trace"
            )
        kernels.to_csv(staged / KERNELS_FILE, index=False)
        stages.to_csv(staged / STAGES_FILE, index=False)
        for name in (TRACE_FILE, KERNELS_FILE, STAGES_FILE):
            os.replace(staged / name, out / name)
        failed = False
    except OSError as exc:
        raise files.output_error(exc, exc.filename or out) from None
    finally:
        shutil.rmtree(staged, ignore_errors=True)
        if failed and created:
            for name in (TRACE_FILE, KERNELS_FILE, STAGES_FILE):
                (out / name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                out.rmdir()


def cmd_profile(args: argparse.Namespace) -> int:
    from bench.profile_tables import kernel_records, kernel_table, render, stage_table
    from bench.stages import STEP_RANGE, step_times

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
    requested = out_path(args.out)
    created = requested is None or not requested.exists()  # removed again if it stays empty
    out = prepare_out(args.out, args.op, config)
    prof = run_profile(spec, config, device, args.reps)
    events = prof.events()
    kernels = kernel_table(kernel_records(events, device.type), args.reps)
    steps = step_times(events, device.type)
    stages = stage_table(steps)
    write_outputs(out, created, prof, kernels, stages)
    what = "kernels by GPU time" if device.type == "cuda" else "ops by self CPU time"
    print(describe(args.op, config, device, args.reps))
    print(f"\ntop {min(args.top, len(kernels))} {what}:")
    print(render(kernels, args.top))
    call_ms = statistics.median(s.total_us for s in steps) / 1e3
    print(f"\ntime per named stage (median per call; the whole call: {call_ms:.3f} ms):")
    print(render(stages))
    print(f"\nwrote {out / TRACE_FILE} (open in {VIEWER}), {KERNELS_FILE} and {STAGES_FILE}")
    return 0
