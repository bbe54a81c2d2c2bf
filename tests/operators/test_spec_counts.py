"""The figures a registered implementation reports beside its time, by hand: the model FLOPs and
bytes (the same for every member of a family) and the issued FLOPs, which the layer wrappers
(operators.hyena.issued_flops, attention_spec's `skips_masked`) assemble around the kernel's own
count. A wrong term here moves a TFLOP/s column without failing any correctness check."""

from __future__ import annotations

import math

from operators import registry
from operators.config import Config

B, L, D, ORDER = 2, 64, 8, 3
LAYER = Config(batch=B, seqlen=L, d_model=D, heads=2, order=ORDER, level="layer")
CORE = LAYER.replace(level="core")


def test_hyena_issued_flops_around_each_convolution():
    fft = 2.5 * (2 * L) * math.log2(2 * L) * (2 * B * D + D)  # rfft u, rfft h, irfft; size 2L
    direct = 2 * B * D * L * L  # L multiply-adds per output, padding zeros included
    projections = 2 * B * L * D * (ORDER + 1) * D + 2 * B * L * D * D
    short = 2 * 3 * B * (ORDER + 1) * D * L
    ffn = 2 * L * (3 * 64 + 2 * 64 * 64 + 64 * (ORDER - 1) * D)  # safari's 3 -> 64 -> 64 -> 64 -> C
    around = projections + short + ffn
    assert registry.get("hyena-fft").issued_flops(CORE) == fft
    assert registry.get("hyena-naive").issued_flops(CORE) == direct
    assert registry.get("hyena-fft").issued_flops(LAYER) == around + (ORDER - 1) * fft
    assert registry.get("hyena-naive").issued_flops(LAYER) == around + (ORDER - 1) * direct
    # registered without a count of its convolution's work: no figure, not a partial one
    assert registry.get("hyena-flashfftconv").issued_flops(LAYER) is None


def test_attention_issued_flops_by_kernel():
    every_score = 4 * B * L * L * D  # QK^T and PV over all L² pairs
    materialised = ("attention-dense", "attention-sdpa-math")
    blocked = ("attention-sdpa-flash", "attention-sdpa-efficient", "flash-attn2")
    for name in materialised:
        assert registry.get(name).issued_flops(CORE) == every_score, name
    for name in blocked:
        assert registry.get(name).issued_flops(CORE) == every_score / 2, name


def test_model_flops_and_bytes_are_the_familys():
    fp32 = 4
    for name in ("hyena-naive", "hyena-fft"):
        spec = registry.get(name)
        assert spec.family == "hyena"
        assert spec.flops(CORE) == 2 * 5 * B * D * L * math.log2(L)  # the paper's FFT count
        assert spec.bytes(CORE) == (2 * B * D * L + D * L + D) * fp32  # u, y, h, bias
    for name in ("attention-dense", "attention-sdpa-math", "attention-sdpa-flash"):
        spec = registry.get(name)
        assert spec.family == "attention"
        assert spec.flops(CORE) == 4 * B * L * L * D / 2  # causal half of QK^T and PV
        assert spec.bytes(CORE) == 4 * B * L * D * fp32  # q, k, v in, o out


def test_every_builtin_implementation_describes_itself():
    for spec in registry.specs():
        assert isinstance(spec.detail, str) and len(spec.detail) > 20, spec.name
