"""What is measured: long-sequence operators (attention and Hyena) behind one plugin table.

Pure compute: no timing, no files, no printing. `operators.registry` is the entry point. The names
below are loaded on first use, so importing `operators.config` alone does not import torch.
"""

import importlib
from typing import Any

_EXPORTS = {
    "DTYPES": "operators.config",
    "LEVELS": "operators.config",
    "MODES": "operators.config",
    "Config": "operators.config",
    "OperatorSpec": "operators.registry",
    "available_specs": "operators.registry",
    "get": "operators.registry",
    "register": "operators.registry",
    "specs": "operators.registry",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in (
        "registry",
        "config",
        "attention",
        "hyena",
        "case",
        "counts",
        "reference",
        "verify",
        "capabilities",
        "longconv",
    ):
        return importlib.import_module(f"operators.{name}")
    raise AttributeError(f"module 'operators' has no attribute {name!r}")
