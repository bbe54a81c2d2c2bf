"""The pre-timing check: it must pass correct implementations and catch wrong ones."""

import math

import torch

from operators import registry
from operators.config import Config
from operators.hyena import build_case
from operators.longconv import fft
from operators.verify import Verification, relative_error, verify

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
