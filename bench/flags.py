"""Command-line flags derived from `Config`'s declaration (operators.config): one flag per field,
named after it (--d-model for d_model), with its type, choices, help and default, so a new Config
field appears on `run` and `profile` without touching them. Torch-free: the parser is built
before torch is imported.
"""

from __future__ import annotations

import argparse
from typing import Any

from operators.config import CONFIG_FIELDS, Config

TYPES = {"int": int, "str": str}


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
        parser.add_argument(
            flag(f.name),
            type=TYPES[str(f.type)],
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
