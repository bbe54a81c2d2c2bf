"""Formatting a speed-gate Report (bench.comparison) as text, a markdown table or JSON. Only
formats: every number and verdict comes from the Report.

The runs compared may come from strangers (CI compares a pull request's results), so every value
from them is printed through bench.safetext.printable: a newline, an escape sequence or a
`::error::` workflow command in a reason or a path shows as text, never acts. Markdown cells
also have their pipes escaped (a `|` would split the cell).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from bench.comparison import (
    ALPHA,
    ALPHA_EACH,
    CONFIDENCE,
    INCONCLUSIVE,
    Metric,
    Outcome,
    Report,
)
from bench.record import KEY_FIELDS
from bench.safetext import printable

FORMATS = ("text", "md", "json")


def label(key: tuple[Any, ...]) -> str:
    k = dict(zip(KEY_FIELDS, key, strict=True))
    return printable(
        f"{k['op']} L={k['seqlen']} B={k['batch']} D={k['d_model']} H={k['heads']} "
        f"order={k['order']} {k['level']} {k['dtype']} {k['mode']}"
    )


def shown(value: float | None, metric: Metric) -> str:
    return "-" if value is None else f"{value * metric.scale:.4g}"


def measured_rows(report: Report) -> list[list[str]]:
    rows = sorted((o for o in report.outcomes if o.estimate), key=lambda o: -o.size)
    out = []
    for o in rows:
        e = o.estimate
        p = e.p_worse if e.ratio >= 1 else e.p_better
        out.append(
            [
                label(o.key),
                shown(o.base_value, report.metric),
                shown(o.new_value, report.metric),
                f"{(e.ratio - 1) * 100:+.1f}%",
                f"[{(e.low - 1) * 100:+.1f}%, {(e.high - 1) * 100:+.1f}%]",
                f"{p:.2g}",
                f"{e.n_base}/{e.n_new}",
                o.verdict.upper() if o.regression else o.verdict,
            ]
        )
    return out


def status_rows(report: Report) -> list[list[str]]:
    rows = [o for o in report.outcomes if not o.estimate]
    rows.sort(key=lambda o: (not o.regression, label(o.key)))
    return [
        [
            label(o.key),
            printable(o.base),
            printable(o.new),
            o.verdict.upper() if o.regression else o.verdict,
            printable(o.reason[:100]),
        ]
        for o in rows
    ]


def summary(report: Report) -> str:
    counts: dict[str, int] = {}
    for o in report.outcomes:
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
    text = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "nothing to compare"
    if report.summary and report.summary.regression:
        text += f", geometric mean {report.metric.worse}"
    head = "REGRESSION" if report.regressed else "no regression"
    return f"{head}: {text} (exit {report.exit_status})"


def sweep_line(report: Report) -> str:
    """The sweep-level decision in one line: Holm across pairs, and the geometric mean."""
    s = report.summary
    worse = sum(o.verdict == report.metric.worse for o in report.outcomes)
    holm = (
        f"sweep: {worse} of {s.pairs if s else 0} measured pairs {report.metric.worse} beyond "
        f"{report.threshold * 100:g}% (Holm, family-wise {ALPHA_EACH * 100:g}%)"
    )
    if s is None:
        return holm
    verdict = report.metric.worse.upper() if s.regression else f"not {report.metric.worse}"
    return (
        f"{holm}; geometric mean NEW/BASE {(s.ratio - 1) * 100:+.1f}% "
        f"[{(s.low - 1) * 100:+.1f}%, {(s.high - 1) * 100:+.1f}%] ({CONFIDENCE * 100:g}%), "
        f"p = {s.p_worse:.2g}: {verdict} (at {ALPHA_EACH * 100:g}%); "
        f"false alarms per sweep <= {ALPHA * 100:g}%"
    )


DESIGNS = {
    "two runs": "median(NEW)/median(BASE) of two separate runs, each run's samples "
    "block-resampled on its own",
    "interleaved": "median over block pairs of median(NEW block)/median(BASE block), BASE and "
    "NEW alternating in small blocks of calls (ABBA), pairs resampled",
}


def rule(report: Report) -> str:
    from bench import stats  # scipy: loaded when a report is rendered, not at start-up

    return (
        f"{report.metric.name}: {DESIGNS[report.design]}; threshold "
        f"{report.threshold * 100:g}%; {CONFIDENCE * 100:g}% interval: block bootstrap "
        f"({stats.BOOTSTRAP_RESAMPLES} resamples, seed {stats.BOOTSTRAP_SEED}), or order "
        f"statistics where both sides have >= {stats.LONG_SERIES} samples; a pair is "
        f"{report.metric.worse} when its one-sided p-value for 'beyond the threshold', "
        f"Holm-adjusted across the sweep, is <= {ALPHA_EACH:g}; the sweep regressed if a pair "
        f"did, or if the geometric mean over the pairs did (p <= {ALPHA_EACH:g})"
    )


def render_tables(report: Report, fmt: str) -> str:
    from tabulate import tabulate

    style = "github" if fmt == "md" else "simple"
    cells = md_cells if fmt == "md" else (lambda rows: rows)
    unit = report.metric.unit
    ci = f"{CONFIDENCE * 100:g}% interval"
    parts = []
    if measured_rows(report):
        parts.append(
            tabulate(
                cells(measured_rows(report)),
                tablefmt=style,
                disable_numparse=True,
                headers=[
                    "config",
                    f"base {unit}",
                    f"new {unit}",
                    "change",
                    ci,
                    "Holm p",
                    "calls" if report.design == "interleaved" else "samples",
                    "verdict",
                ],
            )
        )
    if status_rows(report):
        parts.append("results lost or changed (lost = ok in BASE, not ok/absent in NEW):")
        parts.append(
            tabulate(
                cells(status_rows(report)),
                tablefmt=style,
                disable_numparse=True,
                headers=["config", "base", "new", "verdict", "reason"],
            )
        )
    return "\n\n".join(parts)


def md_cells(rows: list[list[str]]) -> list[list[str]]:
    return [[cell.replace("|", "\\|") for cell in row] for row in rows]


def render_text(report: Report, fmt: str) -> str:
    command = "ab" if report.design == "interleaved" else "compare"
    where = f"{command} {report.base.directory} -> {report.new.directory}"
    lines = [printable(where), rule(report)]
    if report.env_differences:
        differences = "; ".join(report.env_differences)
        lines.append(printable(f"environments differ (allowed): {differences}"))
    lines += [printable(f"note: {n}") for n in report.notes]
    if any(o.verdict == INCONCLUSIVE for o in report.outcomes):
        lines.append(
            f"note: {INCONCLUSIVE} = too noisy to tell at this threshold (never fails "
            "the gate); measure longer (--target-time) or on a quieter machine"
        )
    if fmt == "md":
        lines = [f"- {line}" for line in lines]
    tail = [sweep_line(report), summary(report)]
    return "\n".join([*lines, "", render_tables(report, fmt), "", *tail])


def outcome_json(o: Outcome) -> dict[str, Any]:
    record = {**dict(zip(KEY_FIELDS, o.key, strict=True)), **asdict(o)}
    record.pop("key")
    return record


def render_json(report: Report) -> str:
    from bench import stats

    return json.dumps(
        {
            "base": str(report.base.directory),
            "new": str(report.new.directory),
            "metric": report.metric.name,
            "threshold": report.threshold,
            "confidence": CONFIDENCE,
            "alpha": ALPHA,
            "design": report.design,
            "sweep": sweep_line(report),
            "geometric_mean": asdict(report.summary) if report.summary else None,
            "bootstrap_resamples": stats.BOOTSTRAP_RESAMPLES,
            "bootstrap_seed": stats.BOOTSTRAP_SEED,
            "order_statistic_from_samples": stats.LONG_SERIES,
            "env_differences": report.env_differences,
            "notes": report.notes,
            "regressions": len(report.regressions),
            "regressed": report.regressed,
            "exit_status": report.exit_status,
            "summary": summary(report),
            "outcomes": [outcome_json(o) for o in report.outcomes],
        },
        indent=2,
        default=str,
    )


RENDERERS: dict[str, Callable[[Report, str], str]] = {
    "text": render_text,
    "md": render_text,
    "json": lambda report, fmt: render_json(report),
}
