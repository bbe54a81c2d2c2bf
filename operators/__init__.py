"""What is measured: long-sequence operators (attention and Hyena) behind one plugin table.

Pure compute: no timing, no files, no printing. `operators.registry` is the plugin table (the
entry point for everything measurable), `operators.config` the configuration an operator is built
for.

The configuration's names are imported here (cheap: no torch). The plugin table's are not, on
purpose: importing any submodule runs this file first, and the command line imports
`operators.config` to build its parser; importing `operators.registry` here would import torch
with it and make `hyena-bench --help` take seconds instead of a fraction of one. Import them from
their module: `from operators.registry import OperatorSpec, get, register`.
"""

from operators.config import DTYPES, FAMILIES, LEVELS, MODES, Config

__all__ = ["DTYPES", "FAMILIES", "LEVELS", "MODES", "Config"]
