"""Untrusted text made safe to print: control characters shown as escapes.

Names and reasons printed by `run`, `compare` and every error message may come from a results
file written by someone else. A newline there would start a line of its own (a fake
`::error::` command in a CI log), an ESC byte would drive the terminal, a bidirectional
override would reorder what is shown. `printable` keeps the text readable and makes each such
character visible instead (\\n, \\x1b, \\u202e), so a value prints as one line, as written.
"""

from __future__ import annotations

import unicodedata

NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object) -> str:
    """`text` with every control, format or line-separator character written as an escape
    (spaces of any width are kept: they move nothing)."""
    value = str(text)
    if value.isprintable():  # the common case, checked in C
        return value
    return "".join(
        c if c.isprintable() or unicodedata.category(c) == "Zs" else escaped(c) for c in value
    )


def escaped(char: str) -> str:
    if char in NAMED:
        return NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
