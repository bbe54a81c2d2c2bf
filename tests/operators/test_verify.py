"""The pre-timing check: it must pass correct implementations and catch wrong ones, including a
wrong layer (the reference never runs the module's code) and a convolution that is only slightly
wrong (the CPU fp32 tolerance has no TF32 headroom)."""

import math

import pytest
import torch

from operators import attention, hyena, registry
from operators.config import Config
from operators.hyena import build_case
from operators.longconv import fft
from operators.verify import (
    TF32_TOLERANCE,
    Verification,
    gradient_errors,
    relative_error,
    tolerance,
    verify,
    verify_gradients,
)

CONFIG = Config(batch=2, seqlen=40, d_model=16, heads=2, level="core")


def test_relative_error_is_max_abs_deviation_over_max_reference():
    ref = torch.tensor([1.0, -4.0, 2.0], dtype=torch.float64)
    out = torch.tensor([1.5, -4.0, 2.0])
    assert relative_error(out, ref) == 0.5 / 4.0


def test_nan_and_shape_mismatch_never_pass():
    ref = torch.ones(3, dtype=torch.float64)
    assert relative_error(torch.tensor([1.0, math.nan, 1.0]), ref) == math.inf
    assert relative_error(torch.ones(4), ref) == math.inf
    assert not Verification(math.inf, 1e-3).passed


def test_verify_passes_a_correct_implementation():
    result = verify(registry.get("hyena-fft").build(CONFIG, "cpu"))
    assert result.passed and result.max_rel_err < 1e-5


def test_verify_catches_a_wrong_implementation():
    def no_skip_term(u, h, bias):  # forgets bias ⊙ u
        return fft.causal_conv(u, h, torch.zeros_like(bias))

    def circular(u, h, bias):  # FFT without zero padding: wraps the future into the past
        y = torch.fft.irfft(torch.fft.rfft(u) * torch.fft.rfft(h), n=u.shape[-1])
        return y + bias[:, None] * u

    for wrong in (no_skip_term, circular):
        result = verify(build_case(wrong, CONFIG, torch.device("cpu")))
        assert not result.passed, wrong.__name__


def circular_at_odd_lengths(u, h, bias):
    """An FFT one point too short at odd L (2L-2): lag L-1 wraps onto lag 0. At even L exact."""
    n = u.shape[-1]
    size = 2 * n - 1 - n % 2
    y = torch.fft.irfft(torch.fft.rfft(u, n=size) * torch.fft.rfft(h, n=size), n=size)[..., :n]
    return y + bias[:, None] * u


@pytest.mark.parametrize("level", ["core", "layer"])
def test_a_slightly_circular_fft_fails_the_cpu_fp32_check_at_odd_lengths(level):
    """With the decaying filters of a real layer the wrapped lag is small: the error (8e-5 to 6e-4
    at these shapes) passes the TF32 tolerance but not the CPU's."""
    cpu = torch.device("cpu")
    odd = Config(batch=1, seqlen=67, d_model=32, heads=4, order=3, level=level)
    result = verify(build_case(circular_at_odd_lengths, odd, cpu))
    assert not result.passed and result.max_rel_err < TF32_TOLERANCE
    even = odd.replace(seqlen=64)
    assert verify(build_case(circular_at_odd_lengths, even, cpu)).passed


def test_tf32_headroom_only_on_cuda():
    assert tolerance("fp32", "cpu") <= 1e-5 < tolerance("fp32", "cuda") == TF32_TOLERANCE
    assert tolerance("fp32", "cpu", grad=True) < tolerance("fp32", "cuda", grad=True)
    for dtype in ("fp16", "bf16"):
        assert tolerance(dtype, "cpu") == tolerance(dtype, "cuda")
        assert tolerance(dtype, "cpu") < tolerance(dtype, "cpu", grad=True)


class GateAfterConvolution(hyena.HyenaOperator):
    """A wrong Hyena layer: convolves first, then gates (the reference gates first)."""

    def forward(self, x):
        n, d, steps = x.shape[1], self.d_model, self.order - 1
        *xs, v = self.short_filter(self.in_proj(x).transpose(1, 2))[..., :n].split(d, dim=1)
        h = self.filter_fn(n).reshape(d, steps, n).transpose(0, 1).contiguous()
        bias = self.filter_fn.bias.view(d, steps).transpose(0, 1).contiguous()
        for i, x_i in enumerate(reversed(xs[1:])):
            v = self.long_conv(v, h[i], bias[i]) * x_i
        return self.out_proj((v * xs[0]).transpose(1, 2))


class HeadsInterleaved(attention.AttentionLayer):
    """A wrong attention layer: head i takes every heads-th channel, not a contiguous slice."""

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).view(b, n, 3, d // self.heads, self.heads).transpose(-1, -2)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        o = self.kernel(q, k, v).transpose(1, 2)
        return self.out_proj(o.reshape(b, n, d))


@pytest.mark.parametrize(
    "name, wrong",
    [
        ("hyena-fft", lambda m: GateAfterConvolution(m.d_model, m.l_max, m.order, m.long_conv)),
        ("attention-dense", lambda m: HeadsInterleaved(32, 4, m.kernel, m.layout)),
    ],
)
def test_a_wrong_layer_fails_although_its_kernel_is_right(name, wrong):
    """The layer references are written from the definitions, not from the module: a layer whose
    own code is wrong fails, forward and gradients, though its kernels are right."""
    config = Config(batch=1, seqlen=33, d_model=32, heads=4, order=3, level="layer")
    for mode in ("fwd", "fwd_bwd"):
        case = registry.get(name).build(config.replace(mode=mode), "cpu")
        assert verify(case).passed
        bad = wrong(case.module)
        bad.load_state_dict(case.module.state_dict())
        case.module = bad
        check = verify_gradients if mode == "fwd_bwd" else verify
        assert not check(case).passed, mode


def test_gradient_check_names_every_input_and_parameter():
    config = Config(batch=1, seqlen=20, d_model=8, heads=2, order=2, mode="fwd_bwd")
    case = registry.get("hyena-fft").build(config, "cpu")
    errors = gradient_errors(case)
    assert set(errors) == {"input0"} | {n for n, _ in case.module.named_parameters()}
    assert "filter_fn.pos_emb.z" in errors and "filter_fn.implicit_filter.1.freq" in errors
    assert max(errors.values()) <= tolerance("fp32", "cpu", grad=True)


def test_a_missing_gradient_counts_as_zeros():
    grad = torch.tensor([0.0, 2.0], dtype=torch.float64)
    assert relative_error(None, grad) == 1.0
    assert relative_error(torch.tensor([0.0, 3.0]), None) == 3.0
    assert relative_error(None, None) == 0.0
