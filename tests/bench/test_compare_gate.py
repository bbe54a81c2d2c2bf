"""The committed baselines (reports/baselines/) load and compare as no regression against
themselves. The speed gate end to end on this CPU (an A/A run passes, a planted slowdown fails)
is `hyena-bench ab`'s, tests/cli/test_ab_cli.py, as `nox -s regress` runs it."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, run_cli


@pytest.mark.parametrize("name", ["cpu-amd-epyc", "nvidia-h200"])
def test_committed_baselines_are_readable_and_stable_against_themselves(name):
    baseline = REPO / "reports" / "baselines" / name
    proc = run_cli("compare", str(baseline), str(baseline), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert '"regressions": 0' in proc.stdout
