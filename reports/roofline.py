"""The roofline of one setting, and the speedup the algorithms would give at equal efficiency.

Each ok row with an issued-FLOP count is a point: its arithmetic intensity (issued FLOPs per
byte of minimum traffic) against the FLOP rate it reached (issued FLOPs over its median time).
The two ceilings measured at the start of the run (env.json `ceilings`: a large matmul's rate and
a large copy's bandwidth) bound every point: no call can go above the matmul line, nor above
bandwidth x intensity. A row's `roofline_fraction` is the time the ceilings allow for its work
and traffic over its measured time.

Speedup at equal efficiency: measured speedup = T_attention / T_hyena, and T = T_roofline /
fraction, so if both ran at the same fraction of their own rooflines the speedup would be
T_roofline,attention / T_roofline,hyena = measured speedup x fraction_attention /
fraction_hyena. It compares what the two algorithms ask of the hardware, without the quality of
either implementation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from reports import selection
from reports.load import Group, Run
from reports.render import Block, Image, TableBlock, Text
from reports.tables import Table, length_label, number


def ceilings_for(runs: tuple[Run, ...], rows: pd.DataFrame, dtype: str) -> dict[str, Any] | None:
    """The ceilings of the run that wrote these rows, measured in their dtype; None if absent
    (a run from before ceilings were measured, or their measurement failed)."""
    run_ids = set(rows["run_id"].dropna())
    for run in runs:
        # A merged run (`hyena-bench merge`, shards) keeps each shard's ceilings, measured on its
        # own machine, in `merged_from` beside that shard's run_id, which its rows still carry.
        for env in (run.env, *(run.env.get("merged_from") or ())):
            found = env.get("ceilings") if isinstance(env, dict) else None
            usable = isinstance(found, dict) and found.get("dtype") == dtype
            if usable and env.get("run_id") in run_ids and "matmul_tflops" in found:
                return found
    return None


def points(rows: pd.DataFrame) -> pd.DataFrame:
    """impl, family, seqlen, intensity (FLOP/byte), achieved (FLOP/s), fraction: one per ok row
    with issued FLOPs and bytes."""
    ok = rows[(rows["status"] == "ok")].dropna(subset=["flops_issued", "bytes"])
    ok = ok[(ok["bytes"].astype(float) > 0) & (ok["latency_ms_median"].astype(float) > 0)]
    flops = ok["flops_issued"].astype(float)
    return pd.DataFrame(
        {
            "impl": ok["impl"],
            "family": ok["family"],
            "seqlen": ok["seqlen"],
            "intensity": flops / ok["bytes"].astype(float),
            "achieved": flops / (ok["latency_ms_median"].astype(float) / 1e3),
            "fraction": ok["roofline_fraction"].astype(float),
        }
    ).sort_values(["family", "impl", "seqlen"])


def equal_efficiency(rows: pd.DataFrame, baseline: selection.Choice) -> pd.DataFrame:
    """Per length: the fastest Hyena and the fastest baseline attention with their roofline
    fractions, the measured speedup and the speedup at equal efficiency."""
    hyena = selection.fastest(rows, selection.hyena(rows).impls)
    attention = selection.fastest(rows, baseline.impls)
    lengths = sorted(set(hyena.index) & set(attention.index))
    out = []
    for n in lengths:
        h, a = hyena.loc[n], attention.loc[n]
        measured = float(a["latency_ms_median"]) / float(h["latency_ms_median"])
        fh, fa = h.get("roofline_fraction"), a.get("roofline_fraction")
        usable = fh is not None and fa is not None and not pd.isna(fh) and not pd.isna(fa)
        out.append(
            {
                "seqlen": n,
                "hyena": h["impl"],
                "hyena_fraction": float(fh) if usable else None,
                "attention": a["impl"],
                "attention_fraction": float(fa) if usable else None,
                "speedup": measured,
                "speedup_equal_efficiency": measured * float(fa) / float(fh) if usable else None,
            }
        )
    return pd.DataFrame(out)


def percent(x: Any) -> str:
    return "–" if x is None or pd.isna(x) else f"{100 * float(x):.3g}%"


def times(x: Any) -> str:
    return "–" if x is None or pd.isna(x) else f"{number(float(x))}×"


def equal_efficiency_table(frame: pd.DataFrame, baseline: selection.Choice) -> Table | None:
    if frame.empty:
        return None
    shown = pd.DataFrame(
        {
            "L": frame["seqlen"].map(length_label),
            "Hyena (fastest)": frame["hyena"],
            "its roofline fraction": frame["hyena_fraction"].map(percent),
            "attention": frame["attention"],
            "its roofline fraction ": frame["attention_fraction"].map(percent),
            "measured speedup": frame["speedup"].map(times),
            "speedup at equal efficiency": frame["speedup_equal_efficiency"].map(times),
        }
    ).set_index("L")
    notes = (
        f"Attention: the baseline, {baseline.label}. Speedup at equal efficiency = measured "
        "speedup × attention's roofline fraction / Hyena's: the speedup if both reached the "
        "same fraction of what the measured ceilings allow for their work and traffic.",
    )
    return Table("Speedup at equal efficiency (Hyena over attention)", shown, notes)


def ceilings_text(ceilings: dict[str, Any]) -> str:
    return (
        f"Ceilings measured at the start of the run with the rows' timer: "
        f"{number(ceilings['matmul_tflops'] * 1e3)} GFLOP/s ({ceilings['matmul']}) and "
        f"{number(ceilings['copy_gbps'])} GB/s ({ceilings['copy']}). A row's roofline fraction "
        "is max(issued FLOPs / matmul rate, minimum bytes / copy bandwidth) over its median time."
    )


def blocks(
    runs: tuple[Run, ...],
    group: Group,
    rows: pd.DataFrame,
    baseline: selection.Choice,
    plots_dir: Path | None,
    slug: str,
    svg: bool = False,
) -> list[Block]:
    """The setting's roofline figure and equal-efficiency table; one line saying why not when
    its run has no ceilings in its dtype or no row has issued FLOPs."""
    ceilings = ceilings_for(runs, rows, group.dtype)
    if ceilings is None:
        return [Text(f"No roofline: the run has no measured ceilings in {group.dtype}.")]
    out: list[Block] = [Text(ceilings_text(ceilings))]
    if plots_dir is not None:
        from reports import canvas, roofline_plot  # matplotlib: only where figures are drawn

        drawn = roofline_plot.roofline_figure(group, points(rows), ceilings)
        if drawn is not None:
            out.append(Image(canvas.save(drawn, plots_dir, slug, svg)))
    if baseline.impls and (
        table := equal_efficiency_table(equal_efficiency(rows, baseline), baseline)
    ):
        out.append(TableBlock(table))
    return out
