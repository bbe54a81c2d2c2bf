"""How often does a nominal 95% interval of bench.stats hold the true value when successive timing
samples are correlated? Simulates per-call times with AR(1) noise at the lag-1 autocorrelations
met in committed runs (0.69 on the CPU, 0.91 on the H200) and counts, over many simulated rows,
how often each interval covers the truth (the table in README.md beside this file).

    python reports/baselines/coverage_study.py [--trials 400] [--out coverage.md] [--tables long]

Three intervals, as the project computes them:
- ratio: median(NEW)/median(BASE) of two separate series (compare, the report's speedups),
  resampling single calls (block length 1, what the project did before) and in blocks
  (bench.stats.block_length);
- ab: the per-block paired log ratios of an interleaved A/B row (bench.evidence), the load
  drift shared by both sides as it is when they alternate;
- long: the ratio of medians of two long series (bench.stats.LONG_SERIES samples and more take
  the order-statistic interval, `bench.stats.log_median_ratio`) under Gaussian, heavy-tailed
  (Student t, 3 degrees of freedom) and spiky (3% of calls slower by a factor e^Exp(1), 2.7x on
  average) AR(1) noise, beside the block bootstrap at the sizes where it runs in reasonable time;
- fastest: a speedup against the fastest of three equally fast candidates (the case where picking
  the fastest biases most), bootstrapping the winner alone (what the report does), or the
  minimum over every candidate in each resample with a percentile or a basic (reflected)
  interval (the alternative the report does not use: these numbers are why).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench import evidence, stats  # noqa: E402

CONFIDENCE = 0.95
SIGMA = 0.1  # log-scale spread of one call: p90/p10 = exp(2.56 * 0.1) = 1.29, a typical CPU row
RHOS = (0.0, 0.69, 0.91)
SAMPLES = (10, 30, 100, 300)
AB_PAIRS = (10, 20, 40)  # block pairs per row (hyena-bench ab --blocks)
AB_CALLS = 5  # calls per block
SEED = 2026
LONG_SAMPLES = (100, 300, 1000, 2000)  # the order-statistic interval at every size
BOOTSTRAP_LONG = (100, 300)  # the block bootstrap: 2,000 samples take ~1 s a row
NOISES = ("gaussian", "heavy-tailed", "spikes")
SPIKE_SHARE = 0.03  # calls hit by a spike (preempted, a page fault, a GC pause)


def ar1(rng: np.random.Generator, rho: float, n: int, sigma: float = SIGMA) -> np.ndarray:
    """A stationary AR(1) series with marginal N(0, sigma^2) and lag-1 autocorrelation rho."""
    e = np.empty(n)
    e[0] = rng.normal(0, sigma)
    innovations = rng.normal(0, sigma * np.sqrt(1 - rho**2), n)
    for t in range(1, n):
        e[t] = rho * e[t - 1] + innovations[t]
    return e


def noisy(rng: np.random.Generator, rho: float, n: int, noise: str) -> np.ndarray:
    """Log call times: AR(1) with Gaussian or Student-t (3 degrees of freedom, unit variance)
    innovations, or Gaussian AR(1) plus spikes on SPIKE_SHARE of the calls."""
    if noise != "heavy-tailed":
        e = ar1(rng, rho, n)
    else:
        e = np.empty(n)
        shocks = rng.standard_t(3, n) / np.sqrt(3) * SIGMA
        e[0] = shocks[0]
        for t in range(1, n):
            e[t] = rho * e[t - 1] + np.sqrt(1 - rho**2) * shocks[t]
    if noise == "spikes":
        e = e + (rng.random(n) < SPIKE_SHARE) * rng.exponential(1.0, n)
    return e


def long_trial(rng: np.random.Generator, rho: float, n: int, noise: str, method: str) -> bool:
    """Two independent series with the same distribution: does the ratio's interval hold 1?"""
    base, new = np.exp(noisy(rng, rho, n, noise)), np.exp(noisy(rng, rho, n, noise))
    if method == "order statistics":
        return covered(stats.log_median_ratio(base, new, CONFIDENCE), 0.0)
    return covered(stats.block_bootstrap([base, new], stats.median_ratio, CONFIDENCE), 1.0)


def covered(interval: stats.Interval, truth: float) -> bool:
    return interval.low <= truth <= interval.high


def ratio_trial(rng: np.random.Generator, rho: float, n: int, blocked: bool) -> bool:
    """Two independent runs with the same true median: does the ratio's interval hold 1?"""
    base, new = np.exp(ar1(rng, rho, n)), np.exp(ar1(rng, rho, n))
    lengths = None if blocked else [1, 1]
    r = stats.block_bootstrap([base, new], stats.median_ratio, CONFIDENCE, lengths=lengths)
    return covered(r, 1.0)


def ab_trial(rng: np.random.Generator, rho: float, pairs: int) -> bool:
    """An interleaved row: BASE and NEW alternate in blocks (ABBA), a shared AR(1) load on every
    call and independent per-call noise on each side; both sides equally fast."""
    calls = 2 * pairs * AB_CALLS
    load = ar1(rng, rho, calls) + rng.normal(0, SIGMA / 2, calls)
    blocks = np.exp(load).reshape(2 * pairs, AB_CALLS)
    first, second = blocks[0::2], blocks[1::2]
    swap = np.arange(pairs) % 2 == 1  # ABBA: odd pairs run NEW first
    base = np.where(swap[:, None], second, first)
    new = np.where(swap[:, None], first, second)
    pairs_evidence = evidence.interleaved(list(base), list(new))
    return covered(evidence.log_interval(pairs_evidence, CONFIDENCE), 0.0)


def fastest_trial(rng: np.random.Generator, rho: float, n: int, method: str) -> bool:
    """Baseline = the fastest of three equally fast candidates, subject as fast: true speedup 1.
    naive: the winner alone resampled; percentile/basic: every candidate resampled, the minimum
    taken in each resample, and the percentile or the basic (reflected) interval of that."""
    candidates = [np.exp(ar1(rng, rho, n)) for _ in range(3)]
    subject = np.exp(ar1(rng, rho, n))
    if method == "naive":
        winner = min(candidates, key=np.median)
        r = stats.block_bootstrap([subject, winner], stats.median_ratio, CONFIDENCE)
    else:
        r = stats.block_bootstrap(
            [*candidates, subject], fastest_over_subject, CONFIDENCE, method=method
        )
    return covered(r, 1.0)


def fastest_over_subject(parts: list[np.ndarray]) -> np.ndarray:
    fastest = np.min([np.median(p, axis=-1) for p in parts[:-1]], axis=0)
    return fastest / np.median(parts[-1], axis=-1)


FASTEST_METHODS = {
    "naive": "winner only resampled",
    "percentile": "minimum resampled, percentile",
    "basic": "minimum resampled, basic",
}


def rate(trial: Callable[[np.random.Generator], bool], trials: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    hits = sum(trial(rng) for _ in range(trials))
    return f"{100 * hits / trials:.0f}%"


def table(title: str, columns: list[str], rows: list[list[str]]) -> str:
    lines = [f"{title}", "", "| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def ratio_table(trials: int) -> str:
    rows = []
    for rho in RHOS:
        for blocked in (False, True):
            name = "blocks (block_length)" if blocked else "single calls"
            rows.append(
                [f"{rho:g}", name]
                + [
                    rate(partial(ratio_trial, rho=rho, n=n, blocked=blocked), trials, SEED + n)
                    for n in SAMPLES
                ]
            )
    return table(
        "Ratio of medians of two separate runs (compare, report speedups), samples per side:",
        ["lag-1 rho", "resampling", *(f"n={n}" for n in SAMPLES)],
        rows,
    )


def ab_table(trials: int) -> str:
    rows = [
        [f"{rho:g}"]
        + [rate(partial(ab_trial, rho=rho, pairs=p), trials, SEED + p) for p in AB_PAIRS]
        for rho in RHOS
    ]
    return table(
        f"Interleaved A/B row (ab), {AB_CALLS} calls per block, block pairs per row:",
        ["lag-1 rho of the load", *(f"{p} pairs" for p in AB_PAIRS)],
        rows,
    )


def long_table(trials: int) -> str:
    rows = []
    for noise in NOISES:
        for rho in RHOS:
            for method, sizes in (("order statistics", LONG_SAMPLES), ("blocks", BOOTSTRAP_LONG)):
                rows.append(
                    [noise, f"{rho:g}", method]
                    + [
                        rate(
                            partial(long_trial, rho=rho, n=n, noise=noise, method=method),
                            trials,
                            SEED + n,
                        )
                        if n in sizes
                        else "-"
                        for n in LONG_SAMPLES
                    ]
                )
    return table(
        "Ratio of medians of two separate runs, long series: the order-statistic interval "
        f"(bench.stats uses it from {stats.LONG_SERIES} samples a side) and the block "
        "bootstrap, samples per side:",
        ["noise", "lag-1 rho", "interval", *(f"n={n}" for n in LONG_SAMPLES)],
        rows,
    )


def fastest_table(trials: int) -> str:
    rows = []
    for rho in RHOS:
        for method, name in FASTEST_METHODS.items():
            rows.append(
                [f"{rho:g}", name]
                + [
                    rate(partial(fastest_trial, rho=rho, n=n, method=method), trials, SEED + n)
                    for n in SAMPLES[:3]
                ]
            )
    return table(
        "Speedup against the fastest of three equally fast candidates, samples per series:",
        ["lag-1 rho", "bootstrap", *(f"n={n}" for n in SAMPLES[:3])],
        rows,
    )


TABLES = {"ratio": ratio_table, "ab": ab_table, "long": long_table, "fastest": fastest_table}


def study(trials: int, tables: list[str] | None = None) -> str:
    return "\n".join(TABLES[name](trials) for name in tables or TABLES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400, help="simulated rows per cell")
    parser.add_argument("--out", type=Path, help="also write the tables here")
    parser.add_argument(
        "--tables", nargs="+", choices=list(TABLES), help="only these tables (default: all)"
    )
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = study(args.trials, args.tables)
    head = (
        f"Coverage of the nominal {CONFIDENCE:.0%} interval, {args.trials} simulated rows per "
        f"cell (binomial standard error about 1%), log-normal calls with sigma {SIGMA} and "
        f"AR(1) noise, seed {SEED}; {started}; "
        f"`python reports/baselines/coverage_study.py --trials {args.trials}"
        + (f" --tables {' '.join(args.tables)}" if args.tables else "")
        + "`\n"
    )
    print(head + "\n" + text)
    if args.out:
        args.out.write_text(head + "\n" + text)


if __name__ == "__main__":
    main()
