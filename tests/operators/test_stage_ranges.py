"""The named profiler ranges a case opens when built with stages=True (what `run --stages` and
`profile` attribute time to): each layer's stages by name and count, the core's one stage, and
none at all when stages are off (the default, so timed runs carry no profiler ranges)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from operators import attention, hyena, registry
from operators.config import Config

CPU = torch.device("cpu")
LAYER = Config(batch=1, seqlen=16, d_model=8, heads=2, order=3, level="layer")


def ranges(fn) -> Counter:
    """How often each stage range opened while `fn` ran."""
    stages = set(hyena.STAGES) | set(attention.STAGES)
    with (
        torch.no_grad(),
        torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof,
    ):
        fn()
    return Counter(e.name for e in prof.events() if e.name in stages)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hyena-fft", {**dict.fromkeys(hyena.STAGES, 1), "hyena.gating": 3, "hyena.long_conv": 2}),
        ("attention-dense", dict.fromkeys(attention.STAGES, 1)),
    ],
)
def test_layer_stages(name, expected):
    """Order 3: two long convolutions, each after a gate, and the final gate."""
    case = registry.get(name).build(LAYER, CPU, stages=True)
    assert ranges(case.forward) == expected
    assert ranges(registry.get(name).build(LAYER, CPU).forward) == {}


@pytest.mark.parametrize(
    ("name", "stage"),
    [("hyena-naive", "hyena.long_conv"), ("attention-sdpa-math", "attention.core")],
)
def test_core_stage(name, stage):
    core = LAYER.replace(level="core")
    assert ranges(registry.get(name).build(core, CPU, stages=True).forward) == {stage: 1}
    assert ranges(registry.get(name).build(core, CPU).forward) == {}


def test_layers_built_directly_open_no_ranges():
    attn = attention.AttentionLayer(8, 2, attention.dense_attention, attention.BHLD)
    conv = hyena.HyenaOperator(8, 16, 2, lambda u, h, b: u)
    x = torch.randn(1, 16, 8)
    assert ranges(lambda: attn(x)) == {} and ranges(lambda: conv(x)) == {}
