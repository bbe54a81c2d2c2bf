"""The `hyena-bench report` command: read run directories, write report.md, report.html (one
self-contained file), the tables as CSV and the figures, into one report directory.

The report is built in a new directory beside --out and swapped in when complete (bench.files),
so a killed or failed re-report leaves the previous report whole, never old text beside new
plots, and nothing but --out changes. --out must be new, empty, or a previous report: anything
else in it would be replaced, so it is refused.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from bench import files
from bench.errors import UsageError
from bench.flags import number, out_path
from bench.safetext import printable

FORMATS = ("md", "html", "csv", "svg")
# SVG (each figure again, for print) costs as much as the figures' PNGs: asked for, not default.
DEFAULT_FORMATS = ("md", "html", "csv")
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
        metavar="DIR",
        help="run directory holding env.json and results.jsonl",
    )
    parser.add_argument(
        "--out",
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
        default=",".join(DEFAULT_FORMATS),
        help=f"comma-separated outputs among {', '.join(FORMATS)} (default: "
        f"{','.join(DEFAULT_FORMATS)}; svg writes every figure as SVG too, beside its PNG)",
    )
    parser.add_argument(
        "--jobs",
        type=number(int, 1),
        default=None,
        metavar="N",
        help="draw up to N settings' figures at once, each in its own process (default: the "
        "CPUs available; a report of fewer than 4 settings, or without figures, is built in "
        "one process)",
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


def report_names() -> set[str]:
    """What a report directory holds: anything else in --out is not ours to replace."""
    from reports import document, render

    tables = {f"{name}.csv" for name in document.CSV_TABLES}
    return {render.MD_FILE, render.HTML_FILE, document.PLOTS_DIR, *tables}


def check_out(out: Path) -> None:
    """Refuse an --out the report cannot replace whole: a file, a directory holding other
    things, a read-only directory, or one in a directory where nothing can be created."""
    if os.path.lexists(out):
        if out.is_symlink() or not out.is_dir():
            raise UsageError(f"--out {out}: not a directory")
        others = sorted(set(os.listdir(out)) - report_names())
        if others:
            raise UsageError(
                f"--out {out} holds files that are not a report ({', '.join(others[:3])}); "
                "choose a new or empty directory"
            )
        if not os.access(out, os.W_OK):
            raise UsageError(f"--out {out}: not writable")
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise UsageError(f"--out {out}: cannot create it ({parent} is not writable)")


def run(args: argparse.Namespace) -> int:
    """Build the report; bad input raises UsageError (one line, exit 2), a failure to write
    it OutputError (one line, exit 1, the previous report left as it was)."""
    dirs = [out_path(d, "run directory") for d in args.dirs]
    out = out_path(args.out) or dirs[0] / DEFAULT_OUT
    check_out(out)
    formats = parse_formats(args.format)
    draw = bool(formats & {"md", "html", "svg"})
    # Imported here so that other hyena-bench commands (and bad input) skip scipy/matplotlib.
    from reports import pool
    from reports.load import load

    jobs = args.jobs or pool.default_jobs()
    if draw:
        pool.prestart((*pool.REPORT_MODULES, *pool.FIGURE_MODULES), jobs)
    results = load(dirs, allow_mixed_env=args.allow_mixed_env)
    if args.baseline is not None and args.baseline not in set(results.frame["op"]):
        have = ", ".join(sorted(set(results.frame["op"])))
        raise UsageError(f"--baseline {args.baseline}: not in the results (have: {have})")
    from reports import document, render
    from reports.claims import load_paper

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise files.output_error(exc, out) from None
    staged = files.staging_dir(out)
    try:
        report = document.build(
            results,
            staged,
            load_paper(),
            args.baseline,
            draw=draw,
            svg="svg" in formats,
            jobs=jobs,
        )
        written = render.write(report.blocks, report.csv, staged, formats, document.TITLE)
        files.swap_in(staged, out)
    except OSError as exc:
        raise files.output_error(exc, getattr(exc, "filename", None) or out) from None
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    for note in (*results.notes, *report.notes):
        print(printable(f"hyena-bench report: note: {note}"), file=sys.stderr)
    print(
        f"report: {len(results.frame)} rows from {len(results.runs)} run(s) -> "
        + ", ".join(str(out / p.relative_to(staged)) for p in written)
    )
    return 0
