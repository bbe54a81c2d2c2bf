"""How noisy is the regression gate here? Collects fresh A/A and planted-slowdown runs of the gate
sweep, then replays `hyena-bench compare` over them at several thresholds: the A/A false-alarm
rate and the detection rate per planted slowdown (the numbers in README.md beside this file).

    python reports/baselines/gate_noise_study.py collect --out /tmp/study --cycles 36
    python reports/baselines/gate_noise_study.py analyse /tmp/study [--max-load 3]

One cycle = two unplanted sweeps A, B and one planted sweep P (levels taken in turn):
compare(A, B) is one A/A repeat; compare(B, P) is one detection trial. With --concurrent, A and B
run at the same time, then a fresh U together with P, and P is compared with U. The analysis
prints, per threshold, "A/A exit 1 in k/n" and then, per planted level, the trials caught.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench import compare, comparison  # noqa: E402

# The gate sweep: the same as `nox -s regress` and tests/bench/test_compare_gate.py, over the
# test plugin's test-planted-* implementations (HYENA_BENCH_TEST_SLOWDOWN slows them down).
GATE_SWEEP = (
    "--ops",
    "test-planted-hyena-fft,test-planted-attention-sdpa-math",
    "--seqlens",
    "1k,2k",
    "--batch",
    "1",
    "--d-model",
    "64",
    "--heads",
    "4",
    "--target-time",
    "0.2",
    "--quiet",
)
# One torch thread: on a shared 2-core machine two threads wait on each other whenever another
# process takes a core, which turns a 2 ms call into a 100 ms one (measured, README.md).
GATE_ENV = {"OMP_NUM_THREADS": "1"}
LEVELS = (0.10, 0.20, 0.50, 1.0, 2.0, 4.0)
THRESHOLDS = (0.05, 0.10, 0.15, 0.25, 0.50, 1.0, 2.0)


def start(out: Path, planted: float = 0.0) -> subprocess.Popen:
    plugins = REPO / "tests" / "plugins"
    env = {**os.environ, **GATE_ENV, "PYTHONPATH": os.pathsep.join([str(plugins), str(REPO)])}
    env.pop("TRITON_INTERPRET", None)
    if planted:
        env["HYENA_BENCH_TEST_SLOWDOWN"] = str(planted)
    cmd = [sys.executable, "-m", "bench", "run", *GATE_SWEEP, "--out", str(out)]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL)


def sweeps(*runs: tuple[Path, float]) -> None:
    """Run these sweeps at the same time (sharing whatever load the machine has) and wait."""
    for proc in [start(out, planted) for out, planted in runs]:
        if proc.wait() != 0:
            raise RuntimeError(f"sweep failed: {proc.args}")


def run_cycle(cycle: Path, level: float, concurrent: bool) -> None:
    """Sequential: A, B, P one after another. Concurrent: A with B, then U with P (P is then
    compared with U, measured at the same time, instead of with B)."""
    if concurrent:
        sweeps((cycle / "a", 0.0), (cycle / "b", 0.0))
        sweeps((cycle / "u", 0.0), (cycle / "p", level))
    else:
        for name, planted in (("a", 0.0), ("b", 0.0), ("p", level)):
            sweeps((cycle / name, planted))


def collect(out: Path, cycles: int, levels: tuple[float, ...], concurrent: bool) -> None:
    for i in range(cycles):
        cycle = out / f"cycle-{i:03d}"
        if (cycle / "meta.json").exists():
            continue  # resume an interrupted study
        shutil.rmtree(cycle, ignore_errors=True)  # a cycle cut off half-way starts again
        level = levels[i % len(levels)]
        t0 = time.time()
        run_cycle(cycle, level, concurrent)
        meta = {
            "planted": level,
            "concurrent": concurrent,
            "seconds": time.time() - t0,
            "loadavg": os.getloadavg(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        (cycle / "meta.json").write_text(json.dumps(meta))
        print(f"cycle {i}: planted {level:g}, {meta['seconds']:.0f} s, load {meta['loadavg']}")


def report_for(base: Path, new: Path, threshold: float) -> comparison.Report:
    a, _ = compare.load_run(str(base), "BASE")
    b, _ = compare.load_run(str(new), "NEW")
    return comparison.compare(a, b, comparison.METRICS["latency"], threshold, [], [])


def analyse(out: Path, max_load: float) -> None:
    found = sorted(p.parent for p in out.glob("cycle-*/meta.json"))
    pairs = [(c, json.loads((c / "meta.json").read_text())) for c in found]
    pairs = [(c, m) for c, m in pairs if m["loadavg"][0] <= max_load]
    cycles, metas = [c for c, _ in pairs], [m for _, m in pairs]
    loads = [m["loadavg"][0] for m in metas]
    print(f"{len(cycles)} cycles; 1-min load average {min(loads):.1f}..{max(loads):.1f}")
    for threshold in THRESHOLDS:
        aa = [report_for(c / "a", c / "b", threshold) for c in cycles]
        flagged = sum(len(r.regressions) for r in aa)
        line = [
            f"threshold {threshold:.0%}: A/A exit 1 in {sum(r.exit_status for r in aa)}"
            f"/{len(aa)} ({flagged}/{sum(len(r.outcomes) for r in aa)} rows)"
        ]
        for level in sorted({m["planted"] for m in metas}):
            trials = [
                report_for(c / ("u" if m.get("concurrent") else "b"), c / "p", threshold)
                for c, m in zip(cycles, metas, strict=True)
                if m["planted"] == level
            ]
            rows = sum(len(r.regressions) for r in trials)
            line.append(
                f"{level:.0%}: {sum(r.exit_status for r in trials)}/{len(trials)} runs, "
                f"{rows}/{sum(len(r.outcomes) for r in trials)} rows"
            )
        print("; ".join(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("collect")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cycles", type=int, default=30)
    p.add_argument("--levels", default=",".join(map(str, LEVELS)))
    p.add_argument("--concurrent", action="store_true", help="run the compared sweeps together")
    p = sub.add_parser("analyse")
    p.add_argument("out", type=Path)
    p.add_argument("--max-load", type=float, default=1e9, help="only cycles below this load")
    args = parser.parse_args()
    if args.what == "collect":
        levels = tuple(float(x) for x in args.levels.split(","))
        collect(args.out, args.cycles, levels, args.concurrent)
    else:
        analyse(args.out, args.max_load)


if __name__ == "__main__":
    main()
