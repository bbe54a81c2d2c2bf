"""What operators.hyena.register_longconv registers around a long convolution: the name, the
family's model FLOPs and bytes, the issued FLOPs (or none), a lazily built convolution, extra
fields passed through, and cases whose output is the float64 reference's. It runs again here
into an empty table (`fresh_table`): the convolution modules call it once, at import."""

from __future__ import annotations

import math

import pytest
import torch

from operators import counts, hyena, registry
from operators.config import Config
from operators.longconv import fft, naive
from operators.verify import verify

CPU = torch.device("cpu")
B, L, D, ORDER = 2, 21, 8, 3
LAYER = Config(batch=B, seqlen=L, d_model=D, heads=2, order=ORDER, level="layer")
CORE = LAYER.replace(level="core")


def test_registered_with_its_convolution_and_counts(fresh_table):
    spec = hyena.register_longconv(
        "naive", naive.causal_conv, "the direct convolution", issued=counts.direct_conv_issued
    )
    assert list(fresh_table) == ["hyena-naive"] and registry.get("hyena-naive") is spec
    assert spec.family == "hyena" and spec.detail == "the direct convolution"
    assert spec.flops(CORE) == 2 * 5 * B * D * L * math.log2(L)  # the paper's FFT count
    assert spec.bytes(CORE) == (2 * B * D * L + D * L + D) * 4  # u, y, h, bias in fp32
    direct = 2 * B * D * L * L  # L multiply-adds per output, padding zeros included
    assert spec.issued_flops(CORE) == direct
    projections = 2 * B * L * D * (ORDER + 1) * D + 2 * B * L * D * D
    short = 2 * 3 * B * (ORDER + 1) * D * L
    ffn = 2 * L * (3 * 64 + 2 * 64 * 64 + 64 * (ORDER - 1) * D)  # safari's 3 -> 64 -> 64 -> 64 -> C
    assert spec.issued_flops(LAYER) == projections + short + ffn + (ORDER - 1) * direct
    for config in (CORE, LAYER):
        case = spec.build(config, CPU, stages=True)
        assert case.module.stages is True
        result = verify(case)
        assert result.passed, (config.level, result.max_rel_err)


def test_lazy_convolution_is_built_with_the_case(fresh_table):
    made = []

    def factory():
        made.append("built")
        return fft.causal_conv

    spec = hyena.register_longconv("later", factory, "built on demand", lazy=True, levels=("core",))
    assert made == [] and spec.name == "hyena-later"
    assert spec.levels == ("core",), "extra fields reach the spec"
    assert spec.issued_flops(CORE) is None, "no count given: no issued FLOPs"
    case = spec.build(CORE, CPU)
    assert made == ["built"]
    assert case.module.stages is False
    assert verify(case).passed


@pytest.mark.parametrize("mode", ["fwd", "fwd_bwd"])
def test_core_inputs_are_a_decaying_filter_and_random_signal(mode):
    """The core level's filter comes from the layer's own filter network (it decays along t, as
    a trained Hyena filter does); gradients flow to u, h and the bias in fwd_bwd only."""
    case = registry.get("hyena-fft").build(CORE.replace(mode=mode, seqlen=256), CPU)
    u, h, bias = case.inputs
    assert u.shape == (B, D, 256) and h.shape == (D, 256) and bias.shape == (D,)
    early, late = h[:, :16].abs().mean(), h[:, -16:].abs().mean()
    assert late < early / 4, "the exponential modulation makes the filter decay"
    assert all(x.requires_grad == (mode == "fwd_bwd") for x in case.inputs)
    assert (case.grad_output is not None) == (mode == "fwd_bwd")


@pytest.mark.parametrize("level", ["core", "layer"])
def test_cases_are_seeded(level):
    """Same config, same inputs and weights: family members and reruns see one problem."""
    spec = registry.get("hyena-naive")
    config = LAYER.replace(level=level, mode="fwd_bwd")
    one, two = spec.build(config, CPU), spec.build(config, CPU)
    for a, b in zip(one.inputs, two.inputs, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(one.grad_output, two.grad_output)
    assert not one.grad_output.requires_grad


def test_stages_are_off_unless_asked_for():
    """Profiler ranges cost time in a timed call: only `run --stages` and `profile` ask."""
    assert hyena.HyenaOperator(D, L, ORDER, fft.causal_conv).stages is False
    assert hyena.LongConvCore(fft.causal_conv).stages is False
    assert hyena.build_case(fft.causal_conv, LAYER, CPU).module.stages is False
    assert hyena.build_case(fft.causal_conv, CORE, CPU).module.stages is False


@pytest.mark.gpu
@pytest.mark.parametrize("level", ["core", "layer"])
def test_cases_are_built_on_the_device_asked_for(level):
    """On a CPU-only machine a dropped device argument (None: the CPU) cannot be seen."""
    case = registry.get("hyena-fft").build(LAYER.replace(level=level, mode="fwd_bwd"), "cuda")
    tensors = [*case.inputs, case.grad_output, *case.module.parameters(), *case.module.buffers()]
    assert all(t.device.type == "cuda" for t in tensors)


def test_positional_embedding_with_two_bands_and_a_sine_frequency():
    """safari's PositionalEmbedding for emb_dim = 5: t, then two bands at frequencies 1e-4 and
    1 (evenly spaced from 1e-4 to bands - 1), each as cos and -sin of 2π·f·k/L; the layer uses
    one band (emb_dim 3), where the spacing is not seen. Sin starts at the frequency given."""
    n = 12
    k = torch.arange(n, dtype=torch.float64)
    z = hyena.PositionalEmbedding(5, n).z.detach()[0].double()
    angles = [2 * math.pi * f * k / n for f in (1e-4, 1.0)]
    torch.testing.assert_close(z[:, 0], k / (n - 1), check_dtype=False)
    for band, angle in enumerate(angles):
        torch.testing.assert_close(z[:, 1 + band], torch.cos(angle), atol=1e-6, rtol=0)
        torch.testing.assert_close(z[:, 3 + band], -torch.sin(angle), atol=1e-6, rtol=0)
    assert torch.equal(hyena.Sin(4, w=2.5).freq, torch.full((1, 4), 2.5))
