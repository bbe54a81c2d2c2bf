"""Assemble the report from loaded results: environment, method, verdicts on the paper's claims,
then per group of rows its tables and figures; and the tidy tables written as CSV.

Decides what goes where; the numbers come from tables/claims, the formatting from render.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from reports import plots, selection
from reports.claims import (
    CLAIM_LEVEL,
    CLAIM_MODE,
    Paper,
    Verdict,
    evaluate,
    figure_findings,
    figure_table,
    verdict_frame,
)
from reports.load import GROUP_FIELDS, Group, Results, env_value, groups
from reports.render import Block, Bullets, Heading, Image, TableBlock, Text
from reports.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE
from reports.tables import (
    Table,
    crossover_table,
    crossovers,
    latency_table,
    length_label,
    memory_table,
    scaling,
    scaling_table,
    speedup_table,
    summarise,
    throughput_tables,
)

TITLE = "hyena-bench report"
PLOTS_DIR = "plots"
ENV_FIELDS = (  # (label, dotted key in env.json)
    ("run id", "run_id"),
    ("device", "device.name"),
    ("compute capability", "device.compute_capability"),
    ("GPU driver", "device.driver"),
    ("CPU", "cpu.model"),
    ("python", "python"),
    ("torch", "torch"),
    ("triton", "triton"),
    ("flash_attn", "flash_attn"),
    ("CUDA", "cuda"),
    ("cuDNN", "cudnn"),
    ("hyena-bench", "hyena_bench_version"),
    ("git commit", "git_commit"),
    ("git dirty", "git_dirty"),
    ("preset", "preset"),
    ("command", "command"),
    ("started", "started_at"),
    ("finished", "finished_at"),
)


@dataclass(frozen=True)
class Report:
    blocks: list[Block]
    csv: dict[str, pd.DataFrame]


def environment(results: Results) -> list[Block]:
    columns = {
        str(run.directory): [env_value(run.env, key) for _, key in ENV_FIELDS]
        for run in results.runs
    }
    frame = pd.DataFrame(columns, index=[label for label, _ in ENV_FIELDS]).fillna("–")
    frame.index.name = "environment"
    blocks: list[Block] = [Heading("Environment"), TableBlock(Table("Runs in this report", frame))]
    if results.notes:
        blocks.append(Bullets(results.notes))
    return blocks


def method(frame: pd.DataFrame) -> list[Block]:
    """How the numbers were taken, from the rows' own timer descriptions and counts."""
    timers = sorted({re.sub(r"\b\d+ reps\b", "n reps", str(t)) for t in frame["timer"].dropna()})
    ok = frame[frame["status"] == "ok"]
    reps = ok["reps"].dropna().astype(int)
    calls = (
        "no"
        if reps.empty
        else (f"{reps.min()}" if reps.min() == reps.max() else f"{reps.min()}–{reps.max()}")
    )
    counts = ", ".join(f"{n} {s}" for s, n in frame["status"].value_counts().items())
    graphs = int(frame["cuda_graph"].map(lambda v: v is True).sum())
    text = [
        f"{len(frame)} measurements ({counts}). Each latency is the median of the per-call "
        f"samples of one configuration (p10–p90 in brackets), from {calls} timed calls; "
        f"timer: {'; '.join(timers) if timers else 'not recorded in the rows'}."
        + (f" {graphs} rows replay a CUDA graph." if graphs else ""),
        "Every output is checked against a float64 reference before timing; rows that failed the "
        "check are marked rather than dropped. Speedup is the baseline's median over the "
        "implementation's median. Crossover lengths interpolate linearly in log-log between "
        "adjacent measured lengths; scaling exponents are least-squares slopes of log latency "
        "against log L over the upper half of each implementation's measured lengths.",
        f"Claims are judged on layer-level forward rows (the paper's setup), separately for each "
        f"device, batch, width and dtype, with a {CONFIDENCE:.0%} percentile bootstrap interval "
        f"for the speedup ({BOOTSTRAP_RESAMPLES:,} resamples of each side's raw samples, seed "
        f"{BOOTSTRAP_SEED}): reproduced if the interval's lower bound reaches the threshold, not "
        f"reproduced if its upper bound is below it, inconclusive otherwise.",
    ]
    return [Heading("Method"), *(Text(t) for t in text)]


def verdict_row(v: Verdict) -> dict[str, Any]:
    setting = (
        "–"
        if v.batch is None
        else f"{v.device_label}, {v.dtype}, batch {v.batch}, d_model {v.d_model}"
    )
    measured = "–" if pd.isna(v.speedup) else f"{v.speedup:.3g}× [{v.ci_low:.3g}, {v.ci_high:.3g}]"
    return {
        "claim": v.claim,
        "setting": setting,
        "L": length_label(v.seqlen),
        "subject": v.subject or "–",
        "baseline": v.baseline or "–",
        f"speedup [{CONFIDENCE:.0%} CI]": measured,
        "threshold": f"{v.threshold:g}×",
        "verdict": f"{v.verdict}: {v.reason}" if v.reason else v.verdict,
        "paper Fig. 4.3": v.paper,
    }


def claims_section(verdicts: list[Verdict], paper: Paper) -> list[Block]:
    fig = paper.figure
    listed = tuple(
        f"{c.id}: {c.text}: {c.subject} vs {c.baseline}, threshold {c.threshold:g}× "
        f"at {length_label(c.seqlen)} (source: {c.source})"
        for c in paper.claims
    )
    table = pd.DataFrame([verdict_row(v) for v in verdicts]).set_index("claim")
    notes = tuple(dict.fromkeys(v.note for v in verdicts if v.note))
    return [
        Heading("The paper's claims"),
        Text(
            f'{paper.meta["authors"]}, "{paper.meta["title"]}" ({paper.meta["venue"]}, arXiv '
            f'{paper.meta["arxiv"]}), abstract: "{paper.meta["abstract_quote"]}"'
        ),
        Bullets(listed),
        TableBlock(
            Table("Verdicts (measured speedup = baseline median / subject median)", table, notes)
        ),
        Heading("The paper's own data: Figure 4.3", 3),
        Text(f"{fig.caption}. Source: {fig.source}. Batch {fig.batch}; GPU {fig.gpu}."),
        TableBlock(Table("Figure 4.3 runtimes (ms) and the ratios they imply", figure_table(fig))),
        Bullets(tuple(figure_findings(fig))),
    ]


def group_tables(
    rows: pd.DataFrame, summary: pd.DataFrame, baseline: selection.Choice
) -> tuple[list[Block], pd.DataFrame, pd.DataFrame]:
    cross, fits = crossovers(rows), scaling(rows)
    speedup = speedup_table(summary, baseline)
    tables = [
        latency_table(summary),
        speedup,
        memory_table(summary),
        *throughput_tables(summary),
        crossover_table(cross),
        scaling_table(fits),
    ]
    blocks: list[Block] = [TableBlock(t) for t in tables if t is not None]
    if speedup is None:
        blocks.insert(1, Text(f"No speedup table: {baseline.reason or 'no baseline'}."))
    return blocks, cross, fits


def with_group(frame: pd.DataFrame, group: Group) -> pd.DataFrame:
    return frame.assign(**{f: getattr(group, f) for f in GROUP_FIELDS})[
        [*GROUP_FIELDS, *frame.columns]
    ]


def build(
    results: Results, out_dir: Path, paper: Paper, baseline_op: str | None = None, draw: bool = True
) -> Report:
    """The whole report; figures are written under out_dir/plots when `draw`."""
    frame = results.frame
    verdicts = evaluate(frame, paper)
    blocks = [
        Heading(TITLE, 1),
        *environment(results),
        *method(frame),
        *claims_section(verdicts, paper),
        Heading("Results by setting"),
    ]
    csv: dict[str, list[pd.DataFrame]] = {"summary": [], "crossover": [], "scaling": []}
    several_devices = frame["device_label"].nunique() > 1
    for group, rows in groups(frame):
        choice = (
            selection.named(rows, baseline_op) if baseline_op else selection.default_baseline(rows)
        )
        summary = summarise(rows, choice)
        tables, cross, fits = group_tables(rows, summary, choice)
        blocks += [Heading(group.title(), 3), *tables]
        if draw:
            paper_fig = (
                paper.figure if (group.level, group.mode) == (CLAIM_LEVEL, CLAIM_MODE) else None
            )
            figures = plots.draw_all(
                group,
                rows,
                summary,
                choice,
                paper_fig,
                list(paper.claims),
                out_dir / PLOTS_DIR,
                group.slug(several_devices),
            )
            blocks += [Image(p) for p in figures]
        for name, part in (("summary", summary), ("crossover", cross), ("scaling", fits)):
            csv[name].append(with_group(part, group))
    tidy = {name: pd.concat(parts, ignore_index=True) for name, parts in csv.items() if parts}
    return Report(blocks, {**tidy, "claims": verdict_frame(verdicts)})
