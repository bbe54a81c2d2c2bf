"""Causality, a property every implementation must have: changing the input from time t0 on leaves
every output before t0 unchanged (to rounding), at odd and even lengths. Checked for every long
convolution registered in the table (through the registered function, whatever its internals), for
both layers of every implementation, and for the float64 layer references."""

from __future__ import annotations

import pytest
import torch

from operators import registry
from operators.config import Config
from operators.verify import reference_inputs, reference_weights, relative_error, tolerance

DEVICE = torch.device("cpu")
LENGTHS = (37, 64)  # odd and even
CHANNELS = 8
ROUNDING = tolerance("fp32", DEVICE)  # FFT-based convolutions mix rounding across all positions


def cut_points(n: int) -> tuple[int, ...]:
    return (1, n // 2, n - 1)


def runnable(family: str) -> list[registry.OperatorSpec]:
    return [s for s in registry.specs() if s.family == family and s.available(DEVICE)]


def change_from(x: torch.Tensor, t0: int, dim: int, seed: int) -> torch.Tensor:
    """x with every position >= t0 along `dim` redrawn at random."""
    g = torch.Generator().manual_seed(seed)
    changed = x.detach().clone()
    tail = changed.narrow(dim, t0, x.shape[dim] - t0)
    tail.copy_(torch.randn(tail.shape, generator=g, dtype=tail.dtype) * 3)
    return changed


def assert_causal(fn, x: torch.Tensor, dim: int, out_dim: int) -> None:
    """fn(x) before t0 is unchanged when x changes from t0 on; from t0 on it does change."""
    with torch.no_grad():
        y = fn(x)
        for seed, t0 in enumerate(cut_points(x.shape[dim])):
            y2 = fn(change_from(x, t0, dim, seed))
            before = relative_error(y2.narrow(out_dim, 0, t0), y.narrow(out_dim, 0, t0).double())
            assert before <= ROUNDING, f"t0={t0}: outputs before t0 moved by {before:.1e}"
            after = relative_error(y2.narrow(out_dim, t0, 1), y.narrow(out_dim, t0, 1).double())
            assert after > ROUNDING, f"t0={t0}: the changed input did not reach the output"


def test_every_registered_long_convolution_is_checked():
    names = {s.name for s in runnable("hyena")}
    assert {"hyena-naive", "hyena-fft"} <= names


@pytest.mark.parametrize("spec", runnable("hyena"), ids=lambda s: s.name)
@pytest.mark.parametrize("seqlen", LENGTHS)
def test_long_convolution_is_causal(spec, seqlen):
    """The registered convolution with a random, non-decaying filter: a wrap-around of the FFT
    or a filter read backwards would carry late inputs into early outputs at full strength."""
    config = Config(batch=2, seqlen=seqlen, d_model=CHANNELS, heads=2, level="core")
    why = spec.supports(config, DEVICE)
    if why:
        # a probe or limits check that raised is a broken kernel, not a reason to skip
        assert "check failed" not in why, why
        pytest.skip(why)
    case = spec.build(config, DEVICE)
    g = torch.Generator().manual_seed(seqlen)
    u = torch.randn(2, CHANNELS, seqlen, generator=g)
    h = torch.randn(CHANNELS, seqlen, generator=g)
    bias = torch.randn(CHANNELS, generator=g)
    assert_causal(lambda x: case.module(x, h, bias), u, dim=-1, out_dim=-1)


@pytest.mark.parametrize("spec", runnable("hyena") + runnable("attention"), ids=lambda s: s.name)
@pytest.mark.parametrize("seqlen", LENGTHS)
def test_layer_is_causal(spec, seqlen):
    config = Config(batch=1, seqlen=seqlen, d_model=16, heads=2, order=3, level="layer")
    why = spec.supports(config, DEVICE)
    if why:
        # a probe or limits check that raised is a broken kernel, not a reason to skip
        assert "check failed" not in why, why
        pytest.skip(why)
    if registry.opt_in(spec) and seqlen != LENGTHS[0]:
        pytest.skip(f"opt-in ({registry.opt_in(spec)}): checked at L={LENGTHS[0]} only")
    case = spec.build(config, DEVICE)
    assert_causal(case.module, case.inputs[0], dim=1, out_dim=1)


@pytest.mark.parametrize("name", ["hyena-fft", "attention-dense"])
@pytest.mark.parametrize("seqlen", LENGTHS)
def test_layer_reference_is_causal(name, seqlen):
    config = Config(batch=1, seqlen=seqlen, d_model=16, heads=2, order=3, level="layer")
    case = registry.get(name).build(config, DEVICE)
    weights = reference_weights(case)
    (x,) = reference_inputs(case)
    assert_causal(lambda x: case.reference(weights, x), x, dim=1, out_dim=1)
