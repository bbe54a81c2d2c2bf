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


def test_attention_backward_factor_is_applied_per_term():
    """The core's backward is 2.5x its forward (FlashAttention's convention); a projection's is
    2x (two matmuls of its size), so forward+backward is 3.5x the core plus 3x the projections."""
    c = Config(batch=1, seqlen=8, d_model=4, heads=1, level="layer", mode="fwd_bwd")
    assert counts.attention_flops(c) == 3.5 * (4 * 8 * 8 * 4 / 2) + 3 * (2 * 8 * 4 * 4 * 4)


def test_issued_attention_counts_what_the_kernel_runs():
    c = Config(batch=2, seqlen=64, d_model=8, heads=1, level="core")
    full = 4 * 2 * 64**2 * 8  # QK^T and PV over all L² pairs
    assert counts.attention_issued_flops(c, skips_masked=False) == full
    assert counts.attention_issued_flops(c, skips_masked=True) == full / 2
    bwd = c.replace(mode="fwd_bwd")
    assert counts.attention_issued_flops(bwd, skips_masked=False) == 3 * full  # 4 matmuls back
    assert counts.attention_issued_flops(bwd, skips_masked=True) == 3.5 * full / 2  # + recompute


def test_issued_hyena_counts_transforms_and_the_full_in_projection():
    b, n, d, o = 2, 256, 16, 3
    core = Config(batch=b, seqlen=n, d_model=d, heads=1, order=o, level="core")
    fft = 2.5 * 2 * n * math.log2(2 * n)  # one real transform of size 2L
    assert counts.fft_conv_issued(core) == fft * (2 * b * d + d)
    assert counts.direct_conv_issued(core) == 2 * b * d * n * n
    layer = core.replace(level="layer")
    issued = counts.hyena_issued_flops(layer, counts.fft_conv_issued, (3, 64, 2), 3)
    projections = 2 * b * n * d * (o + 1) * d + 2 * b * n * d * d
    short = 2 * 3 * b * (o + 1) * d * n
    ffn = 2 * n * (3 * 64 + 2 * 64 * 64 + 64 * (o - 1) * d)
    assert issued == projections + short + ffn + (o - 1) * fft * (2 * b * d + d)
    assert counts.hyena_issued_flops(layer, lambda c: None, (3, 64, 2), 3) is None


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
