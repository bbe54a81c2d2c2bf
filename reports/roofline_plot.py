"""The roofline figure of one setting (reports/roofline.py computes its points and tables):
each implementation's points of arithmetic intensity against achieved FLOP rate, under the two
ceilings measured at the start of the run. Its own module so that a report without figures
never imports matplotlib.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.axes import Axes

from reports.canvas import Drawn, legend, new_figure, plain_log_y, wrap
from reports.colours import impl_colour
from reports.load import Group
from reports.tables import length_label, number
from reports.units import Unit, by_magnitude

CEILING_COLOUR = "black"
RIDGE_MARGIN = 4.0  # the memory line is drawn this factor beyond the points on either side


def draw_ceilings(ax: Axes, ceilings: dict[str, Any], low: float, high: float, unit: Unit) -> None:
    """The matmul line (flat) and the bandwidth line (rising) up to where they meet, in `unit`."""
    ridge = ceilings["matmul_tflops"] * 1e12 / (ceilings["copy_gbps"] * 1e9)  # FLOP/byte
    peak = ceilings["matmul_tflops"] * unit.scale
    bandwidth = peak / ridge  # the display unit per (FLOP/byte)
    left, right = min(low, ridge) / RIDGE_MARGIN, max(high, ridge) * RIDGE_MARGIN
    ax.plot([left, ridge], [bandwidth * left, peak], "--", color=CEILING_COLOUR, lw=1.2,
            label=f"copy bandwidth {number(ceilings['copy_gbps'])} GB/s")  # fmt: skip
    ax.plot([ridge, right], [peak, peak], "-", color=CEILING_COLOUR, lw=1.2,
            label=f"matmul {number(peak)} {unit.name} ({ceilings['dtype']})")  # fmt: skip
    ax.set_xlim(left, right)


def roofline_figure(group: Group, found: pd.DataFrame, ceilings: dict[str, Any]) -> Drawn | None:
    """Intensity against achieved rate (`found`: reports.roofline.points), one marker per
    implementation and length (lines join an implementation's lengths; its shortest and longest
    are labelled), both ceilings drawn."""
    if found.empty:
        return None
    fig, ax, _ = new_figure()
    ax.set_title(wrap(f"Roofline: {group.title()}", 64), fontsize=9)
    ax.set_xlabel("arithmetic intensity (issued FLOPs per byte of minimum traffic)")
    unit = by_magnitude("tflops_issued", [*found["achieved"] / 1e12, ceilings["matmul_tflops"]])
    ax.set_ylabel(f"achieved {unit.name} (issued FLOPs / median time)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.25)
    for impl, series in found.groupby("impl", sort=False):
        marker = "o" if series["family"].iloc[0] == "hyena" else "s"
        y = series["achieved"] / 1e12 * unit.scale
        ax.plot(series["intensity"], y, marker + "-", color=impl_colour(str(impl)),
                ms=5, lw=0.8, label=str(impl))  # fmt: skip
        for i in (0, -1):
            end = series.iloc[i]
            ax.annotate(length_label(end["seqlen"]), (end["intensity"], y.iloc[i]),
                        textcoords="offset points", xytext=(4, 3), fontsize=6)  # fmt: skip
    draw_ceilings(ax, ceilings, found["intensity"].min(), found["intensity"].max(), unit)
    plain_log_y(ax)
    legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return Drawn("roofline", "Roofline: achieved FLOP/s against arithmetic intensity", fig)
