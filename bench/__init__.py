"""How it is measured: sweeps, timers, memory, the runner, the results store and the CLI.

Knows nothing about what an operator computes: it builds cases from the plugin table and times
their `step()`.
"""

__version__ = "0.1.0"
