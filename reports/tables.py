"""Tables of one group of rows: a numeric summary (latency, speedup, memory, throughput), its
display pivots (implementation x sequence length), crossover lengths and scaling exponents.

Numbers come from `summarise`, `crossovers` and `scaling`; the `*_table` functions only format.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bench.defaults import NOISY_SPREAD
from reports import noise, selection
from reports.selection import Choice
from reports.stats import CONFIDENCE, MIN_FIT_POINTS, loglog_crossing, loglog_slope, upper_half
from reports.units import by_magnitude

THROTTLED_MARK = "†"
UNVERIFIED_MARK = "‡"
UNCHECKED_MARK = "°"
NOISY_MARK = "~"
THROTTLED_NOTE = f"{THROTTLED_MARK} the GPU was throttled during this measurement (NVML)"
UNVERIFIED_NOTE = f"{UNVERIFIED_MARK} output did not match the float64 reference (verified=false)"
UNCHECKED_NOTE = (
    f"{UNCHECKED_MARK} not checked against the float64 reference at this shape (verified=null; "
    "the method says why)"
)
NOISY_NOTE = (
    f"{NOISY_MARK} noisy latency: p90/p10 above {NOISY_SPREAD:g}, or the host's load above its "
    "CPU count during the measurement"
)
# Which marks a cell carries: quantities derived from the latency carry all of them; peak memory
# is not timed, so neither the latency's noise nor a throttled clock says anything about it.
LATENCY_MARKS = ("throttled", "unverified", "unchecked", "noisy")
MEMORY_MARKS = ("unverified", "unchecked")
# Throughput columns: (column, quantity); the unit is picked by magnitude (reports/units.py).
THROUGHPUT = (
    ("tflops", "Throughput"),
    ("tflops_issued", "Throughput of issued FLOPs"),
    ("gbps", "Memory traffic (minimum bytes / time)"),
)
CONVENTIONS_NOTE = (
    "Effective FLOPs follow each family's own convention (attention: FlashAttention's, the causal "
    "half of the scores; Hyena: the paper's appendix, FFT convolutions as 5·L·log2(L) per "
    "channel), so FLOP/s compare implementations within a family, not across families; "
    "issued FLOPs count the matmuls, convolutions and FFTs the code runs (masked scores and zero "
    "padding included), comparable across families (operators/counts.py)."
)
FLOPS_NOTES = {
    "tflops": "FLOPs in each family's own convention: compare within a family, not across "
    "(the method says more)",
    "tflops_issued": "FLOPs the code issues (matmuls, convolutions, FFTs): comparable across "
    "families",
}
STATUS_TEXT = {"oom": "OOM", "skipped": "skipped", "error": "error", "timeout": "timeout"}
NOT_CROSSING = "not within the measured range"
FASTEST_HYENA_LABEL = "fastest Hyena"
MIB = 2**20
Row = Mapping[str, Any]  # one summary row, column name to value
Cell = Callable[[Row], str]  # formats one summary row as a table cell


@dataclass(frozen=True)
class Table:
    """A display table with its caption and footnotes."""

    title: str
    frame: pd.DataFrame
    notes: tuple[str, ...] = field(default=())


def length_label(n: float) -> str:
    """1024 -> '1k', 65536 -> '64k'; other lengths as integers."""
    n = round(float(n))
    return f"{n // 1024}k" if n % 1024 == 0 else str(n)


# Three significant figures of a value this large round to four digits ("1e+03" in the `g`
# format): from here on the value is written whole, with thousands separators.
WHOLE_FROM = 999.5


def number(x: float) -> str:
    """Three significant figures without exponents: 0.0625, 19.2, 512, 1,000 (999.7), 1,229."""
    return f"{x:,.0f}" if abs(x) >= WHOLE_FROM else f"{x:.3g}"


def is_true(value: object) -> bool:
    return value is True or (isinstance(value, (bool, np.bool_)) and bool(value))


# --- numbers -----------------------------------------------------------------------------------


def summarise(group: pd.DataFrame, baseline: Choice) -> pd.DataFrame:
    """One row per measurement with derived speedup, memory in MiB and throughput."""
    rows = group.sort_values(["family", "impl", "seqlen"]).reset_index(drop=True)
    ok = rows["status"] == "ok"
    median = rows["latency_ms_median"].astype(float).where(ok)
    base = selection.fastest(group, baseline.impls)
    base_median = rows["seqlen"].map(base["latency_ms_median"]).astype(float)
    tokens = rows["tokens_per_s"].astype(float)
    tokens = tokens.fillna(rows["batch"] * rows["seqlen"] / (median / 1e3))
    return pd.DataFrame(
        {
            "impl": rows["impl"],
            "family": rows["family"],
            "seqlen": rows["seqlen"],
            "status": rows["status"],
            "reason": rows["reason"],
            "latency_ms_median": median,
            "latency_ms_p10": rows["latency_ms_p10"].astype(float).where(ok),
            "latency_ms_p90": rows["latency_ms_p90"].astype(float).where(ok),
            "speedup": base_median / median,
            "baseline": rows["seqlen"].map(base["impl"]) if len(base) else None,
            "peak_mem_mib": rows["peak_mem_bytes"].astype(float).where(ok) / MIB,
            "tflops": rows["tflops"].astype(float).where(ok),
            "tflops_issued": rows["tflops_issued"].astype(float).where(ok),
            "gbps": rows["gbps"].astype(float).where(ok),
            "tokens_per_s": tokens.where(ok),
            "throttled": rows["throttled"].map(is_true),
            "noisy": noisy_rows(rows),
            "verified": rows["verified"].map(lambda v: v is not False),
            "unchecked": ok & rows["verified"].isna(),
        }
    )


def noisy_rows(rows: pd.DataFrame) -> pd.Series:
    """Ok rows with a wide spread or measured on a busy host (reports.noise)."""
    return ((noise.noisy(rows) | noise.busy(rows)) & (rows["status"] == "ok")).astype(bool)


def noisy_points(group: pd.DataFrame) -> set[tuple[str, int]]:
    """(impl, seqlen) of the noisy rows of a group."""
    marked = group[noisy_rows(group)]
    return set(zip(marked["impl"], marked["seqlen"].astype(int), strict=True))


def series(group: pd.DataFrame) -> dict[str, pd.Series]:
    """Median latency by seqlen for every implementation, and for the fastest Hyena."""
    ok = group[(group["status"] == "ok") & group["latency_ms_median"].notna()]
    lengths = ok["seqlen"].to_numpy()
    latency = ok["latency_ms_median"].to_numpy(dtype=float)
    out = {
        impl: pd.Series(
            latency[at], index=pd.Index(lengths[at], name="seqlen"), name="latency_ms_median"
        ).sort_index()
        for impl, at in sorted(ok.groupby("impl").indices.items())
    }
    hyenas = selection.hyena(group).impls
    if len(hyenas) > 1:
        out[FASTEST_HYENA_LABEL] = selection.fastest(group, hyenas)["latency_ms_median"]
    return out


def common_lengths(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The lengths where both series have a value, ascending, and a's values over b's there."""
    both, in_a, in_b = np.intersect1d(a.index, b.index, return_indices=True)
    x, y = a.to_numpy(dtype=float)[in_a], b.to_numpy(dtype=float)[in_b]
    kept = ~(np.isnan(x) | np.isnan(y))
    return both[kept].astype(float), x[kept] / y[kept]


def crossover_text(lengths: np.ndarray, ratio: np.ndarray, failed_from: float | None) -> str:
    if len(lengths) == 0:
        return "no common lengths"
    where = loglog_crossing(lengths, ratio)
    if where is None:
        oom = f" (attention OOM from {length_label(failed_from)})" if failed_from else ""
        return NOT_CROSSING + oom
    if (ratio >= 1).all():
        return f"faster throughout (from {length_label(lengths[0])})"
    return f"{where:,.0f}"


def crossovers(group: pd.DataFrame) -> pd.DataFrame:
    """Sequence length at which each Hyena series overtakes each attention series."""
    lat = series(group)
    hyenas = [*selection.hyena(group).impls, FASTEST_HYENA_LABEL]
    attentions = selection.impls_with_ok_rows(group, family="attention")
    noisy_at = noisy_points(group)
    fastest = selection.fastest(group, selection.hyena(group).impls)
    # Each attention series' first out-of-memory length, found once (not per Hyena series).
    oom_from = group["seqlen"][group["status"] == "oom"].groupby(group["impl"]).min()
    records = []
    for h in (h for h in hyenas if h in lat):
        for a in attentions:
            lengths, ratio = common_lengths(lat[a], lat[h])
            where = loglog_crossing(lengths, ratio) if len(lengths) else None
            impls = {
                n: (fastest["impl"].get(int(n), h) if h == FASTEST_HYENA_LABEL else h)
                for n in lengths
            }
            records.append(
                {
                    "hyena": h,
                    "attention": a,
                    "crossover_seqlen": where,
                    "text": crossover_text(lengths, ratio, oom_from.get(a)),
                    "noisy": any(
                        (impls[n], int(n)) in noisy_at or (a, int(n)) in noisy_at for n in lengths
                    ),
                }
            )
    columns = ["hyena", "attention", "crossover_seqlen", "text", "noisy"]
    return pd.DataFrame(records, columns=columns)


def scaling(group: pd.DataFrame) -> pd.DataFrame:
    """Scaling exponent (slope of log latency vs log L) over the upper half of each series."""
    records = []
    families = group.drop_duplicates("impl").set_index("impl")["family"]
    noisy_at = noisy_points(group)
    for impl, lat in series(group).items():
        if impl == FASTEST_HYENA_LABEL:
            continue
        fit_lengths = upper_half(list(lat.index))
        fit = loglog_slope(fit_lengths, lat.loc[fit_lengths].to_numpy())
        if fit is None:
            continue
        records.append(
            {
                "impl": impl,
                "family": families[impl],
                "exponent": fit.exponent,
                "stderr": fit.stderr,
                "low": fit.low,
                "high": fit.high,
                "lengths": ", ".join(length_label(n) for n in fit.lengths),
                "noisy": any((impl, int(n)) in noisy_at for n in fit.lengths),
            }
        )
    columns = ["impl", "family", "exponent", "stderr", "low", "high", "lengths", "noisy"]
    return pd.DataFrame(records, columns=columns)


# --- display -----------------------------------------------------------------------------------


def _marks(row: Row, kinds: tuple[str, ...] = LATENCY_MARKS) -> str:
    marks = {
        "throttled": (THROTTLED_MARK, row["throttled"]),
        "unverified": (UNVERIFIED_MARK, not row["verified"]),
        "unchecked": (UNCHECKED_MARK, row["unchecked"]),
        "noisy": (NOISY_MARK, row["noisy"]),
    }
    return "".join(mark for kind, (mark, on) in marks.items() if kind in kinds and on)


def ran(summary: pd.DataFrame) -> pd.Series:
    """Rows of implementations with at least one ok measurement in this group."""
    return summary["impl"].isin(summary.loc[summary["status"] == "ok", "impl"])


def _pivot(summary: pd.DataFrame, cell: Cell) -> pd.DataFrame:
    """Implementation x length, for implementations that ran at least once."""
    summary = summary[ran(summary)]
    # Rows as dicts: a DataFrame.apply builds a Series for each row, ten times the cost.
    cells = summary.assign(cell=[cell(row) for row in summary.to_dict("records")])
    table = cells.pivot(index="impl", columns="seqlen", values="cell").fillna("")
    table.columns = [length_label(n) for n in table.columns]
    table.index.name = "implementation"
    return table


def _notes(summary: pd.DataFrame, kinds: tuple[str, ...] = LATENCY_MARKS) -> tuple[str, ...]:
    """The footnotes for the marks that occur among `kinds`, in the table's own rows."""
    summary = summary[ran(summary)]
    ok = summary["status"] == "ok"
    flags = {
        "throttled": (THROTTLED_NOTE, summary["throttled"]),
        "unverified": (UNVERIFIED_NOTE, ok & ~summary["verified"]),
        "unchecked": (UNCHECKED_NOTE, summary["unchecked"]),
        "noisy": (NOISY_NOTE, summary["noisy"]),
    }
    return tuple(note for kind, (note, rows) in flags.items() if kind in kinds and rows.any())


def not_run(summary: pd.DataFrame) -> tuple[str, ...]:
    """Implementations without a single ok row, each with its first status and reason."""
    never = summary[~ran(summary)].drop_duplicates("impl")
    return tuple(
        f"{r.impl} ({r.status}: {r.reason})" if r.reason else f"{r.impl} ({r.status})"
        for r in never.itertuples()
    )


def not_run_note(summary: pd.DataFrame) -> tuple[str, ...]:
    items = not_run(summary)
    return ("Not run in this setting: " + "; ".join(items),) if items else ()


def _number_or_status(
    column: str, unit: str = "", kinds: tuple[str, ...] = LATENCY_MARKS, scale: float = 1.0
) -> Cell:
    def cell(row: Row) -> str:
        if row["status"] != "ok":
            return STATUS_TEXT.get(row["status"], str(row["status"]))
        value = row[column]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        return number(value * scale) + unit + _marks(row, kinds)

    return cell


def latency_table(summary: pd.DataFrame) -> Table:
    def cell(row: Row) -> str:
        if row["status"] != "ok":
            return STATUS_TEXT.get(row["status"], str(row["status"]))
        return (
            f"{number(row['latency_ms_median'])} ({number(row['latency_ms_p10'])}–"
            f"{number(row['latency_ms_p90'])}){_marks(row)}"
        )

    return Table(
        "Latency, ms: median (p10–p90)",
        _pivot(summary, cell),
        _notes(summary) + not_run_note(summary),
    )


def speedup_table(summary: pd.DataFrame, baseline: Choice) -> Table | None:
    if not baseline.impls:
        return None
    table = _pivot(summary, _number_or_status("speedup", "×"))
    per_length = summary.dropna(subset=["baseline"]).drop_duplicates("seqlen")
    base_row = pd.Series(
        {
            length_label(n): b
            for n, b in zip(per_length["seqlen"], per_length["baseline"], strict=True)
        }
    )
    table.loc["(baseline at this length)"] = base_row.reindex(table.columns).fillna("–")
    notes = (baseline.note,) if baseline.note else ()
    title = f"Speedup over {baseline.label} (ratio of medians; > 1 is faster)"
    return Table(title, table, notes + _notes(summary))


def memory_table(summary: pd.DataFrame) -> Table:
    """Peak memory in the unit its magnitude calls for; only the correctness mark applies."""
    unit = by_magnitude("peak_mem_mib", summary["peak_mem_mib"])
    cell = _number_or_status("peak_mem_mib", kinds=MEMORY_MARKS, scale=unit.scale)
    return Table(f"Peak memory, {unit.name}", _pivot(summary, cell), _notes(summary, MEMORY_MARKS))


def throughput_tables(summary: pd.DataFrame) -> list[Table]:
    """FLOP/s and bytes/s tables, each in the unit its magnitude calls for (the plots use the
    same unit); they are derived from the latency, so its marks and notes apply."""
    tables = []
    for column, quantity in THROUGHPUT:
        values = summary[column]
        if values.notna().any():
            unit = by_magnitude(column, values)
            cell = _number_or_status(column, scale=unit.scale)
            notes = _notes(summary) + ((FLOPS_NOTES[column],) if column in FLOPS_NOTES else ())
            tables.append(Table(f"{quantity}, {unit.name}", _pivot(summary, cell), notes))
    return tables


def crossover_table(crossing: pd.DataFrame) -> Table | None:
    if crossing.empty:
        return None
    marked = crossing.assign(
        text=crossing["text"] + crossing["noisy"].map(lambda n: NOISY_MARK if n else "")
    )
    table = marked.pivot(index="hyena", columns="attention", values="text").fillna("")
    table.index.name = "Hyena \\ attention"
    table.columns.name = None
    return Table(
        "Crossover: sequence length from which Hyena is faster (log-log interpolation)",
        table,
        derived_noise_note(crossing),
    )


def derived_noise_note(frame: pd.DataFrame) -> tuple[str, ...]:
    """The noisy mark's note for a table computed from several rows."""
    if not frame["noisy"].any():
        return ()
    return (f"{NOISY_MARK} computed from at least one noisy row ({NOISY_NOTE[2:]})",)


def scaling_table(fits: pd.DataFrame) -> Table | None:
    if fits.empty:
        return None
    table = pd.DataFrame(
        {
            "implementation": fits["impl"],
            "exponent k (latency ∝ L^k)": [
                (f"{k:.2f} [{lo:.2f}, {hi:.2f}]" if not math.isnan(lo) else f"{k:.2f}")
                + (NOISY_MARK if noisy else "")
                for k, lo, hi, noisy in zip(
                    fits["exponent"], fits["low"], fits["high"], fits["noisy"], strict=True
                )
            ],
            "lengths fitted": fits["lengths"],
        }
    ).set_index("implementation")
    return Table(
        f"Scaling exponent over the upper half of the measured lengths (at least "
        f"{MIN_FIT_POINTS} where the run has them), {CONFIDENCE:.0%} interval from the t "
        f"distribution with (lengths - 2) degrees of freedom",
        table,
        derived_noise_note(fits),
    )
