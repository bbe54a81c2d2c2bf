"""The analytic FLOP and byte formulas, on numbers worked out by hand."""

import math

from operators import counts
from operators.config import Config


def test_attention_core_is_4_b_l2_d_halved_for_causal():
    c = Config(batch=2, seqlen=1024, d_model=64, heads=1, level="core")
    assert counts.attention_flops(c) == 4 * 2 * 1024**2 * 64 / 2
    assert counts.attention_flops(c.replace(mode="fwd_bwd")) == 3.5 * 4 * 2 * 1024**2 * 64 / 2


def test_attention_layer_adds_projections():
    c = Config(batch=1, seqlen=8, d_model=4, heads=1, level="layer")
    assert counts.attention_flops(c) == 4 * 8 * 8 * 4 / 2 + 2 * 8 * 4 * 4 * 4


def test_hyena_core_is_the_papers_fft_count():
    c = Config(batch=3, seqlen=1024, d_model=8, level="core", dtype="fp16", heads=1)
    assert counts.hyena_flops(c) == 2 * 5 * 3 * 8 * 1024 * 10
    assert counts.hyena_bytes(c) == (2 * 3 * 8 * 1024 + 8 * 1024 + 8) * 2


def test_hyena_layer_follows_the_paper_appendix():
    b, n, d, o = 2, 256, 16, 3
    c = Config(batch=b, seqlen=n, d_model=d, heads=1, order=o, level="layer")
    macs = o * d * d * n + o * d * n * 3 + d * d * n
    assert math.isclose(counts.hyena_flops(c), 2 * b * macs + 2 * 5 * b * (o - 1) * d * n * 8)
    assert counts.hyena_flops(c.replace(mode="fwd_bwd")) == 3 * counts.hyena_flops(c)
