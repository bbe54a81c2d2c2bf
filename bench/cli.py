"""The `hyena-bench` command: list, env, run, report, compare, profile.

Subcommands live in their own modules, each exposing `add_commands(subparsers)` that registers
parsers with `set_defaults(func=...)`; `func(args)` returns the exit status. Modules of later
stages (reports) are named here, not imported, so bench never depends on them at import time;
third-party packages add commands through the entry-point group `hyena_bench.commands`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
import warnings

from bench import __version__
from bench.errors import UsageError

COMMAND_MODULES = (
    "bench.commands",
    "bench.checks",
    "bench.compare",
    "bench.profile",
    "reports.cli",
)
COMMAND_ENTRY_POINT_GROUP = "hyena_bench.commands"
EXIT_USAGE = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2, without the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="hyena-bench",
        description="Benchmark Hyena long convolutions against attention over sequence length.",
    )
    parser.add_argument("--version", action="version", version=f"hyena-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a stage that is not installed contributes no commands
        module.add_commands(sub)
    for ep in importlib.metadata.entry_points(group=COMMAND_ENTRY_POINT_GROUP):
        try:
            ep.load()(sub)
        except Exception as exc:
            warnings.warn(f"command plugin {ep.name!r} failed to load: {exc}", stacklevel=2)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"hyena-bench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("hyena-bench: interrupted", file=sys.stderr)
        return 130
