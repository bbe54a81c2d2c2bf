"""operators/vml.py: MKL's math dispatch is settled, one thread, before any case is built
(pytorch/pytorch#188792); and tests/benchmarks/vml_race.py, the study that counts the race."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from operators import vml
from tests.benchmarks import vml_race
from tests.conftest import REPO, cli_env


def test_warm_calls_each_function_once_in_each_dtype(monkeypatch):
    seen = []
    for name in set(vml.REAL) | set(vml.COMPLEX):
        real = getattr(torch, name)
        monkeypatch.setattr(
            torch, name, lambda x, _n=name, _f=real: seen.append((_n, x.dtype, x.numel())) or _f(x)
        )
    assert vml.warm() == len(vml.calls()) == len(seen)
    assert sorted(seen, key=str) == sorted(((n, d, 1) for n, d in vml.calls()), key=str)
    assert {("sin", torch.float32), ("sin", torch.float64), ("exp", torch.float32)} <= {
        (n, d) for n, d, _ in seen
    }
    assert {("sin", torch.complex64), ("sqrt", torch.complex128)} <= {(n, d) for n, d, _ in seen}


def test_every_call_runs_on_this_torch():
    for name, dtype in vml.calls():
        out = getattr(torch, name)(torch.full((1,), 0.5, dtype=dtype))
        assert out.dtype == dtype and out.numel() == 1, (name, dtype)


def test_importing_the_plugin_table_warms_once():
    code = (
        "import operators.vml as v; made = []; real = v.warm; "
        "v.warm = lambda: made.append(real()); "
        "import operators.registry, operators.case; print(made == [len(v.calls())])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=cli_env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_the_study_tallies_each_arm():
    results = [(False, True), (True, False), (False, False), (True, False)]
    assert vml_race.tally(results) == {"cold": (1, 2), "warmed": (0, 2)}


@pytest.mark.slow
def test_the_study_runs_one_wave():
    results = vml_race.wave(width=2, threads=2)
    assert [warmed for warmed, _ in results] == [False, True]
    assert all(isinstance(bad, bool) for _, bad in results)
