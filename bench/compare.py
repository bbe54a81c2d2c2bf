"""`hyena-bench compare BASE NEW`: did NEW get slower than BASE? A per-configuration decision
from the raw samples (bootstrap interval of the ratio of medians, Mann-Whitney U, a threshold),
and an exit status a CI job can gate on: 0 no regression, 1 regression, 2 unusable input.

Rows pair on bench.store.row_key (implementation + config). A row that was ok in BASE and is not
ok, unverified or absent in NEW lost a result: that is a regression too.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import stats
from bench.errors import UsageError
from bench.store import (
    ENV_IDENTITY,
    KEY_FIELDS,
    ResultsError,
    env_value,
    read_env,
    read_rows,
    row_key,
)

# The smallest change that counts, by the runs' device type, chosen from A/A and planted-slowdown
# runs (reports/baselines/README.md has the tables). cuda 5%: on an H200, rows of >= 0.8 ms per
# call moved < 1% between runs, and a planted 10% slowdown was caught in every row (5%: 5 of 6).
# cpu 25%: on a shared 2-core machine whole runs shift with other processes' load, which no
# within-run statistic sees; below 25% A/A false alarms climb steeply (5%: 42-64% of compares),
# above it they fall slowly (50%: 14-25%, vs 17-28% at 25%) while a +50% slowdown stops being
# caught every time. Another device type gets the cpu value (the cautious one).
DEFAULT_THRESHOLDS = {"cuda": 0.05, "cpu": 0.25}
# 99%, not 95%: a sweep compares tens of pairs at once and one false alarm fails the job, so each
# pair's interval is made wider (a Bonferroni-like margin for ~5-20 pairs at 5% overall).
CONFIDENCE = 0.99
# The U test must agree (p below this) before a change is called significant: the percentile
# bootstrap of a median is anti-conservative with the 10-20 samples a slow CPU row has.
ALPHA = 0.01
# Beyond bench.store.ENV_IDENTITY (device, torch, triton, flash_attn): on a CPU the thread count
# changes the kernels' speed as much as a library version does.
CPU_IDENTITY = ("cpu.torch_threads",)
MAX_THRESHOLD = 10.0  # 1000%: beyond that a "threshold" is a typo
EXIT_OK, EXIT_REGRESSION = 0, 1
UNCHANGED, INCONCLUSIVE = "unchanged", "inconclusive"
LOST, GAINED, CHANGED = "lost", "gained", "status changed"
ABSENT = "absent"
FORMATS = ("text", "md", "json")


@dataclass(frozen=True)
class Metric:
    """What is compared: `samples` (a list field) if the row keeps raw samples, else `value`."""

    name: str
    value: str
    samples: str | None
    unit: str
    scale: float  # stored value * scale = shown value
    worse: str
    better: str

    def observations(self, row: dict[str, Any]) -> list[float]:
        """The row's samples, or its single value: positive finite numbers only (a NaN or a
        zero from a broken timer must not decide a verdict); empty when there are none."""
        data = row.get(self.samples) if self.samples else None
        values = data if isinstance(data, list) and data else [row.get(self.value)]
        return [float(x) for x in values if usable(x)]


def usable(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x > 0


METRICS = {
    "latency": Metric("latency", "latency_ms_median", "samples_ms", "ms", 1.0, "slower", "faster"),
    "memory": Metric("memory", "peak_mem_bytes", None, "MiB", 2.0**-20, "larger", "smaller"),
}


@dataclass(frozen=True)
class Outcome:
    """One configuration's verdict. Measured pairs carry `estimate`; status changes a reason."""

    key: tuple[Any, ...]
    verdict: str
    regression: bool
    base: str  # status on the base side ("absent" when missing)
    new: str
    estimate: stats.RatioEstimate | None = None
    base_value: float | None = None
    new_value: float | None = None
    reason: str = ""

    @property
    def size(self) -> float:
        """How big the change is, for sorting: |log ratio| (0 without an estimate)."""
        return abs(math.log(self.estimate.ratio)) if self.estimate else 0.0


@dataclass(frozen=True)
class Run:
    directory: Path
    env: dict[str, Any]
    rows: dict[tuple[Any, ...], dict[str, Any]]


@dataclass(frozen=True)
class Report:
    base: Run
    new: Run
    metric: Metric
    threshold: float
    env_differences: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.regression]

    @property
    def exit_status(self) -> int:
        return EXIT_REGRESSION if self.regressions else EXIT_OK


# --- reading ------------------------------------------------------------------------------------


def load_run(directory: str, side: str) -> tuple[Run, list[str]]:
    """Rows keyed by configuration, and the warnings (torn lines) met while reading."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rows, env = read_rows(directory), read_env(directory)
        except ResultsError as exc:
            raise UsageError(f"{side}: {exc}") from None
    keyed: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = row_key(row)
        if key in keyed:
            raise UsageError(
                f"{side} {directory}: two rows for {label(key)}; compare needs one per config"
            )
        keyed[key] = row
    return Run(Path(directory), env, keyed), [f"{side}: {w.message}" for w in caught]


def env_differences(base: dict[str, Any], new: dict[str, Any]) -> list[str]:
    cpu = env_value(base, "device.type") == "cpu" == env_value(new, "device.type")
    return [
        f"{name}: {env_value(base, name)!r} vs {env_value(new, name)!r}"
        for name in (*ENV_IDENTITY, *(CPU_IDENTITY if cpu else ()))
        if env_value(base, name) != env_value(new, name)
    ]


def planted_notes(run: Run, side: str) -> list[str]:
    """Name any test-only planted slowdown, so nobody mistakes it for a real result."""
    planted = sorted(
        {
            f"{r['op']}={r['planted_slowdown']}"
            for r in run.rows.values()
            if r.get("planted_slowdown")
        }
    )
    return [f"{side} has a planted test slowdown ({', '.join(planted)})"] if planted else []


# --- deciding -----------------------------------------------------------------------------------


def decide(estimate: stats.RatioEstimate, threshold: float, metric: Metric) -> str:
    """worse / better: the ratio is beyond the threshold AND the interval excludes 1 AND the U
    test agrees (when there are enough samples to ask it). unchanged: the whole interval lies
    within the threshold band. inconclusive: anything else (too noisy to tell)."""
    limit = 1 + threshold
    significant = estimate.p_value is None or estimate.p_value < ALPHA
    if estimate.ratio > limit and estimate.low > 1 and significant:
        return metric.worse
    if estimate.ratio < 1 / limit and estimate.high < 1 and significant:
        return metric.better
    if 1 / limit <= estimate.low and estimate.high <= limit:
        return UNCHANGED
    return INCONCLUSIVE


def measured(
    key: tuple[Any, ...], base: dict, new: dict, metric: Metric, threshold: float
) -> Outcome:
    a, b = metric.observations(base), metric.observations(new)
    if not a or not b:
        return Outcome(key, INCONCLUSIVE, False, "ok", "ok", reason=f"no {metric.name} recorded")
    estimate = stats.compare_samples(a, b, CONFIDENCE)
    verdict = decide(estimate, threshold, metric)
    return Outcome(
        key,
        verdict,
        verdict == metric.worse,
        "ok",
        "ok",
        estimate,
        statistics.median(a),
        statistics.median(b),
    )


def status_of(row: dict[str, Any] | None) -> str:
    return ABSENT if row is None else str(row["status"])


def why(row: dict[str, Any] | None, side: str) -> str:
    if row is None:
        return f"not in {side}"
    return str(row.get("reason") or "")


def status_change(key: tuple[Any, ...], base: dict | None, new: dict | None) -> Outcome | None:
    """The outcome of a pair that is not ok on both sides (None: nothing changed)."""
    b, n = status_of(base), status_of(new)
    if b == "ok":
        return Outcome(key, LOST, True, b, n, reason=why(new, "NEW"))
    if n == "ok":
        return Outcome(key, GAINED, False, b, n, reason=why(base, "BASE"))
    if b != n:
        return Outcome(key, CHANGED, False, b, n, reason=why(new, "NEW") or why(base, "BASE"))
    return None


def unverified(key: tuple[Any, ...], base: dict, new: dict) -> Outcome | None:
    """A result that passed the float64 check in BASE and fails it in NEW is lost, however fast."""
    if base.get("verified") and new.get("verified") is False:
        return Outcome(
            key,
            LOST,
            True,
            "ok",
            "ok (unverified)",
            reason=f"fails the float64 check now (max_rel_err {new.get('max_rel_err')})",
        )
    return None


def compare_pair(
    key: tuple[Any, ...], base: dict | None, new: dict | None, metric: Metric, threshold: float
) -> Outcome | None:
    if base is None or new is None or base["status"] != "ok" or new["status"] != "ok":
        return status_change(key, base, new)
    return unverified(key, base, new) or measured(key, base, new, metric, threshold)


def compare(
    base: Run, new: Run, metric: Metric, threshold: float, differences: list[str], notes: list[str]
) -> Report:
    keys = list(base.rows) + [k for k in new.rows if k not in base.rows]
    if not set(base.rows) & set(new.rows):
        raise UsageError(f"{base.directory} and {new.directory} have no configuration in common")
    outcomes = [compare_pair(k, base.rows.get(k), new.rows.get(k), metric, threshold) for k in keys]
    found = [o for o in outcomes if o is not None]
    return Report(base, new, metric, threshold, differences, found, notes)


# --- rendering ----------------------------------------------------------------------------------


def label(key: tuple[Any, ...]) -> str:
    k = dict(zip(KEY_FIELDS, key, strict=True))
    return (
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
        p = "-" if e.p_value is None else f"{e.p_value:.2g}"
        out.append(
            [
                label(o.key),
                shown(o.base_value, report.metric),
                shown(o.new_value, report.metric),
                f"{(e.ratio - 1) * 100:+.1f}%",
                f"[{(e.low - 1) * 100:+.1f}%, {(e.high - 1) * 100:+.1f}%]",
                p,
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
            o.base,
            o.new,
            o.verdict.upper() if o.regression else o.verdict,
            o.reason[:100],
        ]
        for o in rows
    ]


def summary(report: Report) -> str:
    counts: dict[str, int] = {}
    for o in report.outcomes:
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
    text = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "nothing to compare"
    head = "REGRESSION" if report.regressions else "no regression"
    return f"{head}: {text} (exit {report.exit_status})"


def rule(report: Report) -> str:
    return (
        f"{report.metric.name}: ratio of medians NEW/BASE, threshold "
        f"{report.threshold * 100:g}%, {CONFIDENCE * 100:g}% bootstrap interval "
        f"({stats.BOOTSTRAP_RESAMPLES} resamples, seed {stats.BOOTSTRAP_SEED}) and "
        f"Mann-Whitney U at p < {ALPHA:g}"
    )


def render_tables(report: Report, fmt: str) -> str:
    from tabulate import tabulate

    style = "github" if fmt == "md" else "simple"
    unit = report.metric.unit
    ci = f"{CONFIDENCE * 100:g}% interval"
    parts = []
    if measured_rows(report):
        parts.append(
            tabulate(
                measured_rows(report),
                tablefmt=style,
                disable_numparse=True,
                headers=[
                    "config",
                    f"base {unit}",
                    f"new {unit}",
                    "change",
                    ci,
                    "U test p",
                    "samples",
                    "verdict",
                ],
            )
        )
    if status_rows(report):
        parts.append("results lost or changed (lost = ok in BASE, not ok/absent in NEW):")
        parts.append(
            tabulate(
                status_rows(report),
                tablefmt=style,
                disable_numparse=True,
                headers=["config", "base", "new", "verdict", "reason"],
            )
        )
    return "\n\n".join(parts)


def render_text(report: Report, fmt: str) -> str:
    lines = [f"compare {report.base.directory} -> {report.new.directory}", rule(report)]
    if report.env_differences:
        lines.append("environments differ (allowed): " + "; ".join(report.env_differences))
    lines += [f"note: {n}" for n in report.notes]
    if any(o.verdict == INCONCLUSIVE for o in report.outcomes):
        lines.append(
            f"note: {INCONCLUSIVE} = too noisy to tell at this threshold (never fails "
            "the gate); measure longer (--target-time) or on a quieter machine"
        )
    if fmt == "md":
        lines = [f"- {line}" for line in lines]
    return "\n".join([*lines, "", render_tables(report, fmt), "", summary(report)])


def outcome_json(o: Outcome) -> dict[str, Any]:
    record = {**dict(zip(KEY_FIELDS, o.key, strict=True)), **asdict(o)}
    record.pop("key")
    return record


def render_json(report: Report) -> str:
    return json.dumps(
        {
            "base": str(report.base.directory),
            "new": str(report.new.directory),
            "metric": report.metric.name,
            "threshold": report.threshold,
            "confidence": CONFIDENCE,
            "alpha": ALPHA,
            "bootstrap_resamples": stats.BOOTSTRAP_RESAMPLES,
            "bootstrap_seed": stats.BOOTSTRAP_SEED,
            "env_differences": report.env_differences,
            "notes": report.notes,
            "regressions": len(report.regressions),
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


# --- the command --------------------------------------------------------------------------------


def parse_threshold(text: str) -> float:
    """'15%' -> 0.15 and '0.15' -> 0.15; a bare number must be a fraction (below 1)."""
    percent = text.strip().endswith("%")
    try:
        value = float(text.strip().removesuffix("%")) / (100 if percent else 1)
    except ValueError:
        value = math.nan
    if not 0 <= value < (MAX_THRESHOLD if percent else 1):
        raise UsageError(f"--threshold {text!r}: write a percentage (15%) or a fraction (0.15)")
    return value


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two runs; exit 1 on a significant regression")
    p.add_argument("base", metavar="BASE_DIR", help="the reference run directory")
    p.add_argument("new", metavar="NEW_DIR", help="the run directory to check")
    defaults = ", ".join(f"{v * 100:g}%% on {k}" for k, v in DEFAULT_THRESHOLDS.items())
    p.add_argument(
        "--threshold", help=f"smallest change that counts, e.g. 5%% (default: {defaults})"
    )
    p.add_argument("--metric", choices=list(METRICS), default="latency")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument(
        "--allow-env-mismatch",
        action="store_true",
        help="compare runs from different devices or library versions anyway",
    )
    p.set_defaults(func=cmd_compare)


def default_threshold(env: dict[str, Any]) -> float:
    return DEFAULT_THRESHOLDS.get(env_value(env, "device.type"), DEFAULT_THRESHOLDS["cpu"])


def cmd_compare(args: argparse.Namespace) -> int:
    threshold = parse_threshold(args.threshold) if args.threshold is not None else None
    base, base_notes = load_run(args.base, "BASE")
    new, new_notes = load_run(args.new, "NEW")
    if threshold is None:
        threshold = default_threshold(base.env)
    differences = env_differences(base.env, new.env)
    if differences and not args.allow_env_mismatch:
        raise UsageError(
            f"BASE and NEW come from different environments ({'; '.join(differences)})"
            "; pass --allow-env-mismatch to compare anyway"
        )
    notes = [*base_notes, *new_notes, *planted_notes(base, "BASE"), *planted_notes(new, "NEW")]
    report = compare(base, new, METRICS[args.metric], threshold, differences, notes)
    print(RENDERERS[args.format](report, args.format))
    return report.exit_status
