"""How often a fresh process's first parallel `torch.sin` comes back wrong, with and without
operators/vml.py's warm-up (pytorch/pytorch#188792: oneMKL picks a VML kernel on a function's
first call, and when that call runs on several threads one thread may use a low-accuracy kernel).

    PYTHONPATH=. python -m tests.benchmarks.vml_race [--waves 80] [--width 4] [--threads 8]

Each wave starts `width` fresh processes at once (half warm first, half do not; the machine's
oversubscription is the point). Each one does what a sweep's worker does before its first check
(a matmul and a large copy, the ceilings, under the workers' malloc setting), then one torch.sin
of 16,384 floats on `threads` threads, and says whether any element is off the float64 sine by
more than 1e-6 (the correct kernel is within 1 ulp, about 6e-8). Prints counts per arm; asserts
nothing (a study, not a test). Numbers: docs/HOSTILE.md, "Platform bugs the harness guards".
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench import allocator
from tests.conftest import cli_env

CHILD = r"""
import sys, time, torch
threads, warm = int(sys.argv[1]), sys.argv[2] == "1"
torch.set_num_threads(threads)
if warm:
    from operators import vml
    vml.warm()
gen = torch.Generator().manual_seed(0)
a, b = torch.randn(512, 512, generator=gen), torch.randn(512, 512, generator=gen)
c = torch.empty(512, 512)
t0 = time.perf_counter()
while time.perf_counter() - t0 < 0.1:
    torch.mm(a, b, out=c)
src = torch.ones(64 << 20, dtype=torch.uint8)
dst = torch.empty_like(src)
for _ in range(5):
    dst.copy_(src)
x = torch.rand(1, 256, 64, generator=gen) * 2 - 1
err = (torch.sin(x).double() - torch.sin(x.double())).abs().max().item()
print(int(err > 1e-6))
"""


def wave(width: int, threads: int) -> list[tuple[bool, bool]]:
    """(warmed, corrupted) for each of `width` processes started together."""
    procs = [
        (i % 2 == 1, subprocess.Popen(
            [sys.executable, "-c", CHILD, str(threads), str(i % 2)],
            stdout=subprocess.PIPE, text=True, env=cli_env(**allocator.SETTINGS["retain"]),
        ))
        for i in range(width)
    ]  # fmt: skip
    results = []
    for warmed, proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0 or out.strip() not in ("0", "1"):
            raise RuntimeError(f"a study process failed (exit {proc.returncode}): {out!r}")
        results.append((warmed, out.strip() == "1"))
    return results


def tally(results: list[tuple[bool, bool]]) -> dict[str, tuple[int, int]]:
    """{arm: (corrupted, processes)} for the arms `cold` and `warmed`."""
    counts = {}
    for name, warmed in (("cold", False), ("warmed", True)):
        arm = [bad for w, bad in results if w == warmed]
        counts[name] = (sum(arm), len(arm))
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=80)
    parser.add_argument("--width", type=int, default=4, help="processes a wave (even)")
    parser.add_argument("--threads", type=int, default=8, help="torch threads a process")
    args = parser.parse_args(argv)
    results = []
    for i in range(args.waves):
        results += wave(args.width, args.threads)
        if (i + 1) % 10 == 0 or i + 1 == args.waves:
            shown = ", ".join(f"{k} {b}/{n}" for k, (b, n) in tally(results).items())
            print(f"after {i + 1} waves: corrupted first calls: {shown}", flush=True)


if __name__ == "__main__":
    main()
