"""Figures for one group of rows: latency (median line, p10-p90 band), speedup (the paper's claims
as markers at their lengths), peak memory and throughput against sequence length (log-log), and
the stage figure (reports/stage_plot.py). PNG for the markdown and HTML report; SVG, on request,
for print.

The paper's Figure 4.3 series (batch 64, on a GPU) share the latency axes only where the rows were
measured in a comparable setting: a CUDA device at the figure's batch. Anywhere else (a CPU run,
another batch) they are drawn in a separate small panel titled as the paper's GPU numbers, so a
B=64 GPU curve is never read as a reference line for, say, a B=1 CPU run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from reports import selection
from reports.canvas import (
    TITLE_WIDTH,
    Drawn,
    Plot,
    finish,
    mark_oom,
    new_figure,
    save,
    style,
)
from reports.claims import Claim, Figure
from reports.colours import PAPER_GREY, impl_colour
from reports.load import Group
from reports.selection import Choice
from reports.stage_plot import stages_figure
from reports.tables import length_label
from reports.units import by_magnitude

BAND_ALPHA = 0.18  # p10-p90 band: visible, yet lines of other series read through it
BAND_LABEL = "shaded: p10–p90 of the per-call samples"
PAPER_DEVICE = "cuda"  # Figure 4.3 was measured on a GPU (the paper does not name which)
PAPER_STYLES = {"hyena": "--", "attention": ":", "flash_attention": "-."}
CLAIM_MARKERS = ("*", "P", "X", "D")  # one shape per claimed point, in order of length
CLAIM_BASELINES = {selection.FASTEST_FLASH: "FlashAttention", selection.FASTEST_HYENA: "Hyena"}

__all__ = ["Drawn", "Plot", "draw_all", "figures"]


def setting(group: Group) -> str:
    return (
        f"{group.device_label}, {group.dtype}, batch {group.batch}, d_model {group.d_model} "
        f"({group.level}, {group.mode})"
    )


def comparable(rows: pd.DataFrame, figure: Figure) -> bool:
    """Whether the paper's series may share our axes: same device class and the figure's batch."""
    return bool((rows["device"] == PAPER_DEVICE).all() and (rows["batch"] == figure.batch).all())


def plot_series(
    ax: Axes,
    summary: pd.DataFrame,
    column: str,
    scale: float = 1.0,
    band: tuple[str, str] | None = None,
) -> int:
    """One line per implementation (gid `series:<impl>`), its `band` columns shaded (gid
    `band:<impl>`), OOM markers at the top, rings on throttled points.
    Returns the number of OOM marker rows used.

    The columns are read once as arrays and split by implementation: selecting each one's rows
    as frames cost more than drawing them (a 2,600-row report draws 80 of these figures)."""
    slot = 0
    lengths = summary["seqlen"].to_numpy()
    status = summary["status"].to_numpy()
    family = summary["family"].to_numpy()
    values = summary[column].to_numpy(dtype=float) * scale
    throttled = summary["throttled"].to_numpy(dtype=bool)
    low, high = (
        (
            summary[band[0]].to_numpy(dtype=float) * scale,
            summary[band[1]].to_numpy(dtype=float) * scale,
        )
        if band is not None
        else (values, values)
    )
    for impl, at in sorted(summary.groupby("impl").indices.items()):
        colour = impl_colour(str(impl))
        ok = at[(status[at] == "ok") & ~np.isnan(values[at])]
        fmt = "o-" if family[at[0]] == "hyena" else "s-"
        (line,) = ax.plot(lengths[ok], values[ok], fmt, color=colour, label=impl, ms=4, lw=1.5)
        line.set_gid(f"series:{impl}")
        if band is not None and len(ok):
            shade = ax.fill_between(
                lengths[ok], low[ok], high[ok], color=colour, alpha=BAND_ALPHA, lw=0
            )
            shade.set_gid(f"band:{impl}")
        slot = mark_oom(ax, list(lengths[at[status[at] == "oom"]]), colour, slot)
        hot = ok[throttled[ok]]
        if len(hot):
            ax.plot(lengths[hot], values[hot], "o", ms=11, mfc="none", mec="red", mew=1.5)
    if band is not None:
        ax.fill_between([], [], [], color="grey", alpha=BAND_ALPHA * 2, lw=0, label=BAND_LABEL)
    if throttled.any():
        ax.plot([], [], "o", ms=11, mfc="none", mec="red", label="GPU throttled")
    return slot


def plot_paper(ax: Axes, figure: Figure, slot: int, prefix: str) -> int:
    """The figure's series in grey, each with its own dash; OOM markers where it has none."""
    for name, values in figure.series.items():
        points = [(n, v) for n, v in zip(figure.seqlen, values, strict=True) if v is not None]
        (line,) = ax.plot(
            *zip(*points, strict=True),
            PAPER_STYLES.get(name, "--"),
            color=PAPER_GREY,
            lw=1.2,
            label=f"{prefix}{figure.names[name]}",
        )
        line.set_gid(f"paper:{name}")
        oom = [n for n, v in zip(figure.seqlen, values, strict=True) if v is None]
        slot = mark_oom(ax, oom, PAPER_GREY, slot)
    return slot


def paper_panel(ax: Axes, figure: Figure) -> None:
    """The paper's series on their own small axes, titled as what they are."""
    style(
        ax,
        f"The paper's GPU numbers (Fig. 4.3, batch {figure.batch}): a different setting, "
        "for reference only",
        "latency (ms)",
        "L (tokens)",
        width=TITLE_WIDTH // 2,
    )
    finish(ax, list(figure.seqlen), plot_paper(ax, figure, 0, ""), beside=False)
    ax.tick_params(axis="x", labelsize=7)


def claim_baseline(claim: Claim) -> str:
    return CLAIM_BASELINES.get(claim.baseline, claim.baseline)


def claim_markers(ax: Axes, claims: list[Claim], lengths: list[int]) -> None:
    """Each claimed point as a marker at its own length and threshold (gid `claim:<ids>`) when
    that length lies within the measured ones; a legend line for the others. Claims at the same
    point share a marker."""
    points: dict[tuple[int, float], list[Claim]] = {}
    for claim in sorted(claims, key=lambda c: (c.seqlen, c.threshold)):
        points.setdefault((claim.seqlen, claim.threshold), []).append(claim)
    low, high = min(lengths), max(lengths)
    shapes = iter(CLAIM_MARKERS * len(points))
    for (seqlen, threshold), group in points.items():
        ids = ", ".join(c.id for c in group)
        against = " / ".join(dict.fromkeys(claim_baseline(c) for c in group))
        text = f"claim {ids}: {threshold:g}× over {against} at {length_label(seqlen)}"
        if low <= seqlen <= high:
            (marker,) = ax.plot(
                [seqlen], [threshold], next(shapes), color="black", mfc="gold", ms=11, label=text
            )
            marker.set_gid(f"claim:{ids}")
        else:
            ax.plot([], [], " ", label=f"{text}: beyond the measured lengths")


def latency_figure(
    group: Group, rows: pd.DataFrame, summary: pd.DataFrame, figure: Figure | None
) -> Drawn:
    overlay = figure is not None and comparable(rows, figure)
    fig, ax, side = new_figure(panel=figure is not None and not overlay)
    style(ax, f"Latency: {setting(group)}", "latency (ms): median line, p10–p90 shaded")
    band = ("latency_ms_p10", "latency_ms_p90")
    slots = plot_series(ax, summary, "latency_ms_median", band=band)
    lengths = list(summary["seqlen"])
    if overlay:
        slots = plot_paper(ax, figure, slots, f"{figure.label}: ")
        lengths += list(figure.seqlen)
    finish(ax, lengths, slots)
    if side is not None:
        paper_panel(side, figure)
    return Drawn("latency", "Latency vs sequence length", fig)


def speedup_figure(
    group: Group, summary: pd.DataFrame, baseline: Choice, claims: list[Claim]
) -> Drawn:
    fig, ax, _ = new_figure()
    style(
        ax,
        f"Speedup over {baseline.label}: {setting(group)}",
        "speedup (×); above 1: faster than the baseline",
    )
    slots = plot_series(ax, summary, "speedup")
    ax.axhline(1.0, color="black", lw=0.8)
    if claims:
        claim_markers(ax, claims, list(summary["seqlen"]))
    finish(ax, list(summary["seqlen"]), slots)
    return Drawn("speedup", f"Speedup over {baseline.label}", fig)


def quantity_figure(
    group: Group, summary: pd.DataFrame, column: str, kind: str, quantity: str
) -> Drawn:
    """One quantity per implementation, in the unit its magnitude calls for (the table's)."""
    unit = by_magnitude(column, summary[column])
    fig, ax, _ = new_figure()
    style(ax, f"{quantity}: {setting(group)}", f"{quantity.lower()} ({unit.name})")
    finish(ax, list(summary["seqlen"]), plot_series(ax, summary, column, unit.scale))
    return Drawn(kind, f"{quantity} ({unit.name}) vs sequence length", fig)


def figures(
    group: Group,
    rows: pd.DataFrame,
    summary: pd.DataFrame,
    baseline: Choice,
    figure: Figure | None,
    claims: list[Claim],
) -> list[Drawn]:
    """Every figure for one group with at least one ok row (the paper's series and claims only
    where given). Implementations without an ok or out-of-memory row draw nothing."""
    drawn_impls = summary.loc[summary["status"].isin(["ok", "oom"]), "impl"]
    summary = summary[summary["impl"].isin(drawn_impls)]
    drawn = [latency_figure(group, rows, summary, figure)]
    if baseline.impls and summary["speedup"].notna().any():
        drawn.append(speedup_figure(group, summary, baseline, claims))
    if summary["peak_mem_mib"].notna().any():
        drawn.append(quantity_figure(group, summary, "peak_mem_mib", "memory", "Peak memory"))
    column = "tflops" if summary["tflops"].notna().any() else "tokens_per_s"
    drawn.append(quantity_figure(group, summary, column, "throughput", "Throughput"))
    stages = stages_figure(group, rows)
    return drawn + ([stages] if stages else [])


def draw_all(
    group: Group,
    rows: pd.DataFrame,
    summary: pd.DataFrame,
    baseline: Choice,
    figure: Figure | None,
    claims: list[Claim],
    out_dir: Path,
    slug: str,
    svg: bool = False,
) -> list[Plot]:
    """Draw and write every figure for one group (see `figures`), as PNG and with `svg` SVG."""
    drawn = figures(group, rows, summary, baseline, figure, claims)
    return [save(d, out_dir, slug, svg) for d in drawn]
