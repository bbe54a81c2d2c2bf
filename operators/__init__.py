"""What is measured: long-sequence operators (attention and Hyena) behind one plugin table.

Pure compute: no timing, no files, no printing. `operators.registry` is the entry point.
"""

from operators.config import DTYPES, LEVELS, MODES, Config
from operators.registry import OperatorSpec, available_specs, get, register, specs

__all__ = [
    "DTYPES",
    "LEVELS",
    "MODES",
    "Config",
    "OperatorSpec",
    "available_specs",
    "get",
    "register",
    "specs",
]
