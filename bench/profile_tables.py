"""The tables of `hyena-bench profile`: the top kernels (or CPU ops) by self time and the time per
named stage, derived from torch.profiler's events, and their rendering for the terminal.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import pandas as pd
from torch.autograd import DeviceType
from torch.autograd.profiler_util import MEMORY_EVENT_NAME, OUT_OF_MEMORY_EVENT_NAME

from bench.stages import Event, StepTimes

NAME_WIDTH = 90  # kernel names (templated CUDA kernels) are cut to this width when printed
OUTSIDE = "(outside stages)"  # the row for time in no named stage
NOT_OPS = (MEMORY_EVENT_NAME, OUT_OF_MEMORY_EVENT_NAME)  # allocation markers, not work
MS_FORMAT = "{:.3f}"  # times in ms, to the microsecond
CELL_FORMATS = {"share": "{:.1%}", "calls": "{:g}", "ranges": "{:g}"}


def kernel_records(events: Sequence[Event], device_type: str) -> pd.DataFrame:
    """One row per kernel (CUDA: GPU kernels, copies and memsets) or per op (CPU), with its self
    time in us: GPU time on CUDA, host time outside child ops on the CPU. Ranges are left out."""
    if device_type == "cuda":
        rows = [
            (e.name, e.device_time_total)
            for e in events
            if e.device_type == DeviceType.CUDA and not e.is_user_annotation
        ]
    else:
        rows = [
            (e.name, e.self_cpu_time_total)
            for e in events
            if e.device_type == DeviceType.CPU
            and not (e.is_user_annotation or e.is_async or e.name in NOT_OPS)
        ]
    return pd.DataFrame(rows, columns=["name", "self_us"])


def kernel_table(records: pd.DataFrame, reps: int) -> pd.DataFrame:
    """Kernels by self time per call, largest first: calls and ms per call, share of the total."""
    grouped = records.groupby("name", sort=False)["self_us"].agg(["count", "sum"])
    total = grouped["sum"].sum()
    table = pd.DataFrame(
        {
            "name": grouped.index,
            "calls": grouped["count"].to_numpy() / reps,
            "self_ms": grouped["sum"].to_numpy() / reps / 1e3,
            "share": grouped["sum"].to_numpy() / total if total > 0 else 0.0,
        }
    )
    return table.sort_values("self_ms", ascending=False, kind="stable").reset_index(drop=True)


def stage_table(steps: Sequence[StepTimes]) -> pd.DataFrame:
    """Median per call of each stage's time (split into forward and backward when there is a
    backward), its share of the call and the ranges it opens per call; a last row holds the time
    outside every stage."""
    names = list(dict.fromkeys(n for s in steps for n in s.stage_us()))

    def median_ms(values: list[float]) -> float:
        return statistics.median(values) / 1e3 if values else 0.0

    rows = [
        {
            "stage": n,
            "ranges": statistics.median([s.ranges.get(n, 0) for s in steps]),
            "fwd_ms": median_ms([s.forward.get(n, 0.0) for s in steps]),
            "bwd_ms": median_ms([s.backward.get(n, 0.0) for s in steps]),
            "ms": median_ms([s.stage_us().get(n, 0.0) for s in steps]),
        }
        for n in names
    ]
    outside = median_ms([s.total_us - sum(s.stage_us().values()) for s in steps])
    rows.append({"stage": OUTSIDE, "ranges": None, "ms": max(outside, 0.0)})
    table = pd.DataFrame(rows, columns=["stage", "ranges", "fwd_ms", "bwd_ms", "ms"])
    total = median_ms([s.total_us for s in steps])
    table["share"] = table["ms"] / total if total > 0 else 0.0
    if not any(s.backward for s in steps):
        table = table.drop(columns=["fwd_ms", "bwd_ms"])
    return table


def cell(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, str):
        return value if len(value) <= NAME_WIDTH else value[: NAME_WIDTH - 3] + "..."
    return CELL_FORMATS.get(column, MS_FORMAT).format(value)


def render(table: pd.DataFrame, top: int | None = None) -> str:
    """A table for the terminal: ms to the microsecond, shares as percentages, long names cut."""
    from tabulate import tabulate

    shown = table.head(top) if top is not None else table
    rows = [[cell(c, v) for c, v in zip(shown.columns, row, strict=True)] for row in shown.values]
    align = ("left",) + ("right",) * (len(shown.columns) - 1)
    return tabulate(rows, headers=list(shown.columns), colalign=align, disable_numparse=True)
