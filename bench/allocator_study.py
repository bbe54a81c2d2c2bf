"""How much does the CPU allocator setting change CPU latencies? Runs the same small sweep under
glibc's defaults and under each candidate MALLOC_* setting, interleaved (every round runs every
arm, in a rotated order), and prints each arm's latency as a ratio to glibc's defaults measured in
the same round, with page faults per call. The numbers behind bench/allocator.py's choice.

    python -m bench.allocator_study --out /tmp/alloc --rounds 3 [--arms glibc,retain] [--threads 1]
    python -m bench.allocator_study --out /tmp/alloc --analyse-only

Ratios < 1 are faster than glibc's defaults. Each arm is a real `hyena-bench run` whose workers
get exactly the arm's variables (HYENA_BENCH_CPU_ALLOCATOR=glibc, so the runner adds nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import allocator, store

REPO = Path(__file__).resolve().parent.parent
# The sweep: the smoke preset's layer configuration, where the issue saw dense attention at 4k
# run 2.3-2.6x faster without mmap; verification off (it does not change the timed calls).
SWEEP = (
    "--ops",
    "attention-dense,hyena-fft",
    "--seqlens",
    "1k..4k",
    "--batch",
    "1",
    "--d-model",
    "64",
    "--heads",
    "4",
    "--target-time",
    "0.3",
    "--no-verify",
    "--quiet",
)
GIB = str(1 << 30)
ARMS: dict[str, dict[str, str]] = {
    "glibc": {},
    "mmap_max_0": {"MALLOC_MMAP_MAX_": "0"},
    "retain": allocator.SETTINGS["retain"],
    "top_pad": {"MALLOC_TOP_PAD_": GIB, "MALLOC_TRIM_THRESHOLD_": allocator.NEVER_TRIM},
    "mmap_threshold_max": {
        "MALLOC_MMAP_THRESHOLD_": str(32 << 20),  # glibc's largest allowed mmap threshold
        "MALLOC_TRIM_THRESHOLD_": allocator.NEVER_TRIM,
    },
}
BASE_ARM = "glibc"


def run_arm(out: Path, variables: dict[str, str], threads: int | None) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MALLOC_") and k != "TRITON_INTERPRET"
    }
    env.update(variables, PYTHONPATH=str(REPO))
    env[allocator.ENV] = "glibc"
    if threads:  # one thread: on a loaded machine two threads wait on each other (gate study)
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "bench", "run", *SWEEP, "--out", str(out)]
    subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)


def collect(out: Path, rounds: int, names: list[str], threads: int | None) -> None:
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            target = out / f"round-{r:02d}" / name
            if (target / "done.json").exists():
                continue
            load = os.getloadavg()[0]
            run_arm(target, ARMS[name], threads)
            meta = {"load_before": load, "load_after": os.getloadavg()[0], "at": time.time()}
            (target / "done.json").write_text(json.dumps(meta))
            print(f"round {r} {name}: load {load:.1f} -> {meta['load_after']:.1f}", flush=True)


def medians(directory: Path) -> dict[tuple[str, int], tuple[float, float | None]]:
    """(op, seqlen) -> (median latency ms, minor faults per call) of the ok rows."""
    return {
        (r["op"], r["seqlen"]): (r["latency_ms_median"], r.get("minor_faults_per_call"))
        for r in store.read_rows(directory)
        if r["status"] == "ok"
    }


def analyse(out: Path, names: list[str]) -> None:
    rounds = sorted(p for p in out.glob("round-*") if (p / BASE_ARM / "done.json").exists())
    loads = [
        json.loads((p / name / "done.json").read_text())[key]
        for p in rounds
        for name in names
        if (p / name / "done.json").exists()
        for key in ("load_before", "load_after")
    ]
    env = store.read_env(rounds[0] / BASE_ARM)
    print(
        f"{len(rounds)} rounds on {env['cpu']['model']} ({env['cpu']['threads']} CPUs, "
        f"{env['cpu']['torch_threads']} torch threads, torch {env['torch']}), "
        f"{env['started_at'][:10]}; 1-min load {min(loads):.1f}..{max(loads):.1f}"
    )
    keys = sorted(medians(rounds[0] / BASE_ARM))
    print("| arm | " + " | ".join(f"{op} L={n}" for op, n in keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name in names:
        cells = []
        for key in keys:
            ratios, faults = [], []
            for p in rounds:
                if not (p / name / "done.json").exists():
                    continue
                base, arm = medians(p / BASE_ARM), medians(p / name)
                if key in base and key in arm:
                    ratios.append(arm[key][0] / base[key][0])
                    if arm[key][1] is not None:
                        faults.append(arm[key][1])
            ratio = f"{statistics.median(ratios):.2f}x" if ratios else "-"
            fault = f" ({statistics.median(faults):,.0f} faults)" if faults else ""
            cells.append(ratio + fault)
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated arm names")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for the runs")
    parser.add_argument("--analyse-only", action="store_true")
    args = parser.parse_args()
    names = [BASE_ARM, *(a for a in args.arms.split(",") if a != BASE_ARM)]
    unknown = [a for a in names if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm {unknown[0]}; choose from {', '.join(ARMS)}")
    if not args.analyse_only:
        collect(args.out, args.rounds, names, args.threads)
    analyse(args.out, names)


if __name__ == "__main__":
    main()
