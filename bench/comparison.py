"""The speed gates' decision, pure: given BASE's and NEW's rows keyed by configuration, decide
per pair whether NEW is slower, faster, unchanged or too noisy to tell, whether a result was
lost, and, for the sweep as a whole, whether it regressed. No files, no printing: bench.compare
and bench.ab read the runs, bench.compare_render formats the Report.

Per pair: the log ratio NEW/BASE and its interval (bench.evidence: two separate runs for
`compare`, per-block paired ratios for `hyena-bench ab`; a block bootstrap, or order statistics
for long series, bench.stats), and a one-sided p-value for "NEW is slower than BASE by more than
the threshold". Per sweep, two tests that share the false-alarm budget ALPHA (half each, so
together they stay within it, Bonferroni):
- Holm's step-down adjustment of the pairs' p-values: a pair is slower when its adjusted
  p-value is at most ALPHA / 2, which keeps the chance of any false alarm among all the pairs
  at ALPHA / 2, however many there are;
- the geometric mean of the ratios over all pairs, with its own interval and one-sided p-value:
  the sweep regressed as a whole when that is at most ALPHA / 2 (a slowdown spread over every
  row is caught this way long before any single row is sure of it).

Rows pair on bench.record.row_key (implementation + config). A row that was ok in BASE and is not
ok, unverified or absent in NEW lost a result: that is a regression too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np  # loaded already: bench.store's rows hold their samples as arrays

from bench.errors import UsageError
from bench.store import env_value

if TYPE_CHECKING:  # scipy loads when a pair is measured, not at start-up
    from bench.evidence import Evidence

# The smallest change that counts for `compare`, by the runs' device type, chosen from A/A and
# planted-slowdown runs (reports/baselines/README.md has the tables). cuda 5%: on an H200, rows
# of >= 0.8 ms per call moved < 1% between runs, and a planted 10% slowdown was caught in every
# row. cpu 25%: on a shared 2-core machine whole runs shift with other processes' load, which no
# within-run statistic sees; below 25% A/A false alarms climb steeply. Another device type gets
# the cpu value (the cautious one).
DEFAULT_THRESHOLDS = {"cuda": 0.05, "cpu": 0.25}
# The intervals shown per pair and for the geometric mean.
CONFIDENCE = 0.95
# False-alarm rate per sweep, split evenly between the two tests above: Holm keeps the chance
# that any pair is called slower by mistake at ALPHA / 2, the geometric-mean test its own at
# ALPHA / 2, whatever the number of pairs.
ALPHA = 0.05
ALPHA_EACH = ALPHA / 2
EXIT_OK, EXIT_REGRESSION = 0, 1
UNCHANGED, INCONCLUSIVE = "unchanged", "inconclusive"
LOST, GAINED, CHANGED = "lost", "gained", "status changed"
ABSENT = "absent"


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

    def observations(self, row: dict[str, Any]) -> list[float] | np.ndarray:
        """The row's samples, or its single value: positive finite numbers only (a NaN or a
        zero from a broken timer must not decide a verdict); empty when there are none. Samples
        loaded as a float array (bench.store) are filtered as one (2,000 a row, 2,600 rows)."""
        data = row.get(self.samples) if self.samples else None
        values = data if data is not None and len(data) else [row.get(self.value)]
        if isinstance(values, np.ndarray) and values.dtype == np.float64:
            return values[np.isfinite(values) & (values > 0)]
        return [float(x) for x in values if usable(x)]


def usable(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x > 0


METRICS = {
    "latency": Metric("latency", "latency_ms_median", "samples_ms", "ms", 1.0, "slower", "faster"),
    "memory": Metric("memory", "peak_mem_bytes", None, "MiB", 2.0**-20, "larger", "smaller"),
}
# How a pair of ok rows becomes Evidence (bench.evidence); None: nothing to compare.
EvidenceOf = Callable[[dict[str, Any], dict[str, Any], Metric], "Evidence | None"]


@dataclass(frozen=True)
class Estimate:
    """NEW/BASE ratio with its CONFIDENCE interval; Holm-adjusted one-sided p-values for "worse
    by more than the threshold" and "better by more than it"; what was measured a side."""

    ratio: float
    low: float
    high: float
    p_worse: float
    p_better: float
    n_base: int
    n_new: int


@dataclass(frozen=True)
class Outcome:
    """One configuration's verdict. Measured pairs carry `estimate`; status changes a reason."""

    key: tuple[Any, ...]
    verdict: str
    regression: bool
    base: str  # status on the base side ("absent" when missing)
    new: str
    estimate: Estimate | None = None
    base_value: float | None = None
    new_value: float | None = None
    reason: str = ""

    @property
    def size(self) -> float:
        """How big the change is, for sorting: |log ratio| (0 without an estimate)."""
        return abs(math.log(self.estimate.ratio)) if self.estimate else 0.0


@dataclass(frozen=True)
class Summary:
    """The sweep's geometric-mean ratio NEW/BASE over its measured pairs, with its interval and
    its one-sided p-value for "worse by more than the threshold"."""

    ratio: float
    low: float
    high: float
    pairs: int
    p_worse: float
    regression: bool


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
    summary: Summary | None = None
    design: str = "two runs"  # how the evidence was gathered (bench.evidence's two designs)

    @property
    def regressions(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.regression]

    @property
    def regressed(self) -> bool:
        """A pair is slower or lost, or the geometric mean over the pairs is slower."""
        return bool(self.regressions) or bool(self.summary and self.summary.regression)

    @property
    def exit_status(self) -> int:
        return EXIT_REGRESSION if self.regressed else EXIT_OK


def decide(estimate: Estimate, threshold: float, metric: Metric) -> str:
    """worse / better: beyond the threshold, and its Holm-adjusted p-value at most ALPHA_EACH.
    unchanged: the whole interval lies within the threshold band. inconclusive: anything else
    (too noisy to tell)."""
    limit = 1 + threshold
    if estimate.ratio > limit and estimate.p_worse <= ALPHA_EACH:
        return metric.worse
    if estimate.ratio < 1 / limit and estimate.p_better <= ALPHA_EACH:
        return metric.better
    if 1 / limit <= estimate.low and estimate.high <= limit:
        return UNCHANGED
    return INCONCLUSIVE


def two_run_evidence(base: dict, new: dict, metric: Metric) -> Evidence | None:
    """`compare`'s evidence: each side's samples (or single value), independent of the other."""
    from bench import evidence

    a, b = metric.observations(base), metric.observations(new)
    return evidence.two_runs(a, b) if len(a) and len(b) else None


@dataclass(frozen=True)
class Pending:
    """A pair ok on both sides, before the sweep-wide adjustment."""

    key: tuple[Any, ...]
    evidence: Evidence
    base_value: float
    new_value: float


def pending(key: tuple[Any, ...], base: dict, new: dict, metric: Metric, of: EvidenceOf):
    """A Pending pair, or an inconclusive Outcome when there is nothing to compare."""
    found = of(base, new, metric)
    if found is None:
        return Outcome(key, INCONCLUSIVE, False, "ok", "ok", reason=f"no {metric.name} recorded")
    a, b = metric.observations(base), metric.observations(new)
    return Pending(key, found, float(np.median(a)), float(np.median(b)))


def judge(
    pairs: list[Pending], metric: Metric, threshold: float
) -> tuple[list[Outcome], Summary | None]:
    """Verdicts for the measured pairs, Holm-adjusted across them, and the geometric mean."""
    if not pairs:
        return [], None
    from bench import evidence, stats

    limit = math.log(1 + threshold)
    intervals = [evidence.log_interval(p.evidence, CONFIDENCE) for p in pairs]
    worse = stats.holm([i.share_at_most(limit) for i in intervals])
    better = stats.holm([i.share_at_least(-limit) for i in intervals])
    outcomes = []
    for p, i, pw, pb in zip(pairs, intervals, worse, better, strict=True):
        e = p.evidence
        est = Estimate(
            math.exp(i.value), math.exp(i.low), math.exp(i.high), pw, pb, e.n_base, e.n_new
        )
        verdict = decide(est, threshold, metric)
        outcomes.append(
            Outcome(
                p.key, verdict, verdict == metric.worse, "ok", "ok", est, p.base_value, p.new_value
            )
        )
    mean = evidence.mean_log_interval([p.evidence for p in pairs], CONFIDENCE, intervals)
    p_mean = mean.share_at_most(limit)
    summary = Summary(
        math.exp(mean.value),
        math.exp(mean.low),
        math.exp(mean.high),
        len(pairs),
        p_mean,
        mean.value > limit and p_mean <= ALPHA_EACH,
    )
    return outcomes, summary


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
    key: tuple[Any, ...], base: dict | None, new: dict | None, metric: Metric, of: EvidenceOf
) -> Outcome | Pending | None:
    if base is None or new is None or base["status"] != "ok" or new["status"] != "ok":
        return status_change(key, base, new)
    return unverified(key, base, new) or pending(key, base, new, metric, of)


def compare(
    base: Run,
    new: Run,
    metric: Metric,
    threshold: float,
    differences: list[str],
    notes: list[str],
    evidence_of: EvidenceOf = two_run_evidence,
    design: str = "two runs",
) -> Report:
    keys = list(base.rows) + [k for k in new.rows if k not in base.rows]
    if not set(base.rows) & set(new.rows):
        raise UsageError(f"{base.directory} and {new.directory} have no configuration in common")
    found = [compare_pair(k, base.rows.get(k), new.rows.get(k), metric, evidence_of) for k in keys]
    measured, summary = judge([p for p in found if isinstance(p, Pending)], metric, threshold)
    by_key = {o.key: o for o in measured}
    outcomes = [by_key[o.key] if isinstance(o, Pending) else o for o in found if o is not None]
    return Report(base, new, metric, threshold, differences, outcomes, notes, summary, design)


def default_threshold(env: dict[str, Any]) -> float:
    return DEFAULT_THRESHOLDS.get(env_value(env, "device.type"), DEFAULT_THRESHOLDS["cpu"])
