"""The `hyena-bench report` command: read run directories, write report.md, report.html (one
self-contained file), the tables as CSV and the figures, into one report directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import UsageError

FORMATS = ("md", "html", "csv")
DEFAULT_OUT = "report"  # under the first run directory


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="tables, claim verdicts, plots and a markdown/HTML report from runs",
        description="Build a report from one or more run directories (shards or presets of one "
        "environment merge by concatenation).",
        epilog="Exit status: 0 when the report is written, also when no measurement in the runs "
        "succeeded (every row skipped, out of memory or failed): the report then says so and "
        "lists the reasons, without result tables or plots, and one line on stderr says the "
        "same; 2 for bad input (a missing or unreadable run, an unknown option value).",
    )
    parser.add_argument(
        "dirs",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="run directory holding env.json and results.jsonl",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"report directory (default: DIR/{DEFAULT_OUT} for the first DIR)",
    )
    parser.add_argument(
        "--baseline",
        metavar="OP",
        default=None,
        help="implementation to measure speedups against (default: the fastest "
        "FlashAttention, else the fastest SDPA backend, per group)",
    )
    parser.add_argument(
        "--format",
        default=",".join(FORMATS),
        help=f"comma-separated outputs among {', '.join(FORMATS)} (default: all)",
    )
    parser.add_argument(
        "--allow-mixed-env",
        action="store_true",
        help="merge runs from different devices or library versions",
    )
    parser.set_defaults(func=run)


def parse_formats(text: str) -> set[str]:
    formats = {f.strip() for f in text.split(",") if f.strip()}
    unknown = formats - set(FORMATS)
    if unknown or not formats:
        raise UsageError(f"--format {text!r}: choose from {', '.join(FORMATS)}")
    return formats


def run(args: argparse.Namespace) -> int:
    """Build the report; bad input raises UsageError (one line, exit 2)."""
    # Imported here so that other hyena-bench commands (and bad input) skip scipy/matplotlib.
    from reports.load import load

    formats = parse_formats(args.format)
    results = load(args.dirs, allow_mixed_env=args.allow_mixed_env)
    if args.baseline and args.baseline not in set(results.frame["op"]):
        have = ", ".join(sorted(set(results.frame["op"])))
        raise UsageError(f"--baseline {args.baseline}: not in the results (have: {have})")
    from reports import document, render
    from reports.claims import load_paper

    out = args.out or args.dirs[0] / DEFAULT_OUT
    report = document.build(
        results, out, load_paper(), args.baseline, draw=bool(formats & {"md", "html"})
    )
    written = render.write(report.blocks, report.csv, out, formats, document.TITLE)
    for note in (*results.notes, *report.notes):
        print(f"hyena-bench report: note: {note}", file=sys.stderr)
    print(
        f"report: {len(results.frame)} rows from {len(results.runs)} run(s) -> "
        + ", ".join(str(p) for p in written)
    )
    return 0
