"""The speed gate's decision, pure: given two runs' rows keyed by configuration, decide per pair
whether NEW is slower, faster, unchanged or too noisy to tell (bootstrap interval of the ratio of
medians, Mann-Whitney U, a threshold), and whether a result was lost. No files, no printing:
bench.compare reads the runs and bench.compare_render formats the Report.

Rows pair on bench.record.row_key (implementation + config). A row that was ok in BASE and is not
ok, unverified or absent in NEW lost a result: that is a regression too.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import UsageError
from bench.store import env_value

if TYPE_CHECKING:  # bench.stats imports scipy: loaded when a pair is measured, not at start-up
    from bench.stats import RatioEstimate

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

    def observations(self, row: dict[str, Any]) -> list[float]:
        """The row's samples, or its single value: positive finite numbers only (a NaN or a
        zero from a broken timer must not decide a verdict); empty when there are none."""
        data = row.get(self.samples) if self.samples else None
        values = data if data is not None and len(data) else [row.get(self.value)]
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
    estimate: RatioEstimate | None = None
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


def decide(estimate: RatioEstimate, threshold: float, metric: Metric) -> str:
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
    from bench import stats

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


def default_threshold(env: dict[str, Any]) -> float:
    return DEFAULT_THRESHOLDS.get(env_value(env, "device.type"), DEFAULT_THRESHOLDS["cpu"])
