"""Command-line flags derived from `Config`'s declaration (operators.config): one flag per field,
named after it (--d-model for d_model), with its type, choices, help and default, so a new Config
field appears on `run` and `profile` without touching them. Torch-free: the parser is built
before torch is imported.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from operators.config import CONFIG_FIELDS, Config

TYPES = {"int": int, "str": str}


def number(
    kind: type, minimum: float | None = None, maximum: float | None = None, above: bool = False
) -> Callable[[str], Any]:
    """An argparse `type` for a finite number in a range (`above`: strictly above `minimum`):
    `--timeout 0`, `--min-reps -3` or `--target-time nan` are usage errors, not runs."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {describe(kind)}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if minimum is not None and (value <= minimum if above else value < minimum):
            raise argparse.ArgumentTypeError(
                f"{text} must be {'above' if above else 'at least'} {minimum:g}"
            )
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{text} must be at most {maximum:g}")
        return value

    parse.__name__ = describe(kind)  # argparse names the type in its messages
    return parse


def describe(kind: type) -> str:
    return "an integer" if kind is int else "a number"


def listed(text: str, flag: str) -> tuple[str, ...]:
    """The items of a comma-separated flag; an empty list ('' or ',') is a usage error."""
    items = tuple(item.strip() for item in text.split(","))
    if not all(items):
        raise UsageError(f"{flag} {text!r}: an empty name in the list")
    return items


def out_path(text: str | None, flag: str = "--out") -> Path | None:
    """A directory named on the command line, or None when not given; an empty name (which
    would mean the current directory) or one the system cannot hold is a usage error."""
    from bench.files import name_problem

    if text is None:
        return None
    if not text.strip():
        raise UsageError(f"{flag} {text!r}: an empty path")
    path = Path(text)
    problem = name_problem(path)
    if problem:
        raise UsageError(f"{flag}: {problem}")
    return path


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_flags(
    parser: argparse.ArgumentParser,
    skip: tuple[str, ...] = (),
    defaults: Config | None = None,
    default_text: str = "{default}",
) -> None:
    """A flag for each Config field not in `skip`. With `defaults`, a flag left out takes that
    Config's value; without, it is None (the caller fills it, e.g. from a preset), and
    `default_text` says where the default comes from ({default}: Config's own default)."""
    for f in CONFIG_FIELDS:
        if f.name in skip:
            continue
        meta: dict[str, Any] = dict(f.metadata)
        default = getattr(defaults, f.name) if defaults is not None else None
        unit = f", {meta['unit']}" if meta["unit"] else ""
        shown = default_text.format(default=f.default)
        kind = TYPES[str(f.type)]
        parser.add_argument(
            flag(f.name),
            type=number(kind, meta["minimum"], meta["maximum"]) if kind is int else kind,
            choices=meta["flag_choices"],
            default=default,
            metavar=None if meta["flag_choices"] else f.name.upper(),
            help=f"{meta['help']}{unit} (default: {shown})",
        )


def config_changes(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The Config fields given on the command line (flags left at None are not given); `skip`
    as in add_config_flags (a command's own flag of the same name is not a Config value)."""
    return {
        f.name: getattr(args, f.name)
        for f in CONFIG_FIELDS
        if f.name not in skip and getattr(args, f.name, None) is not None
    }
