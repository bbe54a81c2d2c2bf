"""Our timer against Triton's: the same callables timed by `bench.timing.measure` and by
`triton.testing.do_bench(..., return_mode="median")`, interleaved, with the ratio per case.

Why: every latency in a row comes from `bench.timing`. If it disagrees with the timer that Triton
and tritonbench users know, a reader must be told by how much and on which cases before trusting
any crossover. The two timers differ in method (ours: CUDA events per call, L2 flushed before each
with a buffer of at least 2x L2, repetitions sized to a target time; do_bench: its own cache
clearing and repetition count), so a ratio near 1 says both see the same kernel time.

    python -m bench.timer_check --out timer_check.json            # on a GPU: the default cases
    python -m bench.timer_check --device cpu --seqlens 256 --d-model 32 --heads 2 --batch 1

On a CPU there is no do_bench: each case records our time and `do_bench_ms = null` with the
reason, so the dry run still exercises the cases end to end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from bench.errors import EXIT_USAGE
from bench.sweep import parse_seqlens
from bench.timing import TimingOptions, measure
from operators import registry
from operators.config import Config

# The fastest attention first: the check wants the kernels a verdict rests on. The first one
# available on the device is used; the row names it.
ATTENTION_PREFERENCE = (
    "attention-sdpa-cudnn",
    "attention-sdpa-flash",
    "attention-sdpa-efficient",
    "attention-dense",
)
HYENA_PREFERENCE = ("hyena-fused", "hyena-triton", "hyena-fft")
DEFAULT_SEQLENS = "4k,16k"
ROUNDS = 3  # interleaved rounds of (ours, do_bench): drift between the two timers cancels
DO_BENCH_MISSING = "triton.testing.do_bench needs a CUDA device"

Timer = Callable[[Callable[[], object]], float]  # fn -> median milliseconds


@dataclass
class TimerCase:
    op: str
    seqlen: int
    batch: int
    d_model: int
    dtype: str
    ours_ms: list[float]
    do_bench_ms: list[float] | None
    ratio: float | None  # median(ours) / median(do_bench)
    reason: str = ""


def first_available(names: Sequence[str], device: torch.device, config: Config) -> str | None:
    for name in names:
        try:
            spec = registry.get(name)
        except KeyError:
            continue
        if spec.supports(config, device) is None:
            return name
    return None


def do_bench_timer(device: torch.device) -> Timer | None:
    """Triton's benchmark timer (median), or None where it cannot run."""
    if device.type != "cuda":
        return None
    from triton.testing import do_bench

    return lambda fn: float(do_bench(fn, return_mode="median"))


def check_case(
    op: str, config: Config, device: torch.device, opts: TimingOptions, other: Timer | None
) -> TimerCase:
    case = registry.get(op).build(config, device)
    ours: list[float] = []
    theirs: list[float] = []
    try:
        for _ in range(ROUNDS):
            ours.append(measure(case.step, device, opts).median)
            if other is not None:
                theirs.append(other(case.step))
    finally:
        del case
    ratio = statistics.median(ours) / statistics.median(theirs) if theirs else None
    return TimerCase(
        op=op,
        seqlen=config.seqlen,
        batch=config.batch,
        d_model=config.d_model,
        dtype=config.dtype,
        ours_ms=[round(x, 6) for x in ours],
        do_bench_ms=[round(x, 6) for x in theirs] if other is not None else None,
        ratio=ratio,
        reason="" if other is not None else DO_BENCH_MISSING,
    )


def run(
    seqlens: Sequence[int],
    base: Config,
    device: torch.device,
    opts: TimingOptions,
    results: list[dict] | None = None,
    on_case: Callable[[list[dict]], None] = lambda results: None,
) -> list[dict]:
    """One attention and one Hyena layer per length; a case that fails is recorded, not raised.
    `on_case(results)` runs after each case, so a caller can save what finished so far."""
    other = do_bench_timer(device)
    results = [] if results is None else results
    for seqlen in seqlens:
        config = base.replace(seqlen=seqlen)
        for family in (ATTENTION_PREFERENCE, HYENA_PREFERENCE):
            op = first_available(family, device, config)
            if op is None:
                results.append({"op": family[0], "seqlen": seqlen, "reason": "none available"})
                continue
            try:
                results.append(asdict(check_case(op, config, device, opts, other)))
            except Exception as exc:  # an OOM or a kernel error ends one case, not the check
                results.append({"op": op, "seqlen": seqlen, "reason": str(exc).splitlines()[0]})
            if device.type == "cuda":
                torch.cuda.empty_cache()
            on_case(results)
    return results


def markdown(results: Sequence[dict]) -> str:
    lines = [
        "| op | L | ours median ms | do_bench median ms | ours / do_bench |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        ours = statistics.median(r["ours_ms"]) if r.get("ours_ms") else None
        theirs = statistics.median(r["do_bench_ms"]) if r.get("do_bench_ms") else None
        cells = [
            r["op"],
            str(r["seqlen"]),
            f"{ours:.4g}" if ours is not None else "-",
            f"{theirs:.4g}" if theirs is not None else f"- ({r.get('reason', '')})",
            f"{r['ratio']:.3f}" if r.get("ratio") is not None else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.timer_check", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seqlens", default=DEFAULT_SEQLENS)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--d-model", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--dtype", default=None, help="default: fp16 on CUDA, fp32 on CPU")
    p.add_argument("--target-time", type=float, default=0.2)
    p.add_argument("--out", type=Path, default=None, help="write the cases as JSON here")
    args = p.parse_args(argv)
    try:
        device = torch.device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA device here")
        dtype = args.dtype or ("fp16" if device.type == "cuda" else "fp32")
        base = Config(
            batch=args.batch, d_model=args.d_model, heads=args.heads, dtype=dtype, level="layer"
        )
        problem = base.problem()
        if problem:
            raise ValueError(problem)
        seqlens = parse_seqlens(args.seqlens)
    except (ValueError, RuntimeError) as exc:
        print(f"python -m bench.timer_check: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def save(results: list[dict]) -> None:
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.out.with_name(args.out.name + ".tmp")
            tmp.write_text(json.dumps({"device": str(device), "cases": results}, indent=1))
            tmp.replace(args.out)

    results: list[dict] = []
    try:
        run(seqlens, base, device, TimingOptions(target_s=args.target_time), results, save)
    except KeyboardInterrupt:
        print(markdown(results))
        print("python -m bench.timer_check: interrupted; finished cases kept", file=sys.stderr)
        return 130
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
