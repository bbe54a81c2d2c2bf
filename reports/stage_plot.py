"""The stage figure: per implementation, each named stage's share of the layer's staged time at
each length (stacked bars), so a reader sees what dominates where. Stage colours are fixed by name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as Canvas  # no pyplot: no global figure state, no backend

from reports.canvas import FIGSIZE, Drawn, wrap
from reports.colours import stage_colour
from reports.load import Group
from reports.tables import length_label

MIN_STAGES = 2  # one stage is the whole time: nothing to compare
STAGE_COLUMNS = 3  # subplots per row in the stage figure
SUPTITLE_WIDTH = 90  # characters per line of the title over the whole figure (9 pt, 9 inches)
STAGE_ORDER = (
    "hyena.in_proj",
    "hyena.short_conv",
    "hyena.filter",
    "hyena.long_conv",
    "hyena.gating",
    "hyena.out_proj",
    "attention.projections",
    "attention.core",
    "attention.out_proj",
)


def stage_shares(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per implementation: share of each stage in the total staged time, by seqlen."""
    staged = rows[(rows["status"] == "ok") & rows["stage_ms"].map(lambda s: isinstance(s, dict))]
    out = {}
    for impl, part in staged.groupby("impl"):
        ms = pd.DataFrame(list(part["stage_ms"]), index=part["seqlen"]).sort_index().fillna(0.0)
        if ms.shape[1] < MIN_STAGES:
            continue
        order = [s for s in STAGE_ORDER if s in ms.columns]
        ms = ms[order + sorted(set(ms.columns) - set(order))]
        out[impl] = ms.div(ms.sum(axis=1), axis=0)
    return out


def stages_figure(group: Group, rows: pd.DataFrame) -> Drawn | None:
    shares = stage_shares(rows)
    if not shares:
        return None
    ncols = min(STAGE_COLUMNS, len(shares))
    nrows = -(-len(shares) // ncols)
    fig = Canvas(figsize=(FIGSIZE[0], FIGSIZE[1] * (1 + 0.6 * (nrows - 1))), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
    for ax in axes[len(shares) :]:
        ax.set_visible(False)
    for ax, (impl, share) in zip(axes, shares.items(), strict=False):
        x, bottom = [length_label(n) for n in share.index], np.zeros(len(share))
        for stage in share.columns:
            ax.bar(x, share[stage], 0.8, bottom=bottom, label=stage, color=stage_colour(stage))
            bottom += share[stage].to_numpy()
        ax.set_title(impl, fontsize=8)
        ax.set_xlabel("sequence length L")
    for ax in axes[::ncols]:
        ax.set_ylabel("share of the staged time")
    handles = {
        label: h for ax in axes for h, label in zip(*ax.get_legend_handles_labels(), strict=True)
    }
    fig.legend(handles.values(), handles.keys(), fontsize=7, loc="outside right upper")
    fig.suptitle(
        wrap(
            f"What dominates at each length: {group.device_label}, {group.dtype}, "
            f"batch {group.batch}, d_model {group.d_model}",
            SUPTITLE_WIDTH,
        ),
        fontsize=9,
    )
    return Drawn("stages", "Share of time by stage", fig)
