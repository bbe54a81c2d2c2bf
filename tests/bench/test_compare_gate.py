"""The speed gate end to end on this machine's CPU, as `nox -s regress` runs it: two fresh gate
sweeps compare as no regression (exit 0), and a planted slowdown is caught (exit 1). The sweeps
measure the test plugin's `test-planted-*` implementations (tests/plugins/hyena_bench_testops.py):
real ones, made slower by HYENA_BENCH_TEST_SLOWDOWN; nothing in the measuring code knows of it.

The compared sweeps run at the same time, so that both sides see the same load from other
processes (on a shared 2-core machine a row's median moved 2x or more in 10 of 36 sequential A/A
compares, 4 of 36 concurrent ones). The threshold is wide and the planted slowdown large because
of that noise: this checks the whole chain (runner, planted work, samples, pairing, verdict, exit
status), not the gate's sensitivity, which reports/baselines/README.md measures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PLUGINS, REPO, cli_env, run_cli

# Keep in step with REGRESS_* in noxfile.py.
GATE_SWEEP = (
    "--ops test-planted-hyena-fft,test-planted-attention-sdpa-math --seqlens 1k,2k --batch 1 "
    "--d-model 64 --heads 4 --target-time 0.2 --quiet"
)
GATE_ENV = {"OMP_NUM_THREADS": "1"}  # one torch thread: two wait on each other under load
# At 200%: no A/A false alarm in 36 concurrent repeats; 5x the work (planted 4.0) caught in 10/10.
PLANTED = "4.0"
THRESHOLD = "200%"
SWEEP_TIMEOUT_S = 240


def sweeps(*runs: tuple[Path, str]) -> None:
    """Run gate sweeps at the same time and wait for all of them."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench", "run", *GATE_SWEEP.split(), "--out", str(out)],
            cwd=REPO,
            env=cli_env(extra_path=[PLUGINS], **GATE_ENV, HYENA_BENCH_TEST_SLOWDOWN=planted),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for out, planted in runs
    ]
    outputs = [p.communicate(timeout=SWEEP_TIMEOUT_S)[0] for p in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output


def gate(base: Path, new: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("compare", str(base), str(new), "--threshold", THRESHOLD, env=cli_env())


@pytest.mark.slow
def test_gate_passes_a_a_and_catches_a_planted_slowdown(tmp_path):
    a, b, c, p = (tmp_path / name for name in ("a", "b", "c", "planted"))
    sweeps((a, ""), (b, ""))
    same = gate(a, b)
    assert same.returncode == 0, same.stdout + same.stderr
    sweeps((c, ""), (p, PLANTED))
    slower = gate(c, p)
    assert slower.returncode == 1, slower.stdout + slower.stderr
    assert "test-planted-hyena-fft is described differently" in slower.stdout
    assert "busy-wait of 4x" in slower.stdout
    assert "SLOWER" in slower.stdout


@pytest.mark.parametrize("name", ["cpu-amd-epyc", "nvidia-h200"])
def test_committed_baselines_are_readable_and_stable_against_themselves(name):
    baseline = REPO / "reports" / "baselines" / name
    proc = run_cli("compare", str(baseline), str(baseline), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert '"regressions": 0' in proc.stdout
