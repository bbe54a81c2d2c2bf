"""The run-level verdict on noise: was the machine busy, or are many rows noisy? If so, the report
opens with a plain warning that says which tables not to trust and how to get a clean run.

A busy machine is one whose 1-minute load average (runnable processes, env.json and each row's
load_1m_start/end) was above its CPU count: other work then took CPU time from the measured calls,
by a share that nothing in the row can undo. A noisy row has p90/p10 above
bench.defaults.NOISY_SPREAD. Timings are what suffers; peak memory and the float64 checks do not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.defaults import NOISY_SPREAD
from bench.store import env_value

# Share of ok rows measured while the load was above the CPU count that makes the run busy: a
# few such rows are marked in the tables; beyond this share the conclusions themselves move.
BUSY_ROWS_SHARE = 0.10
# Share of noisy ok rows above which the run is called noisy: the committed quiet CPU smoke run
# (reports/runs/cpu-2026-11-28) has 1 noisy row of 25 (4%); the same sweep beside other jobs on
# that 2-core machine (load 2.6-5.0, 2026-11-29) had 6 of 25 (24%).
NOISY_ROWS_SHARE = 0.20
# Tables computed from latencies (what a busy machine distorts).
TIMING_TABLES = (
    "latency, speedup, throughput, crossover and scaling tables and the claims' verdicts"
)


@dataclass(frozen=True)
class NoiseVerdict:
    """`warning` is the report's opening paragraph, or empty for a quiet run."""

    warning: str
    busy_rows: int
    noisy_rows: int
    ok_rows: int


def row_load(frame: pd.DataFrame) -> pd.Series:
    """The higher of each row's start and end load (NaN where not recorded)."""
    loads = frame.reindex(columns=["load_1m_start", "load_1m_end"]).astype(float)
    return loads.max(axis=1, skipna=True)


def busy(frame: pd.DataFrame) -> pd.Series:
    """Rows measured while the host's load was above its CPU count (column `cpu_count`, from
    env.json); False where either is unknown."""
    cpus = frame["cpu_count"].astype(float) if "cpu_count" in frame else pd.Series(float("nan"))
    return (row_load(frame) > cpus).fillna(False).astype(bool)


def noisy(frame: pd.DataFrame) -> pd.Series:
    """Ok rows whose p90/p10 is above NOISY_SPREAD."""
    spread = frame["latency_ms_p90"].astype(float) / frame["latency_ms_p10"].astype(float)
    return ((spread > NOISY_SPREAD) & (frame["status"] == "ok")).fillna(False).astype(bool)


def run_loads(envs: Iterable[dict[str, Any]]) -> list[tuple[float, float, int]]:
    """(load at start, load at end, CPU count) of each run that recorded them."""
    found = []
    for env in envs:
        cpus = env_value(env, "cpu.threads")
        start, end = env_value(env, "load.start.1m"), env_value(env, "load.end.1m")
        if cpus and start is not None:
            found.append((float(start), float(end if end is not None else start), int(cpus)))
    return found


def verdict(frame: pd.DataFrame, envs: Iterable[dict[str, Any]]) -> NoiseVerdict:
    """The warning (or none) for these rows and the environments of their runs."""
    ok = frame["status"] == "ok"
    n_ok = int(ok.sum())
    n_busy, n_noisy = int((busy(frame) & ok).sum()), int((noisy(frame) & ok).sum())
    reasons = []
    for start, end, cpus in run_loads(envs):
        if max(start, end) > cpus:
            reasons.append(
                f"the machine was busy: its 1-minute load average was {start:.1f} when the run "
                f"started and {end:.1f} when it finished, above its {cpus} CPUs"
            )
    if n_ok and n_busy > BUSY_ROWS_SHARE * n_ok:
        reasons.append(f"{n_busy} of {n_ok} rows were measured while the load was above it")
    if n_ok and n_noisy > NOISY_ROWS_SHARE * n_ok:
        reasons.append(
            f"{n_noisy} of {n_ok} rows are noisy (p90/p10 above {NOISY_SPREAD:g}; more than "
            f"{NOISY_ROWS_SHARE:.0%} means the machine did not give steady times)"
        )
    if not reasons:
        return NoiseVerdict("", n_busy, n_noisy, n_ok)
    cpus = min((c for _, _, c in run_loads(envs)), default=None)
    quiet = f"below {cpus}" if cpus else "below the CPU count"
    because = "; ".join(reasons)
    warning = (
        "Warning: do not trust the timings of this run. "
        + because[0].upper()
        + because[1:]
        + f". Other work took CPU time from the measured calls, by a share that changes from row "
        f"to row, so the {TIMING_TABLES} below can be wrong, even in their ordering (the rows "
        "measured under load or with a wide spread carry the ~ mark). Peak memory and the "
        "float64 checks are not affected. For a clean run, stop other work on the machine, "
        f"wait until `uptime` shows a 1-minute load {quiet}, and run the same command again "
        "(env.json records the load at the start and end of the run, each row its own)."
    )
    return NoiseVerdict(warning, n_busy, n_noisy, n_ok)
