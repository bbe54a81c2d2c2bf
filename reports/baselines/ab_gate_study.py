"""How often do the speed gates cry wolf on this machine, and how small a slowdown do they catch?
Collects A/A and planted-slowdown trials of `hyena-bench ab` (interleaved) and of two separate
`hyena-bench run`s compared with `hyena-bench compare`, then replays both decisions over the
kept run directories at several thresholds (the tables in README.md beside this file).

    python reports/baselines/ab_gate_study.py collect --out /tmp/gate --cycles 30
    python reports/baselines/ab_gate_study.py collect --out /tmp/gate --start 30 --tools ab
    python reports/baselines/ab_gate_study.py analyse /tmp/gate

One cycle = an ab A/A trial, an ab planted trial, a compare A/A trial and a compare planted
trial, in that order, the planted levels taken in turn; every other cycle runs with a CPU hog
(one busy process) beside it. Planted = the test plugin's test-planted-* implementations, which
busy-wait HYENA_BENCH_TEST_SLOWDOWN times each call's own duration after the real work.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench import ab, compare, comparison  # noqa: E402

# The smoke preset's configuration (B=1, D=64, 4 heads, fp32, layer, forward) over the two
# implementations the test plugin can slow down, L 256..1k: 6 rows, about a minute a trial.
OPS = ("hyena-fft", "attention-sdpa-math")
SWEEP = ("--preset", "smoke", "--seqlens", "256..1k", "--target-time", "0.3", "--quiet")
ENV = {"OMP_NUM_THREADS": "1"}  # one torch thread (README.md: two wait on each other under load)
AB_LEVELS = (0.05, 0.10, 0.20)
COMPARE_LEVELS = (0.20, 0.50, 1.00)
AB_THRESHOLDS = (0.02, 0.05, 0.10)
COMPARE_THRESHOLDS = (0.10, 0.25, 0.50)


def planted(ops: tuple[str, ...]) -> str:
    return ",".join(f"test-planted-{op}" for op in ops)


def bench(*args: str, slowdown: float = 0.0) -> int:
    env = {**os.environ, **ENV, "HYENA_BENCH_TEST_SLOWDOWN": str(slowdown)}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests" / "plugins"), str(REPO)])
    env.pop("TRITON_INTERPRET", None)
    cmd = [sys.executable, "-m", "bench", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=1800).returncode


def ab_trial(out: Path, level: float) -> dict:
    pairs = {}
    if level:
        pairs = dict(zip(OPS, planted(OPS).split(","), strict=True))
        which = ("--base-op", ",".join(OPS), "--new-op", planted(OPS))
    else:
        which = ("--ops", ",".join(OPS))
    code = bench("ab", *SWEEP, *which, "--out", str(out), slowdown=level)
    return {"tool": "ab", "exit": code, "pairs": pairs}


def compare_trial(out: Path, level: float) -> dict:
    """Two separate runs, one after the other, of the same (planted-capable) implementations."""
    which = ("--ops", planted(OPS))
    codes = [
        bench("run", *SWEEP, *which, "--out", str(out / "base")),
        bench("run", *SWEEP, *which, "--out", str(out / "new"), slowdown=level),
    ]
    code = bench("compare", str(out / "base"), str(out / "new"))
    return {"tool": "compare", "exit": code, "run_exits": codes}


def trial(out: Path, kind: str, level: float, hog: bool) -> None:
    load = os.getloadavg()[0]
    started = time.time()
    hog_proc = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if hog else None
    try:
        run = ab_trial if kind == "ab" else compare_trial
        result = run(out, level)
    finally:
        if hog_proc is not None:
            hog_proc.kill()
            hog_proc.wait()
    result.update(
        level=level,
        hog=hog,
        load_before=load,
        load_after=os.getloadavg()[0],
        wall_s=round(time.time() - started, 1),
        at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
    )
    (out / "trial.json").write_text(json.dumps(result))
    print(json.dumps({"dir": str(out), **result}), flush=True)


def collect(out: Path, cycles: int, start: int, tools: tuple[str, ...]) -> None:
    for c in range(start, start + cycles):
        hog = c % 2 == 1
        for kind, level in (
            ("ab", 0.0),
            ("ab", AB_LEVELS[c % len(AB_LEVELS)]),
            ("compare", 0.0),
            ("compare", COMPARE_LEVELS[c % len(COMPARE_LEVELS)]),
        ):
            if kind not in tools:
                continue
            name = f"c{c:03d}-{kind}-{'aa' if level == 0 else f'p{level:g}'}"
            directory = out / name
            if (directory / "trial.json").exists():
                continue
            directory.mkdir(parents=True, exist_ok=True)
            trial(directory, kind, level, hog)


def verdict(directory: Path, info: dict, threshold: float) -> int | None:
    """The exit status the trial's gate gives at `threshold`, replayed on its kept runs."""
    try:
        if info["tool"] == "ab":
            return ab.decide(directory, info["pairs"], threshold, []).exit_status
        base, _ = compare.load_run(str(directory / "base"), "BASE")
        new, _ = compare.load_run(str(directory / "new"), "NEW")
        report = comparison.compare(base, new, comparison.METRICS["latency"], threshold, [], [])
        return report.exit_status
    except Exception:  # a trial whose runs did not finish: not counted
        return None


def observed(directory: Path, info: dict) -> float | None:
    """The trial's geometric-mean ratio NEW/BASE over its rows (what the planted level became)."""
    try:
        if info["tool"] == "ab":
            summary = ab.decide(directory, info["pairs"], 0.05, []).summary
        else:
            base, _ = compare.load_run(str(directory / "base"), "BASE")
            new, _ = compare.load_run(str(directory / "new"), "NEW")
            metric = comparison.METRICS["latency"]
            summary = comparison.compare(base, new, metric, 0.25, [], []).summary
    except Exception:
        return None
    return summary.ratio if summary else None


def analyse(out: Path, tools: tuple[str, ...]) -> None:
    trials = []
    for path in sorted(out.glob("*/trial.json")):
        trials.append((path.parent, json.loads(path.read_text())))
    loads = [t["load_before"] for _, t in trials]
    print(f"{len(trials)} trials, 1-minute load average {min(loads):.1f}-{max(loads):.1f}")
    for tool, thresholds in (("ab", AB_THRESHOLDS), ("compare", COMPARE_THRESHOLDS)):
        if tool not in tools:
            continue
        mine = [(d, t) for d, t in trials if t["tool"] == tool]
        levels = sorted({t["level"] for _, t in mine})
        head = ["threshold", *(f"{'A/A' if x == 0 else f'+{x:.0%}'}" for x in levels)]
        print(f"\n{tool}: exit 1 / trials (A/A: false alarms; +x%: planted slowdowns caught)")
        print("| " + " | ".join(head) + " |\n|" + " --- |" * len(head))
        for th in thresholds:
            cells = []
            for level in levels:
                codes = [verdict(d, t, th) for d, t in mine if t["level"] == level]
                codes = [c for c in codes if c is not None]
                hog = [verdict(d, t, th) for d, t in mine if t["level"] == level and t["hog"]]
                cells.append(
                    f"{codes.count(1)}/{len(codes)} ({[c for c in hog if c is not None].count(1)}"
                    f"/{len([c for c in hog if c is not None])} with hog)"
                )
            print(f"| {th:.0%} | " + " | ".join(cells) + " |")
        ratios = []
        for level in levels:
            seen = [observed(d, t) for d, t in mine if t["level"] == level]
            seen = sorted(r for r in seen if r is not None)
            ratios.append(f"{(seen[len(seen) // 2] - 1) * 100:+.0f}%" if seen else "-")
        print("| median geometric-mean change NEW/BASE | " + " | ".join(ratios) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--cycles", type=int, default=30)
    c.add_argument("--start", type=int, default=0, help="first cycle number (to extend a study)")
    c.add_argument(
        "--tools", default="ab,compare", help="which gates' trials to run (ab, compare or both)"
    )
    a = sub.add_parser("analyse")
    a.add_argument("out", type=Path)
    a.add_argument("--tools", default="ab,compare", help="which gates' trials to analyse")
    args = parser.parse_args()
    if args.what == "collect":
        collect(args.out, args.cycles, args.start, tuple(args.tools.split(",")))
    else:
        analyse(args.out, tuple(args.tools.split(",")))


if __name__ == "__main__":
    main()
