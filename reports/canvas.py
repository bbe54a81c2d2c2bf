"""Conventions every report figure shares: size, constrained layout (so that no label, title or
legend is cut), wrapped titles and legend lines, lengths on a log2 x axis with plain tick labels,
log y ticks as plain numbers, out-of-memory markers along the top edge, and reproducible files.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import image
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure as Canvas  # no pyplot: no global figure state, no backend
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator
from matplotlib.transforms import blended_transform_factory

from reports.tables import length_label

FIGSIZE = (9.0, 4.8)  # inches; readable at README width, legend to the right of the axes
PANEL_WIDTH = 3.4  # inches added on the right for a small side panel
FEW_DECADES = 2.5  # a log axis spanning less than this also labels 2x and 5x each power of ten
TITLE_WIDTH = 64  # characters per title line: a wrapped title stays over its axes at 9 pt
LEGEND_WIDTH = 40  # characters per legend line: the legend leaves the axes most of the width
DPI = 110
SVG_SALT = "hyena-bench"  # fixed SVG element ids: regenerating a report changes only what moved
GRID_ALPHA = 0.25  # gridlines read through, under the data
GRID_ZORDER = 1.5  # where matplotlib puts gridlines: above shaded bands, below lines
EDGE_Y = 0.97  # where an OOM marker sits, as a fraction of the axes height
EDGE_STEP = 0.035  # each further series' OOM markers sit this much lower, so none hide another
# Text in figures is plain: a device or stage name from a stranger's results holding two `$`
# must not be parsed as mathtext (a parse error would end the report; none of ours uses it).
matplotlib.rcParams["text.parse_math"] = False


@dataclass(frozen=True)
class Plot:
    """A saved figure: its caption and the files, relative to the report directory."""

    title: str
    png: str
    svg: str | None  # written only when asked for (`report --format ...,svg`)


@dataclass(frozen=True)
class Drawn:
    """A figure before it is written: what it shows (file-name suffix) and its caption."""

    kind: str
    title: str
    figure: Canvas


def new_figure(panel: bool = False) -> tuple[Canvas, Axes, Axes | None]:
    """One axes, or with `panel` a wider figure with a small second axes on the right.
    Constrained layout sizes the margins to the labels, legend and title, so none is cut."""
    if not panel:
        fig = Canvas(figsize=FIGSIZE, layout="constrained")
        return fig, fig.subplots(), None
    fig = Canvas(figsize=(FIGSIZE[0] + PANEL_WIDTH, FIGSIZE[1]), layout="constrained")
    main, side = fig.subplots(1, 2, width_ratios=(3, 1))
    return fig, main, side


def style(
    ax: Axes,
    title: str,
    ylabel: str,
    xlabel: str = "sequence length L (tokens)",
    width: int = TITLE_WIDTH,
) -> None:
    """Wrapped title, axis labels, log2 lengths against a log y axis, a light grid."""
    ax.set_title(wrap(title, width), fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=GRID_ALPHA)


def wrap(text: str, width: int) -> str:
    """Lines of at most `width` characters, never broken inside a hyphenated name."""
    return textwrap.fill(text, width, break_on_hyphens=False)


def legend(ax: Axes, **where: object) -> None:
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [wrap(label, LEGEND_WIDTH) for label in labels], fontsize=7, **where)


def label_lengths(ax: Axes, lengths: list[int]) -> None:
    ax.set_xticks(lengths, [length_label(n) for n in lengths])
    ax.xaxis.set_minor_locator(NullLocator())


def plain_log_y(ax: Axes) -> None:
    """Log y ticks as plain numbers (0.1, 1, 10, not 10^-1); 2 and 5 between the powers of ten
    too when the axis spans few decades, so that it has more than one or two labels."""
    low, high = ax.get_ylim()
    subs = (1.0, 2.0, 5.0) if math.log10(high / low) < FEW_DECADES else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def minor_grid(ax: Axes) -> None:
    """The log y axis's minor gridlines as one artist, at the minor ticks' places (2..9 times each
    power of ten, less the major ones), and no minor tick objects: each of those is two marks, a
    gridline and two labels, measured and drawn one by one, a third of a figure's drawing time
    (a 2,600-row report draws 80 figures). The y limits are fixed first: the lines belong to
    them."""
    low, high = ax.get_ylim()
    ax.set_ylim(low, high)
    majors = ax.yaxis.get_majorticklocs()
    places = [
        y
        for y in LogLocator(subs="auto").tick_values(low, high)
        if low < y < high and not np.isclose(majors, y, rtol=1e-9).any()
    ]
    ax.yaxis.set_minor_locator(NullLocator())
    lines = LineCollection(
        [[(0.0, y), (1.0, y)] for y in places],
        transform=ax.get_yaxis_transform(),
        colors=matplotlib.rcParams["grid.color"],
        linewidths=matplotlib.rcParams["grid.linewidth"],
        alpha=GRID_ALPHA,
        zorder=GRID_ZORDER,
    )
    ax.add_collection(lines, autolim=False)


def mark_oom(ax: Axes, lengths: list[int], colour: object, slot: int) -> int:
    """An 'x' near the top edge at each length that ran out of memory; returns the next slot."""
    if not lengths:
        return slot
    edge = blended_transform_factory(ax.transData, ax.transAxes)
    ax.plot(
        lengths,
        [EDGE_Y - slot * EDGE_STEP] * len(lengths),
        "x",
        color=colour,
        ms=8,
        mew=2,
        transform=edge,
        clip_on=False,
    )
    return slot + 1


def oom_headroom(ax: Axes, slots: int) -> None:
    """A legend entry for the OOM markers and room above the data so they sit clear of it."""
    if slots:
        ax.plot([], [], "x", color="black", label="× at top: out of memory")
        low, high = ax.get_ylim()
        ax.set_ylim(low, high * (high / low) ** (EDGE_STEP * (slots + 1)))


def finish(ax: Axes, lengths: list[int], slots: int = 0, beside: bool = True) -> None:
    """Length ticks, OOM headroom, plain y ticks, and the legend: to the right of the axes
    (`beside`), else in their upper left corner (a small panel has no room beside it)."""
    label_lengths(ax, sorted(set(lengths)))
    oom_headroom(ax, slots)
    plain_log_y(ax)
    minor_grid(ax)
    if beside:
        legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        legend(ax, loc="upper left")


def save(drawn: Drawn, out_dir: Path, slug: str, svg: bool = False) -> Plot:
    """Write `<slug>-<kind>.png`, and with `svg` the same figure as SVG (no date, fixed ids: a
    rerun on the same rows rewrites the same SVG).

    One draw makes the PNG: the canvas draws once (constrained layout first) and its pixels are
    written as they are. `savefig` would draw twice, once only to place the axes, and the SVG
    (most of a figure's cost when written) reuses the places of that draw instead of measuring
    every label again. A 2,600-row report draws 80 figures: this is where its time goes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{slug}-{drawn.kind}"
    fig = drawn.figure
    fig.set_dpi(DPI)
    pixels = FigureCanvasAgg(fig)
    pixels.draw()
    fig.set_layout_engine("none")
    image.imsave(
        out_dir / f"{name}.png", pixels.buffer_rgba(), format="png", origin="upper", dpi=DPI
    )
    if svg:
        with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
            fig.savefig(out_dir / f"{name}.svg", dpi=DPI, metadata={"Date": None})
    return Plot(
        drawn.title, f"{out_dir.name}/{name}.png", f"{out_dir.name}/{name}.svg" if svg else None
    )
