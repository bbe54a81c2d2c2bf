"""hyena-compiled: it is really compiled (one graph, no eager fallback), the compile happens in the
calls the timer's warm-up makes and never in a timed one, it says why not where inductor cannot
run, and it is opt-in. Its forward and gradients against float64 are in test_correctness.py (at
one shape: each case compiles for tens of seconds on a CPU)."""

from __future__ import annotations

import pytest
import torch

from bench import timing
from bench.defaults import WARMUP_CALLS
from operators import compiled, registry
from operators.config import Config

CONFIG = Config(batch=1, seqlen=37, d_model=16, heads=2, order=2, level="layer")


def runs_here() -> None:
    why = registry.get("hyena-compiled").available("cpu")
    if not why:
        pytest.skip(why.reason)


def test_compiles_once_during_warm_up_and_never_while_timed():
    """The first call compiles one graph (fullgraph: a graph break would raise); the timer's
    warm-up makes at least WARMUP_CALLS calls before timing, and no timed call compiles again."""
    from torch._dynamo.utils import counters

    runs_here()
    case = compiled.build(CONFIG, "cpu")
    graphs_after_call: list[int] = []

    def step() -> None:
        case.step()
        graphs_after_call.append(counters["stats"]["unique_graphs"])

    opts = timing.TimingOptions(target_s=0.0, min_reps=3, warmup_s=0.0)
    measurement = timing.time_cpu(step, opts)
    assert WARMUP_CALLS >= 1 and measurement.reps == 3
    assert len(graphs_after_call) == WARMUP_CALLS + 3
    first = graphs_after_call[0]
    assert first >= 1, "the first call compiled a graph"
    assert graphs_after_call == [first] * len(graphs_after_call), "a later call recompiled"


def test_each_case_starts_a_fresh_compile_cache():
    """Without a reset, a worker's many cases would pass dynamo's recompile limit and run eager
    code under this name; each build resets the cache."""
    from torch._dynamo.utils import counters

    runs_here()
    compiled.build(CONFIG, "cpu")
    counters.clear()
    case = compiled.build(CONFIG.replace(seqlen=21), "cpu")
    with torch.no_grad():
        case.forward()
    assert counters["stats"]["unique_graphs"] == 1


def test_says_why_not_without_a_cpu_compiler(monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    reason = compiled.compile_reason.__wrapped__("cpu")
    assert reason and "C++ compiler" in reason and "/nonexistent/c++" in reason


def test_opt_in_left_out_unless_named():
    assert "hyena-compiled" not in [s.name for s in registry.select()]
    assert "hyena-compiled" not in [s.name for s in registry.select(families=["hyena"])]
    assert [s.name for s in registry.select(ops=["hyena-compiled"])] == ["hyena-compiled"]
    assert registry.opt_in(registry.get("hyena-compiled"))


def test_state_dict_keeps_the_layers_names():
    runs_here()
    case = compiled.build(CONFIG, "cpu")
    plain = registry.get("hyena-fft").build(CONFIG, "cpu")
    assert list(case.module.state_dict()) == list(plain.module.state_dict())
