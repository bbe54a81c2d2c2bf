"""Figures for one group of rows: latency, speedup, peak memory and throughput against sequence
length (log-log), and each stage's share of the layer's time. PNG for the markdown report, SVG
for print; the paper's Figure 4.3 series is drawn beside ours, grey and dashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure as Canvas  # no pyplot: no global figure state, no backend
from matplotlib.transforms import blended_transform_factory

from reports.claims import Claim, Figure
from reports.load import Group
from reports.selection import Choice
from reports.tables import length_label

FIGSIZE = (9.0, 4.8)  # inches; readable at README width, legend to the right of the axes
DPI = 110
EDGE_Y = 0.97  # where an OOM marker sits, as a fraction of the axes height
EDGE_STEP = 0.035  # each further series' OOM markers sit this much lower, so none hide another
PAPER_STYLES = {"hyena": "--", "attention": ":", "flash_attention": "-."}
MIN_STAGES = 2  # one stage is the whole time: nothing to compare
STAGE_COLUMNS = 3  # subplots per row in the stage figure
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


@dataclass(frozen=True)
class Plot:
    """A saved figure: its caption and the files, relative to the report directory."""

    title: str
    png: str
    svg: str


def colours(impls: list[str]) -> dict[str, tuple[float, ...]]:
    cmap = matplotlib.colormaps["tab10" if len(impls) <= 10 else "tab20"]
    return {impl: cmap(i % cmap.N) for i, impl in enumerate(sorted(impls))}


def new_axes(group: Group, what: str, ylabel: str) -> tuple[Canvas, Axes]:
    fig = Canvas(figsize=FIGSIZE, layout="constrained")
    ax = fig.subplots()
    ax.set_title(
        f"{what}: {group.device_label}, {group.dtype}, batch {group.batch}, "
        f"d_model {group.d_model} ({group.level}, {group.mode})",
        fontsize=9,
    )
    ax.set_xlabel("sequence length L (tokens)")
    ax.set_ylabel(ylabel)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.25)
    return fig, ax


def label_lengths(ax: Axes, lengths: list[int]) -> None:
    ax.set_xticks(lengths, [length_label(n) for n in lengths])
    ax.minorticks_off()


def save(fig: Canvas, out_dir: Path, name: str, title: str) -> Plot:
    out_dir.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "svg"):
        fig.savefig(out_dir / f"{name}.{ext}", dpi=DPI)
    return Plot(title, f"{out_dir.name}/{name}.png", f"{out_dir.name}/{name}.svg")


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


def plot_series(ax: Axes, summary: pd.DataFrame, column: str, palette: dict) -> int:
    """One line per implementation; OOM markers at the top; rings on throttled points.
    Returns the number of OOM marker rows used."""
    slot = 0
    for impl, rows in summary.groupby("impl"):
        ok = rows[rows["status"] == "ok"].dropna(subset=[column])
        style = "o-" if rows["family"].iloc[0] == "hyena" else "s-"
        ax.plot(ok["seqlen"], ok[column], style, color=palette[impl], label=impl, ms=4)
        slot = mark_oom(ax, list(rows.loc[rows["status"] == "oom", "seqlen"]), palette[impl], slot)
        hot = ok[ok["throttled"]]
        if len(hot):
            ax.plot(hot["seqlen"], hot[column], "o", ms=11, mfc="none", mec="red", mew=1.5)
    if summary["throttled"].any():
        ax.plot([], [], "o", ms=11, mfc="none", mec="red", label="GPU throttled")
    return slot


def plot_paper(ax: Axes, figure: Figure, slot: int) -> int:
    for name, values in figure.series.items():
        points = [(n, v) for n, v in zip(figure.seqlen, values, strict=True) if v is not None]
        ax.plot(
            *zip(*points, strict=True),
            PAPER_STYLES.get(name, "--"),
            color="grey",
            lw=1.2,
            label=f"{figure.label}: {figure.names[name]}",
        )
        oom = [n for n, v in zip(figure.seqlen, values, strict=True) if v is None]
        slot = mark_oom(ax, oom, "grey", slot)
    return slot


def finish(ax: Axes, summary: pd.DataFrame, extra: list[int] = (), slots: int = 0) -> None:
    """Length ticks, legend, and headroom on a log y axis so OOM markers sit above the data."""
    label_lengths(ax, sorted({*summary["seqlen"], *extra}))
    if slots:
        ax.plot([], [], "x", color="black", label="× at top: out of memory")
        low, high = ax.get_ylim()
        ax.set_ylim(low, high * (high / low) ** (EDGE_STEP * (slots + 1)))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def latency_plot(
    group: Group,
    summary: pd.DataFrame,
    figure: Figure | None,
    palette: dict,
    out_dir: Path,
    slug: str,
) -> Plot:
    fig, ax = new_axes(group, "Latency", "median latency (ms)")
    slot = plot_series(ax, summary, "latency_ms_median", palette)
    if figure is not None:
        slot = plot_paper(ax, figure, slot)
    finish(ax, summary, list(figure.seqlen) if figure is not None else [], slot)
    return save(fig, out_dir, f"{slug}-latency", "Latency vs sequence length")


def speedup_plot(
    group: Group,
    summary: pd.DataFrame,
    baseline: Choice,
    claims: list[Claim],
    palette: dict,
    out_dir: Path,
    slug: str,
) -> Plot:
    fig, ax = new_axes(group, "Speedup", f"speedup over {baseline.label} (×)")
    slots = plot_series(ax, summary, "speedup", palette)
    ax.axhline(1.0, color="black", lw=0.8)
    for threshold in sorted({c.threshold for c in claims}):
        ids = ", ".join(
            f"{c.id} ({length_label(c.seqlen)})" for c in claims if c.threshold == threshold
        )
        ax.axhline(threshold, color="grey", ls="--", lw=1)
        ax.text(
            0.01,
            threshold,
            f" {threshold:g}×: claim {ids}",
            fontsize=7,
            va="bottom",
            transform=blended_transform_factory(ax.transAxes, ax.transData),
        )
    finish(ax, summary, slots=slots)
    return save(fig, out_dir, f"{slug}-speedup", f"Speedup over {baseline.label}")


def memory_plot(
    group: Group, summary: pd.DataFrame, palette: dict, out_dir: Path, slug: str
) -> Plot:
    fig, ax = new_axes(group, "Peak memory", "peak memory (MiB)")
    finish(ax, summary, slots=plot_series(ax, summary, "peak_mem_mib", palette))
    return save(fig, out_dir, f"{slug}-memory", "Peak memory vs sequence length")


def throughput_plot(
    group: Group, summary: pd.DataFrame, palette: dict, out_dir: Path, slug: str
) -> Plot:
    flops = summary["tflops"].notna().any()
    column, unit = ("tflops", "TFLOP/s") if flops else ("tokens_per_s", "tokens/s")
    fig, ax = new_axes(group, "Throughput", f"throughput ({unit})")
    finish(ax, summary, slots=plot_series(ax, summary, column, palette))
    return save(fig, out_dir, f"{slug}-throughput", f"Throughput ({unit}) vs sequence length")


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


def stages_plot(group: Group, rows: pd.DataFrame, out_dir: Path, slug: str) -> Plot | None:
    shares = stage_shares(rows)
    if not shares:
        return None
    ncols = min(STAGE_COLUMNS, len(shares))
    nrows = -(-len(shares) // ncols)
    fig = Canvas(figsize=(FIGSIZE[0], FIGSIZE[1] * (1 + 0.6 * (nrows - 1))), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
    cmap = matplotlib.colormaps["tab20"]
    stages = list(dict.fromkeys(s for share in shares.values() for s in share.columns))
    for ax in axes[len(shares) :]:
        ax.set_visible(False)
    for ax, (impl, share) in zip(axes, shares.items(), strict=False):
        x, bottom = [length_label(n) for n in share.index], np.zeros(len(share))
        for stage in share.columns:
            ax.bar(
                x,
                share[stage],
                0.8,
                bottom=bottom,
                label=stage,
                color=cmap(stages.index(stage) % cmap.N),
            )
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
        f"What dominates at each length: {group.device_label}, {group.dtype}, "
        f"batch {group.batch}, d_model {group.d_model}",
        fontsize=9,
    )
    return save(fig, out_dir, f"{slug}-stages", "Share of time by stage")


def draw_all(
    group: Group,
    rows: pd.DataFrame,
    summary: pd.DataFrame,
    baseline: Choice,
    figure: Figure | None,
    claims: list[Claim],
    out_dir: Path,
    slug: str,
) -> list[Plot]:
    """Every figure for one group (the paper's series only where given)."""
    shown = summary.groupby("impl")["status"].transform(lambda s: s.isin(["ok", "oom"]).any())
    summary = summary[shown.astype(bool)]  # series that never ran would be empty lines
    palette = colours(list(summary["impl"].unique()))
    plots = [latency_plot(group, summary, figure, palette, out_dir, slug)]
    if baseline.impls and summary["speedup"].notna().any():
        plots.append(speedup_plot(group, summary, baseline, claims, palette, out_dir, slug))
    if summary["peak_mem_mib"].notna().any():
        plots.append(memory_plot(group, summary, palette, out_dir, slug))
    plots.append(throughput_plot(group, summary, palette, out_dir, slug))
    stages = stages_plot(group, rows, out_dir, slug)
    return plots + ([stages] if stages else [])
