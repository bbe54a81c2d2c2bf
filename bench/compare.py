"""`hyena-bench compare BASE NEW`: did NEW get slower than BASE? Reads the two run directories,
checks that their environments match, and prints the decision (bench.comparison) in the chosen
format (bench.compare_render), with an exit status a CI job can gate on: 0 no regression,
1 regression, 2 unusable input.

Imports here stay light (no scipy, no torch): `hyena-bench --help` loads this module.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from bench.compare_render import FORMATS, RENDERERS
from bench.comparison import DEFAULT_THRESHOLDS, METRICS, Run, compare, default_threshold
from bench.errors import UsageError
from bench.merge import read_side
from bench.record import row_key
from bench.store import ENV_IDENTITY, env_value

# Beyond bench.store.ENV_IDENTITY (device, torch, triton, flash_attn): on a CPU the thread count
# changes the kernels' speed as much as a library version does.
CPU_IDENTITY = ("cpu.torch_threads",)
MAX_THRESHOLD = 10.0  # 1000%: beyond that a "threshold" is a typo


def load_run(directory: str, side: str) -> tuple[Run, list[str]]:
    """Rows keyed by configuration, and the warnings (torn lines) met while reading.
    `directory` may be several joined by commas (the shards of one sweep): bench.merge reads
    them as one run, refusing mixed environments and a configuration measured twice."""
    if not directory.strip():
        raise UsageError(f"{side} {directory!r}: an empty path")
    merged = read_side(directory, side)
    keyed = {row_key(row): row for row in merged.rows}
    return Run(Path(directory), merged.env, keyed), merged.notes


def env_differences(base: dict[str, Any], new: dict[str, Any]) -> list[str]:
    cpu = env_value(base, "device.type") == "cpu" == env_value(new, "device.type")
    return [
        f"{name}: {env_value(base, name)!r} vs {env_value(new, name)!r}"
        for name in (*ENV_IDENTITY, *(CPU_IDENTITY if cpu else ()))
        if env_value(base, name) != env_value(new, name)
    ]


def detail_notes(base: Run, new: Run) -> list[str]:
    """Name implementations whose description differs between the runs (a changed kernel, or a
    test plugin's planted slowdown), so nobody mistakes the cause of a change."""
    changed = sorted(
        {
            (row["op"], row.get("impl_detail"), new.rows[key].get("impl_detail"))
            for key, row in base.rows.items()
            if key in new.rows and row.get("impl_detail") != new.rows[key].get("impl_detail")
        }
    )
    return [f"{op} is described differently: BASE {a!r}, NEW {b!r}" for op, a, b in changed]


def parse_threshold(text: str) -> float:
    """'15%' -> 0.15 and '0.15' -> 0.15; a bare number must be a fraction (below 1)."""
    percent = text.strip().endswith("%")
    try:
        value = float(text.strip().removesuffix("%")) / (100 if percent else 1)
    except ValueError:
        value = math.nan
    if not 0 <= value < (MAX_THRESHOLD if percent else 1):
        raise UsageError(f"--threshold {text!r}: write a percentage (15%) or a fraction (0.15)")
    return value


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two runs; exit 1 on a significant regression")
    p.add_argument("base", metavar="BASE_DIR", help="the reference run (or its shards: A,B,...)")
    p.add_argument("new", metavar="NEW_DIR", help="the run to check (or its shards: A,B,...)")
    defaults = ", ".join(f"{v * 100:g}%% on {k}" for k, v in DEFAULT_THRESHOLDS.items())
    p.add_argument(
        "--threshold", help=f"smallest change that counts, e.g. 5%% (default: {defaults})"
    )
    p.add_argument("--metric", choices=list(METRICS), default="latency")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument(
        "--allow-env-mismatch",
        action="store_true",
        help="compare runs from different devices or library versions anyway",
    )
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    threshold = parse_threshold(args.threshold) if args.threshold is not None else None
    base, base_notes = load_run(args.base, "BASE")
    new, new_notes = load_run(args.new, "NEW")
    if threshold is None:
        threshold = default_threshold(base.env)
    differences = env_differences(base.env, new.env)
    if differences and not args.allow_env_mismatch:
        raise UsageError(
            f"BASE and NEW come from different environments ({'; '.join(differences)})"
            "; pass --allow-env-mismatch to compare anyway"
        )
    notes = [*base_notes, *new_notes, *detail_notes(base, new)]
    report = compare(base, new, METRICS[args.metric], threshold, differences, notes)
    print(RENDERERS[args.format](report, args.format))
    return report.exit_status
