"""Display units picked by magnitude, one per quantity and group of rows, shared by the table and
the figure drawn from the same rows (so a table in GFLOP/s never sits beside a plot in TFLOP/s).

Rule: the largest unit in which the largest value is at least 1 (96.5 GFLOP/s, not 0.0965
TFLOP/s); the smallest unit when every value is below 1 in it, or when there is no value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Unit:
    """A display unit: multiply a value in the column's stored unit by `scale`."""

    name: str
    scale: float


# Per summary column (the unit it is stored in has scale 1), largest unit first.
UNITS = {
    "tflops": (
        Unit("PFLOP/s", 1e-3),
        Unit("TFLOP/s", 1.0),
        Unit("GFLOP/s", 1e3),
        Unit("MFLOP/s", 1e6),
    ),
    "tflops_issued": (
        Unit("PFLOP/s", 1e-3),
        Unit("TFLOP/s", 1.0),
        Unit("GFLOP/s", 1e3),
        Unit("MFLOP/s", 1e6),
    ),
    "gbps": (Unit("TB/s", 1e-3), Unit("GB/s", 1.0), Unit("MB/s", 1e3), Unit("kB/s", 1e6)),
    "tokens_per_s": (
        Unit("Gtokens/s", 1e-9),
        Unit("Mtokens/s", 1e-6),
        Unit("ktokens/s", 1e-3),
        Unit("tokens/s", 1.0),
    ),
    "peak_mem_mib": (Unit("GiB", 2**-10), Unit("MiB", 1.0), Unit("KiB", 2**10)),
}


def by_magnitude(column: str, values: Iterable[float]) -> Unit:
    """The unit for `values` (stored in `column`'s unit) under the rule above."""
    finite = [abs(float(v)) for v in values if v is not None and math.isfinite(float(v))]
    units = UNITS[column]
    if not finite:
        return units[-1]
    largest = max(finite)
    return next((u for u in units if largest * u.scale >= 1), units[-1])
