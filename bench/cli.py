"""The `hyena-bench` command: list, env, run, verify, merge, report, compare, ab, profile.

Subcommands live in their own modules, each exposing `add_commands(subparsers)` that registers
parsers with `set_defaults(func=...)`; `func(args)` returns the exit status. Modules of later
stages (reports) are named here, not imported, so bench never depends on them at import time;
third-party packages add commands through the entry-point group `hyena_bench.commands`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import re
import sys
import warnings

from bench import __version__
from bench.errors import EXIT_FAILURE, EXIT_USAGE, UsageError
from bench.files import DISK_FULL, OutputError
from bench.safetext import printable
from operators.config import did_you_mean

COMMAND_MODULES = (
    "bench.commands",
    "bench.checks",
    "bench.compare",
    "bench.merge",
    "bench.ab",
    "bench.profile",
    "reports.cli",
)
# Which module registers each built-in command: a command line naming one imports only that
# module, so `report` or `compare` does not pay for torch and the profiler at start-up.
COMMAND_OWNER = {
    "list": "bench.commands",
    "env": "bench.commands",
    "run": "bench.commands",
    "verify": "bench.checks",
    "compare": "bench.compare",
    "merge": "bench.merge",
    "ab": "bench.ab",
    "profile": "bench.profile",
    "report": "reports.cli",
}
COMMAND_ENTRY_POINT_GROUP = "hyena_bench.commands"
# argparse's message for a value outside `choices` (commands, --dtype, --metric, ...).
INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")
EPILOG = """exit status: 0 done; 1 a failure the command exists to find (verify: a wrong result,
compare: a regression), no worker could start, or the output could not be written (disk full);
2 bad arguments or unusable input (one line on stderr, nothing written); 3 nothing ran (run:
every row skipped, verify: nothing verified here). Implementations, their levels and
availability: hyena-bench list."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2, without the usage dump, and
    an unknown choice names the nearest known one."""

    def error(self, message: str) -> None:  # type: ignore[override]
        found = INVALID_CHOICE.search(message)
        if found:
            known = [c.strip(" '") for c in found.group(2).split(",")]
            message += did_you_mean(found.group(1), known)
        if "required: COMMAND" in message:
            message += " (hyena-bench --help lists them)"
        raise UsageError(message, prog=self.prog)


def command_modules(argv: list[str] | None) -> tuple[str, ...]:
    """The modules to import for `argv`: the owner of the command it names, else all of them."""
    words = [a for a in argv or () if not a.startswith("-")]
    if words and words[0] in COMMAND_OWNER:
        return (COMMAND_OWNER[words[0]],)
    return COMMAND_MODULES


def build_parser(argv: list[str] | None = None) -> ArgumentParser:
    """The `hyena-bench` parser; with `argv`, only the module owning its command is loaded."""
    parser = ArgumentParser(
        prog="hyena-bench",
        description="Benchmark Hyena long convolutions against attention over sequence length.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"hyena-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name in command_modules(argv):
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
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: a broken plugin is one warning
            warn_plugin(f"command plugin {ep.name!r} failed to load", exc)
    return parser


def warn_plugin(what: str, exc: BaseException) -> None:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{what}: {type(exc).__name__}" + (f": {detail}"[:300] if detail else "")
    warnings.warn(text, stacklevel=3)


def show_warning(message: Warning | str, *args: object, **kwargs: object) -> None:
    """A warning as one line on stderr, its text escaped (it may quote a stranger's file)."""
    print(printable(f"hyena-bench: warning: {message}"), file=sys.stderr)


def prog(argv: list[str] | None) -> str:
    """'hyena-bench run' for a command line naming a known command."""
    words = [a for a in argv or () if not a.startswith("-")]
    return f"hyena-bench {words[0]}" if words and words[0] in COMMAND_OWNER else "hyena-bench"


def main(argv: list[str] | None = None) -> int:
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        return dispatch(argv)


def dispatch(argv: list[str] | None) -> int:
    """The command line's command, with every error the CLI knows turned into one line."""
    try:
        argv = sys.argv[1:] if argv is None else argv
        args = build_parser(argv).parse_args(argv)
        args.argv = list(argv)  # what env.json records: the command as given to main
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(printable(f"{exc.prog}: error: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except OutputError as exc:
        print(printable(f"{prog(argv)}: error: {exc}"), file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(printable(f"{prog(argv)}: error: disk full: {where}{exc.strerror}"), file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("hyena-bench: interrupted", file=sys.stderr)
        return 130
