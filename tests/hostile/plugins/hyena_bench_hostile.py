"""Hostile plugins for tests/hostile (discovered through the dist-info beside this file when this
directory is on the path): one whose loading raises an error holding rich markup, one returning
junk instead of specs, and `hostile-markup`, an implementation whose every build fails with a
message holding rich markup, escape codes, a CI workflow command and a newline, and
`hostile-probe`, whose availability check calls sys.exit.
"""

from __future__ import annotations

import sys

from operators import counts
from operators.registry import OperatorSpec

# What the build raises: rich reads [/opt/...] as a closing tag, ESC [2J clears a terminal,
# "::error::" at the start of a line is a GitHub Actions command.
MESSAGE = "cannot load [/opt/lib/libfoo.so] [bold red]x[/] \x1b[2J\n::error::injected"


def raises() -> list[OperatorSpec]:
    raise RuntimeError("[/opt/lib/libfoo.so] is missing\n::error::from a plugin")


def junk() -> int:
    return 42  # not a list of specs


def _fail(*args: object, **kwargs: object) -> None:
    raise RuntimeError(MESSAGE)


def _exit_probe(device: object) -> str | None:
    sys.exit(4)


def specs() -> list[OperatorSpec]:
    return [
        OperatorSpec(
            name="hostile-probe",
            family="attention",
            build=_fail,
            flops=counts.attention_flops,
            bytes=counts.attention_bytes,
            detail="test only: its availability check calls sys.exit",
            probe=_exit_probe,
            source="hyena-bench-hostile",
        ),
        OperatorSpec(
            name="hostile-markup",
            family="hyena",
            build=_fail,
            flops=counts.hyena_flops,
            bytes=counts.hyena_bytes,
            detail="test only: every build fails with markup and escape codes in its message",
            source="hyena-bench-hostile",
        ),
    ]
