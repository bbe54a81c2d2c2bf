"""The Hyena layer against the authors' code's layout (HazyResearch/safari, HyenaOperator): a state
dict with safari's keys and shapes loads strictly, and the layer then computes what the independent
float64 reference (operators.reference.hyena_layer, written from safari's forward) computes."""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch

from operators import reference
from operators.hyena import HyenaOperator
from operators.verify import relative_error

D, L_MAX = 8, 24
WIDTH, EMB = 64, 3  # safari's filter_order default and emb_dim
EXACT = 1e-12  # float64 layer against float64 reference: rounding only


def safari_state_dict(d: int, l_max: int, order: int, seed: int = 0) -> OrderedDict:
    """Random weights under the names and shapes safari's HyenaOperator(d, l_max, order) has in
    its state dict (written out here from safari's module, not taken from ours). The filter
    network's three activations are one Sin module there: one frequency under three names."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    inner, channels = (order + 1) * d, (order - 1) * d
    freq = 1 + 0.3 * rnd(1, WIDTH)
    log_target = math.log(1e-2)
    time = torch.linspace(0, 1, l_max, dtype=torch.float64)[None, :, None]
    deltas = torch.linspace(log_target / 1.5, log_target / 0.3, channels, dtype=torch.float64)
    return OrderedDict(
        [
            ("out_proj.weight", rnd(d, d) / math.sqrt(d)),
            ("out_proj.bias", rnd(d)),
            ("in_proj.weight", rnd(inner, d) / math.sqrt(d)),
            ("in_proj.bias", rnd(inner)),
            ("short_filter.weight", rnd(inner, 1, 3)),
            ("short_filter.bias", rnd(inner)),
            ("filter_fn.bias", rnd(channels)),
            ("filter_fn.pos_emb.z", rnd(1, l_max, EMB)),
            ("filter_fn.pos_emb.t", time),
            ("filter_fn.implicit_filter.0.weight", rnd(WIDTH, EMB)),
            ("filter_fn.implicit_filter.0.bias", rnd(WIDTH)),
            ("filter_fn.implicit_filter.1.freq", freq),
            ("filter_fn.implicit_filter.2.weight", rnd(WIDTH, WIDTH) / math.sqrt(WIDTH)),
            ("filter_fn.implicit_filter.2.bias", rnd(WIDTH)),
            ("filter_fn.implicit_filter.3.freq", freq.clone()),
            ("filter_fn.implicit_filter.4.weight", rnd(WIDTH, WIDTH) / math.sqrt(WIDTH)),
            ("filter_fn.implicit_filter.4.bias", rnd(WIDTH)),
            ("filter_fn.implicit_filter.5.freq", freq.clone()),
            ("filter_fn.implicit_filter.6.weight", rnd(channels, WIDTH) / math.sqrt(WIDTH)),
            ("filter_fn.modulation.deltas", deltas[None, None]),
        ]
    )


def safari_layer(order: int, state: OrderedDict) -> HyenaOperator:
    layer = HyenaOperator(D, L_MAX, order, reference.causal_conv).double()
    result = layer.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return layer


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("seqlen", [L_MAX, 17, L_MAX + 5], ids=["l_max", "shorter", "longer"])
def test_safari_state_dict_loads_and_matches_the_reference(order, seqlen):
    state = safari_state_dict(D, L_MAX, order, seed=order)
    layer = safari_layer(order, state)
    x = torch.randn(2, seqlen, D, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    with torch.no_grad():
        out = layer(x)
    expected = reference.hyena_layer(state, x, order=order)
    assert out.shape == (2, min(seqlen, L_MAX), D)  # safari cuts inputs longer than l_max
    assert relative_error(out, expected) <= EXACT


def test_order_3_layouts_give_different_outputs():
    """Reading the filter network's channels step-major (channels o·D .. (o+1)·D for step o)
    instead of interleaved (o, o+2, o+4, ...: safari's `(v o)`) changes the output by more than 1%,
    so the comparison with the reference above tells the two layouts apart."""
    state = safari_state_dict(D, L_MAX, 3, seed=3)
    x = torch.randn(1, L_MAX, D, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    channels = torch.arange(2 * D)
    step_major = channels.view(2, D).T.reshape(-1)  # puts step-major filters where safari reads
    permuted = OrderedDict(state)
    permuted["filter_fn.implicit_filter.6.weight"] = state["filter_fn.implicit_filter.6.weight"][
        step_major
    ]
    permuted["filter_fn.bias"] = state["filter_fn.bias"][step_major]
    permuted["filter_fn.modulation.deltas"] = state["filter_fn.modulation.deltas"][..., step_major]
    with torch.no_grad():
        out = safari_layer(3, state)(x)
        out_permuted = safari_layer(3, permuted)(x)
    assert relative_error(out_permuted, out) > 1e-2


def test_one_sin_frequency_is_shared_by_the_filter_network():
    layer = HyenaOperator(D, L_MAX, 3, reference.causal_conv)
    state = layer.state_dict(keep_vars=True)
    freqs = [state[f"filter_fn.implicit_filter.{i}.freq"] for i in (1, 3, 5)]
    assert freqs[0] is freqs[1] is freqs[2]
    names = [n for n, _ in layer.named_parameters()]
    assert "filter_fn.pos_emb.z" in names, "safari trains the positional embedding"
    assert "filter_fn.pos_emb.t" not in names and "filter_fn.modulation.deltas" not in names


def test_filter_initialisation_follows_safari_definitions():
    """t in [0, 1]; z = [t, cos(2π·1e-4·k/L), -sin(2π·1e-4·k/L)]; decay rates evenly spaced from
    log(1e-2)/1.5 to log(1e-2)/0.3; every Sin frequency starts at 1."""
    layer = HyenaOperator(D, L_MAX, 2, reference.causal_conv).double()
    k = torch.arange(L_MAX, dtype=torch.float64)
    angle = 2 * math.pi * 1e-4 * k / L_MAX
    z = layer.filter_fn.pos_emb.z.detach()[0]
    torch.testing.assert_close(z[:, 0], k / (L_MAX - 1))
    torch.testing.assert_close(z[:, 1], torch.cos(angle))
    torch.testing.assert_close(z[:, 2], -torch.sin(angle))
    deltas = layer.filter_fn.modulation.deltas[0, 0]
    torch.testing.assert_close(deltas[0], torch.tensor(math.log(1e-2) / 1.5, dtype=torch.float64))
    torch.testing.assert_close(deltas[-1], torch.tensor(math.log(1e-2) / 0.3, dtype=torch.float64))
    assert torch.equal(layer.filter_fn.implicit_filter[1].freq, torch.ones(1, WIDTH).double())


def test_reference_rejects_unshared_frequencies():
    state = safari_state_dict(D, L_MAX, 2)
    state["filter_fn.implicit_filter.3.freq"] = state["filter_fn.implicit_filter.3.freq"] + 1
    differs = r"implicit_filter\.3\.freq differs from filter_fn\.implicit_filter\.1\.freq"
    with pytest.raises(ValueError, match=differs + ": safari shares one Sin"):
        reference.hyena_layer(state, torch.zeros(1, 4, D, dtype=torch.float64), order=2)
