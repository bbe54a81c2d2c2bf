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

from bench.allocator import method_text as allocator_text
from reports import noise, pool, roofline, selection
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
from reports.load import GROUP_FIELDS, Group, Results, Run, env_value, groups
from reports.render import Alert, Block, Bullets, Heading, Image, TableBlock, Text
from reports.stats import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    CONFIDENCE,
    LONG_SERIES,
    MIN_FIT_POINTS,
)
from reports.tables import (
    CONVENTIONS_NOTE,
    UNCHECKED_MARK,
    Table,
    crossover_table,
    crossovers,
    latency_table,
    length_label,
    memory_table,
    not_run,
    scaling,
    scaling_table,
    speedup_table,
    summarise,
    throughput_tables,
)

TITLE = "hyena-bench report"
PLOTS_DIR = "plots"
# The tidy tables written as CSV (`build`'s `csv`), one file each: each setting's rows of the
# first three (`setting`), concatenated, and the claims.
SETTING_TABLES = ("summary", "crossover", "scaling")
CSV_TABLES = (*SETTING_TABLES, "claims")
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
    """The blocks to render, the tidy tables, and notes the command repeats on the console."""

    blocks: list[Block]
    csv: dict[str, pd.DataFrame]
    notes: tuple[str, ...] = ()


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


# The CUDA timer names each row's own repetition count ("123 reps sized to 0.5 s"); dropped so
# that rows with one timer setting share one description (the counts are given from `reps`).
ROW_REPS = re.compile(r"\b\d+ reps sized to\b")
# The settings part of a timer description (bench/timing.py), after what the timer is.
SETTINGS = re.compile(r",\s*(?=>= \d+ reps\b|reps sized to\b)")
TARGET_S = re.compile(r"(?:>=|sized to) ([\d.]+) s\b")
MIN_REPS = re.compile(r">= (\d+) reps\b|\(>= (\d+)\)")
WARMUP = re.compile(r">= (\d+) warm-up calls(?: and ([\d.]+) s)?")


def describe_timer(timer: str) -> str:
    """'what it is: warm-up, target time and minimum count' read from one timer description;
    the description as it stands where it does not have that shape."""
    parts = SETTINGS.split(timer, maxsplit=1)
    if len(parts) != 2:
        return timer
    kind, settings = parts
    warm, target = WARMUP.search(settings), TARGET_S.search(settings)
    least = MIN_REPS.search(settings)
    if not (warm and target and least):
        return timer
    warm_up = f"at least {warm[1]} warm-up calls" + (f" and {warm[2]} s" if warm[2] else "")
    return (
        f"{kind}: {warm_up}, then timed calls for a target of {target[1]} s and at least "
        f"{least[1] or least[2]} calls"
    )


def timing_text(ok: pd.DataFrame) -> str:
    """What the timer did, with the real counts from the rows (not a placeholder)."""
    timers = sorted({ROW_REPS.sub("reps sized to", str(t)) for t in ok["timer"].dropna()})
    reps = ok["reps"].dropna().astype(int)
    if reps.empty:
        return "No timed calls (no ok rows)."
    described = "; ".join(describe_timer(t) for t in timers) or "not recorded in the rows"
    counts = (
        f"{reps.iloc[0]} timed calls each"
        if reps.min() == reps.max()
        else f"{reps.min()} to {reps.max()} timed calls (median {int(reps.median())})"
    )
    return f"Timer: {described}. The {len(reps)} ok rows hold {counts}."


def status_counts(frame: pd.DataFrame) -> str:
    return ", ".join(f"{n} {s}" for s, n in frame["status"].value_counts().items())


def verification_text(frame: pd.DataFrame) -> str:
    """Where the float64 check's shape differs from the timed one, and rows not checked."""
    ok = frame[(frame["status"] == "ok") & frame["verify_seqlen"].notna()]
    parts = []
    smaller = ok[ok["verify_batch"] != ok["batch"]]
    if not smaller.empty:
        shapes = sorted({(r.impl, int(r.verify_batch), int(r.batch)) for r in smaller.itertuples()})
        parts.append(
            "Checked at a smaller batch than timed (the implementation runs the same kernel "
            "variant and plan there): "
            + "; ".join(f"{impl} at batch {v} (timed at {b})" for impl, v, b in shapes)
            + "."
        )
    shorter = ok[ok["verify_seqlen"] != ok["seqlen"]]
    if not shorter.empty:
        by_impl = shorter.groupby("impl")["seqlen"].apply(
            lambda s: ", ".join(length_label(n) for n in sorted(s))
        )
        parts.append(
            f"{len(shorter)} rows were checked at a shorter length than timed (written before "
            "hyena-bench checked at the timed length; the timed plan was not checked): "
            + "; ".join(f"{impl} at {lengths}" for impl, lengths in by_impl.items())
            + "."
        )
    unchecked = frame[(frame["status"] == "ok") & frame["verified"].isna()]
    if not unchecked.empty:
        reasons = unchecked["verify_reason"].fillna("no reason recorded")
        listed = [
            f"{r.impl} at {length_label(r.seqlen)} ({why})"
            for r, why in zip(unchecked.itertuples(), reasons, strict=True)
        ]
        parts.append(
            f"{len(unchecked)} rows were not checked (marked {UNCHECKED_MARK}): "
            + "; ".join(listed[:8])
            + (f"; and {len(listed) - 8} more" if len(listed) > 8 else "")
            + "."
        )
    return " ".join(parts)


def method(frame: pd.DataFrame, envs: list[dict[str, Any]] | None = None) -> list[Block]:
    """How the numbers were taken, from the rows' own timer descriptions and counts."""
    ok = frame[frame["status"] == "ok"]
    counts = status_counts(frame)
    graphs = int(frame["cuda_graph"].map(lambda v: v is True).sum())
    text = [
        f"{len(frame)} measurements ({counts}). Each latency is the median of the per-call "
        f"samples of one configuration (p10–p90 in brackets and shaded in the latency plots). "
        + timing_text(ok)
        + (f" {graphs} rows replay a CUDA graph." if graphs else ""),
        "Every row is checked against a float64 reference before timing, at its own sequence "
        "length and at the smallest batch that runs the same kernel variant and plan (forward, "
        "and in fwd_bwd mode the gradients of every input and parameter); rows that failed the "
        "check are marked rather than dropped. "
        + verification_text(frame)
        + " Speedup is the baseline's median over the "
        "implementation's median. Crossover lengths interpolate linearly in log-log between "
        "adjacent measured lengths; scaling exponents are least-squares slopes of log latency "
        f"against log L over the upper half of each implementation's measured lengths (at least "
        f"{MIN_FIT_POINTS} where the run has them), with a {CONFIDENCE:.0%} interval from the t "
        "distribution with (number of lengths - 2) degrees of freedom. "
        "Throughput and memory are shown in one unit per table, picked by magnitude (the largest "
        "unit in which the largest value is at least 1); the plots use the table's unit. "
        + CONVENTIONS_NOTE,
        host_text(envs or []),
        f"Claims are judged on layer-level forward rows (the paper's setup), separately for each "
        f"device, batch, width and dtype, with a {CONFIDENCE:.0%} interval for the speedup: "
        f"successive calls are correlated, so each row's samples are resampled in blocks of "
        f"consecutive calls (percentile block bootstrap, {BOOTSTRAP_RESAMPLES:,} resamples, seed "
        f"{BOOTSTRAP_SEED}, the block length from the row's lag-1 autocorrelation), or, where "
        f"both sides have at least {LONG_SERIES:,} samples, each median's order-statistic "
        f"interval is widened by the rows' rank autocorrelation and the two combined (Price and "
        f"Bonett 2002); reports/baselines/README.md gives both intervals' measured coverage. "
        f"Where a side is "
        f"the fastest of several implementations, its latency is a minimum over noisy medians and "
        f"biased low (by about 0.85 standard errors of a median when three are equally fast, "
        f"less when one is clearly fastest); the interval resamples the fastest one's samples "
        f"and does not correct for that choice (resampling every candidate and taking the "
        f"minimum each time covered the truth less often in simulation, README.md there). "
        f"A claim is reproduced if the interval's lower bound reaches the threshold, not "
        f"reproduced if its upper bound is below it, inconclusive otherwise. In the speedup plots "
        f"each claim is a marker at its own length and threshold. The paper's Figure 4.3 series "
        f"(batch 64, GPU) share the latency axes only for GPU rows at batch 64; for any other "
        f"setting they are drawn in a separate panel beside it, for reference.",
    ]
    return [Heading("Method"), *(Text(t) for t in text if t)]


def host_text(envs: list[dict[str, Any]]) -> str:
    """The host's state and the CPU allocator setting, from env.json."""
    if not envs:
        return ""
    loads = noise.run_loads(envs)
    load = (
        "Host load (1-minute average, start to end of each run): "
        + ", ".join(f"{a:.1f} to {b:.1f} on {c} CPUs" for a, b, c in loads)
        + "; each row records its own (load_1m_start, load_1m_end) and its minor page faults "
        "per call. "
        if loads
        else "Host load: not recorded. "
    )
    devices = {env_value(env, "device.type") for env in envs}
    allocator = allocator_text(env_value(envs[0], "cpu.allocator")) if "cpu" in devices else ""
    return load + allocator


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


def nothing_measured(frame: pd.DataFrame) -> str:
    """The one line said when no row is ok: there is nothing to tabulate or plot."""
    return (
        f"no measurement succeeded ({len(frame)} rows: {status_counts(frame)}); the report "
        "lists why, without result tables or plots"
    )


def with_group(frame: pd.DataFrame, group: Group) -> pd.DataFrame:
    return frame.assign(**{f: getattr(group, f) for f in GROUP_FIELDS})[
        [*GROUP_FIELDS, *frame.columns]
    ]


def group_blocks(
    group: Group,
    rows: pd.DataFrame,
    summary: pd.DataFrame,
    choice: selection.Choice,
    paper: Paper,
    plots_dir: Path | None,
    slug: str,
    svg: bool = False,
) -> tuple[list[Block], pd.DataFrame, pd.DataFrame]:
    """Tables and figures of one setting; one line and the reasons when nothing in it ran."""
    if not (rows["status"] == "ok").any():
        text = (
            f"Nothing measured in this setting ({len(rows)} rows: {status_counts(rows)}), so no "
            "tables or plots. Not run:"
        )
        return [Text(text), Bullets(not_run(summary))], crossovers(rows), scaling(rows)
    blocks, cross, fits = group_tables(rows, summary, choice)
    if plots_dir is not None:
        from reports import plots  # matplotlib: only where figures are drawn

        claim_setting = (group.level, group.mode) == (CLAIM_LEVEL, CLAIM_MODE)
        figures = plots.draw_all(
            group,
            rows,
            summary,
            choice,
            paper.figure if claim_setting else None,
            list(paper.claims) if claim_setting else [],
            plots_dir,
            slug,
            svg,
        )
        blocks += [Image(p) for p in figures]
    return blocks, cross, fits


@dataclass(frozen=True)
class Setting:
    """One setting's part of the report: its section and its rows of the tidy tables."""

    blocks: list[Block]
    tidy: dict[str, pd.DataFrame]


def setting(
    group: Group,
    rows: pd.DataFrame,
    runs: tuple[Run, ...],
    paper: Paper,
    baseline_op: str | None,
    plots_dir: Path | None,
    slug: str,
    svg: bool,
) -> Setting:
    """One setting's section, built from its rows alone (so settings build side by side)."""
    choice = selection.named(rows, baseline_op) if baseline_op else selection.default_baseline(rows)
    summary = summarise(rows, choice)
    parts, cross, fits = group_blocks(group, rows, summary, choice, paper, plots_dir, slug, svg)
    if (rows["status"] == "ok").any():
        parts += roofline.blocks(runs, group, rows, choice, plots_dir, slug, svg)
    tidy = dict(zip(SETTING_TABLES, (summary, cross, fits), strict=True))
    return Setting(
        [Heading(group.title(), 3), *parts],
        {name: with_group(part, group) for name, part in tidy.items()},
    )


def build(
    results: Results,
    out_dir: Path,
    paper: Paper,
    baseline_op: str | None = None,
    draw: bool = True,
    svg: bool = False,
    jobs: int = 1,
) -> Report:
    """The whole report; figures are written under out_dir/plots when `draw` (PNG, and SVG too
    with `svg`), the settings then built in up to `jobs` processes (reports.pool)."""
    frame = results.frame
    verdicts = evaluate(frame, paper)
    notes = () if (frame["status"] == "ok").any() else (nothing_measured(frame),)
    envs = [run.env for run in results.runs]
    warning = noise.verdict(frame, envs).warning
    blocks = [
        Heading(TITLE, 1),
        *((Alert(warning),) if warning else ()),
        *(Text(f"Note: {n}.") for n in notes),
        *environment(results),
        *method(frame, envs),
        *claims_section(verdicts, paper),
        Heading("Results by setting"),
    ]
    several_devices = frame["device_label"].nunique() > 1
    plots_dir = out_dir / PLOTS_DIR if draw else None
    tasks = [
        (group, rows, results.runs, paper, baseline_op, plots_dir, group.slug(several_devices), svg)
        for group, rows in groups(frame)
    ]
    # Without figures a setting's tables take about 0.1 s of CPU, less than starting the pool.
    parts = pool.starmap(setting, tasks, jobs if draw else 1, pool.FIGURE_MODULES)
    for part in parts:
        blocks += part.blocks
    tidy = (
        {n: pd.concat([p.tidy[n] for p in parts], ignore_index=True) for n in SETTING_TABLES}
        if parts
        else {}
    )
    notes = (warning, *notes) if warning else notes
    tables = {**tidy, "claims": verdict_frame(verdicts)}
    assert set(tables) <= set(CSV_TABLES), "name a new table in CSV_TABLES"
    return Report(blocks, tables, notes)
