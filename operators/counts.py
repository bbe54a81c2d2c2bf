"""Work (FLOPs) and minimum memory traffic (bytes) per family and level, in two conventions.

Analytic ("effective") FLOPs count the function a family computes, not the algorithm of one
implementation, each family by its own literature's convention, so TFLOP/s compare the members of
one family on equal terms: attention by FlashAttention's (causal core halved; its backward 2.5x
the forward), Hyena by the paper's appendix (an FFT convolution is 5·L·log2(L) multiply-adds per
channel; backward 2x the forward). The two conventions are not comparable across families.

Issued FLOPs count what an implementation's code actually runs: its matrix multiplications,
direct convolutions and FFTs (a real transform of size n as 2.5·n·log2(n) FLOPs), with the
masked half of dense attention and the zero padding of convolutions included; elementwise work
(softmax, gating, activations, biases, the spectrum product) is not counted. They make efficiency
comparable across families: FLOPs issued per second of the same machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from operators.config import Config

# FlashAttention benchmarks' convention for the attention core: backward = 2.5x forward (the
# scores are recomputed), so forward+backward = 3.5x.
ATTENTION_FWD_BWD_FACTOR = 3.5
# A matrix multiplication's backward is two of its size (the input's and the weight's gradient),
# so a projection's forward+backward is 3x its forward.
MATMUL_FWD_BWD_FACTOR = 3.0
# Hyena paper appendix convention: forward+backward = 3x forward.
HYENA_FWD_BWD_FACTOR = 3.0
# A real FFT of size n: half the 5·n·log2(n) of a complex one (the usual radix-2 count).
REAL_FFT_FLOPS_PER_POINT_LOG = 2.5
# The Hyena convolution's issued work for one call: conv(config) with config's batch, d_model
# (channels), seqlen, dtype and mode; None when the implementation's work is not counted.
ConvIssued = Callable[[Config], float | None]


def element_size(config: Config) -> int:
    return config.torch_dtype.itemsize


def attention_flops(config: Config) -> float:
    """Core: 4·B·L²·D (QK^T and PV, 2 FLOPs per multiply-add), halved for causal, times 3.5 with
    the backward. Layer adds the projections: 2·B·L·(3·D²) for qkv and 2·B·L·D² for the output,
    times 3 with the backward (each is a matmul)."""
    fwd_bwd = config.mode == "fwd_bwd"
    core = 4 * config.batch * config.seqlen**2 * config.d_model / 2
    core *= ATTENTION_FWD_BWD_FACTOR if fwd_bwd else 1.0
    return core + attention_projection_flops(config)


def attention_projection_flops(config: Config) -> float:
    """The layer's qkv and output projections (0 at core level), forward or forward+backward."""
    if config.level != "layer":
        return 0.0
    b, n, d = config.batch, config.seqlen, config.d_model
    return 2 * b * n * 4 * d * d * (MATMUL_FWD_BWD_FACTOR if config.mode == "fwd_bwd" else 1.0)


def attention_issued_flops(config: Config, *, skips_masked: bool) -> float:
    """What an attention implementation runs. `skips_masked`: a blocked kernel (FlashAttention,
    torch SDPA's flash, efficient and cuDNN backends) skips the blocks above the diagonal (the
    diagonal blocks' masked half is not counted: at most block/L of the total) and recomputes
    the scores in its backward (2.5x); otherwise (materialised scores: plain PyTorch, SDPA's
    math backend) all L² scores are computed and the backward is four matmuls (2x)."""
    core = 4 * config.batch * config.seqlen**2 * config.d_model
    if skips_masked:
        core /= 2
    if config.mode == "fwd_bwd":
        core *= ATTENTION_FWD_BWD_FACTOR if skips_masked else MATMUL_FWD_BWD_FACTOR
    return core + attention_projection_flops(config)


def attention_bytes(config: Config) -> float:
    """Each input read once, each output written once.
    Core fwd: q, k, v in, o out; fwd_bwd adds q, k, v, o, dO in and dq, dk, dv out.
    Layer fwd: x in, y out, 4·D² weights; fwd_bwd adds dy in, dx out, weights again, their grads."""
    b, n, d, es = config.batch, config.seqlen, config.d_model, element_size(config)
    act = b * n * d
    if config.level == "core":
        return (4 if config.mode == "fwd" else 12) * act * es
    weights = 4 * d * d + 4 * d  # qkv and out projections with biases
    if config.mode == "fwd":
        return (2 * act + weights) * es
    return (4 * act + 3 * weights) * es


def fft_conv_flops(batch: int, channels: int, seqlen: int) -> float:
    """The paper's FFT convolution count, 5·D·L·log2(L) multiply-adds per convolution, x2."""
    return 2 * 5 * batch * channels * seqlen * math.log2(max(seqlen, 2))


def hyena_flops(config: Config) -> float:
    """Paper appendix (x2 for multiply-add): projections order·D²·L, short conv order·D·L·3,
    FFT conv 5·(order-1)·D·L·log2(L), output projection D²·L, per batch element.
    Core level is one long convolution. Note: the reference in-projection is D -> (order+1)·D,
    so the paper's projection term undercounts the real matmul work by D²·L; we keep the paper's
    convention so our TFLOP/s are comparable with its numbers."""
    b, n, d, o = config.batch, config.seqlen, config.d_model, config.order
    if config.level == "core":
        flops = fft_conv_flops(b, d, n)
    else:
        macs = o * d * d * n + o * d * n * 3 + d * d * n
        flops = 2 * b * macs + fft_conv_flops(b, (o - 1) * d, n)
    return flops * (HYENA_FWD_BWD_FACTOR if config.mode == "fwd_bwd" else 1.0)


def hyena_bytes(config: Config) -> float:
    """Core fwd: u in, y out, h (D·L) and bias in; fwd_bwd adds dy in, du out, dh out.
    Layer fwd: x in, y out, projection weights ((order+2)·D² + biases) in; fwd_bwd adds dy in,
    dx out, weights again and their grads (the implicit filter's small FFN is ignored)."""
    b, n, d, o, es = config.batch, config.seqlen, config.d_model, config.order, element_size(config)
    if config.level == "core":
        act, filt = b * d * n, d * n + d
        return (2 * act + filt if config.mode == "fwd" else 4 * act + 2 * filt) * es
    act = b * n * d
    weights = (o + 1) * d * d + d * d + (o + 2) * d
    if config.mode == "fwd":
        return (2 * act + weights) * es
    return (4 * act + 3 * weights) * es


# --- issued work of the Hyena family ------------------------------------------------------------


def real_fft_flops(n: int) -> float:
    return REAL_FFT_FLOPS_PER_POINT_LOG * n * math.log2(max(n, 2))


def fft_conv_issued(config: Config) -> float:
    """torch.fft convolution at n = 2L: rfft of u (B·D rows) and of h (D rows), irfft (B·D rows);
    the backward (autograd) runs one transform per forward one: rfft of the output gradient,
    irfft for u's gradient (B·D rows) and for h's (D rows, after the batch sum)."""
    b, d = config.batch, config.d_model
    fwd = real_fft_flops(2 * config.seqlen) * (2 * b * d + d)
    return fwd * (2.0 if config.mode == "fwd_bwd" else 1.0)


def direct_conv_issued(config: Config) -> float:
    """A grouped conv1d with the full-length filter over the input left-padded by L-1: L
    multiply-adds per output, the zeros of the padding included; its backward is two such
    convolutions (input and filter gradients)."""
    fwd = 2 * config.batch * config.d_model * config.seqlen**2
    return fwd * (MATMUL_FWD_BWD_FACTOR if config.mode == "fwd_bwd" else 1.0)


def hyena_issued_flops(
    config: Config,
    conv: ConvIssued,
    filter_widths: tuple[int, int, int],
    short_kernel: int,
) -> float | None:
    """Core: the convolution `conv` issues. Layer: in-projection D -> (order+1)·D, depthwise
    short convolution (`short_kernel` taps), the implicit filter's FFN on L positions
    (`filter_widths` = (embedding, width, inner layers), output (order-1)·D channels), order-1
    convolutions and the out-projection; each matmul or convolution 3x with the backward."""
    conv_flops = conv(config)
    if conv_flops is None or config.level == "core":
        return conv_flops
    b, n, d, o = config.batch, config.seqlen, config.d_model, config.order
    emb, width, inner = filter_widths
    dense = 2 * b * n * d * (o + 1) * d + 2 * b * n * d * d
    dense += 2 * short_kernel * b * (o + 1) * d * n
    dense += 2 * n * (emb * width + inner * width * width + width * (o - 1) * d)
    factor = MATMUL_FWD_BWD_FACTOR if config.mode == "fwd_bwd" else 1.0
    return dense * factor + (o - 1) * conv_flops
