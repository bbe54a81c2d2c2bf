"""Which Triton strategy `hyena-triton` runs for a shape: one table of thresholds keyed on dtype and
batch size, each entry with its source, and the function that rebuilds the table from a GPU run.
Pure data and arithmetic (no torch), so reports and the lead's scripts can read it.

Toeplitz (O(L²) on tensor cores, no transforms) wins at short L; Monarch (O(L log L)) beyond. The
crossover moves with batch (Toeplitz's batch block is padded to 16, so B=1 wastes 15/16 of it)
and dtype (fp32 dots run on CUDA cores, which changes both sides).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .triton_work import predicted_ms

OPS = {"toeplitz": "hyena-triton-toeplitz", "monarch": "hyena-triton-monarch"}
PREDICTED = "predicted: triton_work model (H200 rates assumed), D=768, fwd"
# The lengths the predicted table was derived on (the device script's core grid, 256..64k).
PREDICTION_GRID = tuple(256 * 2**i for i in range(9)) + tuple(384 * 2**i for i in range(8))


@dataclass(frozen=True)
class Threshold:
    """Toeplitz for L <= toeplitz_max_l at this dtype and batch (0: never)."""

    dtype: str
    batch: int
    toeplitz_max_l: int
    source: str


def crossover(
    lengths: Iterable[int], toeplitz_ms: Mapping[int, float], monarch_ms: Mapping[int, float]
) -> int:
    """The longest L up to which Toeplitz is never slower than Monarch, walking up from the
    shortest L that both have (0 when Monarch wins at the shortest)."""
    best = 0
    for L in sorted(set(lengths)):
        if L not in toeplitz_ms or L not in monarch_ms:
            continue
        if toeplitz_ms[L] > monarch_ms[L]:
            break
        best = L
    return best


def predicted_table(
    dtypes: Iterable[str] = ("fp16", "bf16", "fp32"), batches: Iterable[int] = (1, 8, 64)
) -> tuple[Threshold, ...]:
    """Thresholds from the byte/FLOP model (triton_work.predicted_ms), D=768, forward."""
    table = []
    for dtype in dtypes:
        for b in batches:
            t = {L: predicted_ms("toeplitz", b, 768, L, dtype, "fwd") for L in PREDICTION_GRID}
            m = {L: predicted_ms("monarch", b, 768, L, dtype, "fwd") for L in PREDICTION_GRID}
            table.append(Threshold(dtype, b, crossover(PREDICTION_GRID, t, m), PREDICTED))
    return tuple(table)


def derive_table(
    rows: Iterable[Mapping], mode: str = "fwd", source: str = ""
) -> tuple[Threshold, ...]:
    """Thresholds measured in a run: its core-level rows (results.jsonl: op, batch, dtype, mode,
    seqlen, latency_ms_median, status) of hyena-triton-toeplitz and hyena-triton-monarch, one
    entry per (dtype, batch) that has both; `source` names the run."""
    times: dict[tuple[str, int], dict[str, dict[int, float]]] = {}
    for row in rows:
        if row.get("status") != "ok" or row.get("mode") != mode:
            continue
        if row.get("level", "core") != "core":
            continue
        strategy = next((s for s, op in OPS.items() if op == row.get("op")), None)
        if strategy is None or row.get("latency_ms_median") is None:
            continue
        key = (str(row["dtype"]), int(row["batch"]))
        times.setdefault(key, {}).setdefault(strategy, {})[int(row["seqlen"])] = float(
            row["latency_ms_median"]
        )
    table = []
    for (dtype, batch), by in sorted(times.items()):
        if "toeplitz" in by and "monarch" in by:
            lengths = set(by["toeplitz"]) | set(by["monarch"])
            max_l = crossover(lengths, by["toeplitz"], by["monarch"])
            table.append(Threshold(dtype, batch, max_l, f"measured: {source or 'run'}, {mode}"))
    return tuple(table)


# The table hyena-triton uses, one entry per (dtype, batch). Every entry says where its number
# comes from. Until a GPU run exists they are `predicted_table()` (a test keeps them equal); after
# one, replace them with derive_table(rows of RUN/results.jsonl, source="RUN") (TRITON_NOTES.md).
TABLE: tuple[Threshold, ...] = (
    Threshold("fp16", 1, 0, PREDICTED),
    Threshold("fp16", 8, 0, PREDICTED),
    Threshold("fp16", 64, 384, PREDICTED),
    Threshold("bf16", 1, 0, PREDICTED),
    Threshold("bf16", 8, 0, PREDICTED),
    Threshold("bf16", 64, 384, PREDICTED),
    Threshold("fp32", 1, 0, PREDICTED),
    Threshold("fp32", 8, 384, PREDICTED),
    Threshold("fp32", 64, 768, PREDICTED),
)


def threshold(dtype: str, batch: int, table: Iterable[Threshold] = TABLE) -> Threshold:
    """The entry for this dtype with the largest batch <= `batch` (else its smallest batch)."""
    entries = sorted((t for t in table if t.dtype == dtype), key=lambda t: t.batch)
    if not entries:
        raise ValueError(f"no dispatch threshold for dtype {dtype!r}")
    below = [t for t in entries if t.batch <= batch]
    return below[-1] if below else entries[0]


def strategy_for(batch: int, dtype: str, L: int, table: Iterable[Threshold] = TABLE) -> str:
    """'toeplitz' or 'monarch' for this shape."""
    max_l = threshold(dtype, batch, table).toeplitz_max_l
    return "toeplitz" if max_l >= L else "monarch"
