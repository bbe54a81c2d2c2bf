"""Wall seconds of `compare` and `report` on the generated large run of issue 17 (2,600 rows x
2,000 samples, tests/hostile/bigrun.py), on the machine it runs on, with the standard library
only: the GPU machine's script (bench/device_run.sh) runs it to measure the aim (5 s each) on
that machine's 16 CPUs, where pytest-benchmark (tests/benchmarks/test_scale.py) may be missing.

    PYTHONPATH=. python -m tests.benchmarks.scale_walls [--rows N] [--samples S] [--rounds R]

Each command runs in its own process, as a user runs it (start-up included), the steps
interleaved round by round so that a change in the machine's load touches every step alike.
It prints one markdown table; nothing is asserted (a benchmark, not a timed test).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import REPO, cli_env
from tests.hostile import bigrun

# (what, arguments): {run} is the generated run, {out} a fresh report directory. The report with
# figures first and the serial one last: on a device with a time limit, what is cut is the least
# needed.
STEPS = (
    ("compare RUN RUN", ("compare", "{run}", "{run}")),
    ("report (figures, one worker per CPU)", ("report", "{run}", "--out", "{out}")),
    ("report --format csv (no figures)", ("report", "{run}", "--out", "{out}", "--format", "csv")),
    ("report --jobs 1 (one process)", ("report", "{run}", "--out", "{out}", "--jobs", "1")),
)


def cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def timed(args: list[str]) -> tuple[float, int, str]:
    """Wall seconds, exit code and the last stderr line of `python -m bench ARGS`."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    return wall, proc.returncode, (proc.stderr.strip().splitlines() or [""])[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=bigrun.ROWS)
    parser.add_argument("--samples", type=int, default=bigrun.SAMPLES)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hyena-scale-") as tmp:
        start = time.perf_counter()
        run = bigrun.write(Path(tmp) / "run", count=args.rows, samples=args.samples)
        size = (run / "results.jsonl").stat().st_size
        print(
            f"scale: {args.rows} rows x {args.samples} samples ({size / 2**20:.1f} MiB), generated "
            f"in {time.perf_counter() - start:.1f} s; {cpus()} CPUs, {platform.processor() or '?'}"
            f", {platform.python_version()}, load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        walls: dict[str, list[str]] = {what: [] for what, _ in STEPS}
        for round_ in range(args.rounds):
            for i, (what, template) in enumerate(STEPS):
                out = str(Path(tmp) / f"report-{round_}-{i}")
                wall, rc, last = timed([a.format(run=run, out=out) for a in template])
                walls[what].append(f"{wall:.1f}" if rc == 0 else f"exit {rc}: {last}")
                print(f"  {what}: {walls[what][-1]}", flush=True)
    print("\n| step | wall s (each round) |\n|---|---|")
    for what, values in walls.items():
        print(f"| `{what}` | {', '.join(values)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
