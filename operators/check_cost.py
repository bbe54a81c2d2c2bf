"""What the float64 check of one configuration costs: the work and the peak memory of the family's
reference (operators/reference.py) at that shape, forward, plus its autograd pass in fwd_bwd.

A model read from the reference code, term by term, so that the runner can tell when a length is
too large to check on a device before it tries (an OOM-killed worker loses the row; a check that
outlasts the row's timeout loses the measurement). The work's unit does not matter (the runner
scales a measured check by the ratio of two works); the memory is in bytes and should be right
within about 2x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from operators.config import Config
from operators.reference import ATTENTION_SCORE_ENTRIES, DIRECT_CONV_MAX_ENTRIES

FLOAT64 = 8  # bytes
# Tensors of the size of the scores block alive at once in `_attention_block`: the scores, the
# masked scores, the softmax and the index tensors beside them.
SCORE_COPIES = 4
# With gradients, autograd keeps every intermediate of the forward for the backward pass, which
# then allocates the gradients of about as many again: about 3x the forward's peak. Work: each
# matmul and transform has two of its size in the backward, plus the forward check run first.
GRAD_MEMORY_FACTOR = 3.0
GRAD_WORK_FACTOR = 4.0
# Hyena layer activations in float64, per B·L·D: x, the in-projection's order+1 streams (and
# the short convolution's padded copies of them, about 3 more), and the output with its
# out-projection.
HYENA_STREAM_COPIES = 4
HYENA_OUTPUT_COPIES = 3
# One FFT convolution, per B·D·L: u in float64, the spectra (2L+2 reals a row) of u and of the
# product, the inverse's 2L outputs, the slice and the skip term.
FFT_CONV_COPIES = 10


@dataclass(frozen=True)
class CheckCost:
    """`work`: arithmetic of the reference (FLOPs; ratios are what matter). `bytes`: its peak
    float64 memory."""

    work: float
    bytes: float


def conv_cost(batch: int, channels: int, seqlen: int) -> CheckCost:
    """reference.causal_conv: the Toeplitz matrix (D·L²) where it fits, else a float64 FFT."""
    b, d, n = batch, channels, seqlen
    if d * n * n <= DIRECT_CONV_MAX_ENTRIES:
        return CheckCost(2 * b * d * n * n, FLOAT64 * (2 * d * n * n + 3 * n * n + 3 * b * d * n))
    fft = 2.5 * 2 * n * math.log2(2 * n) * (2 * b * d + d)
    return CheckCost(fft, FLOAT64 * (FFT_CONV_COPIES * b * d * n + 2 * d * n))


def attention_cost(rows: int, seqlen: int, head_dim: int) -> CheckCost:
    """reference.causal_attention on `rows` (batch x heads) rows: blocks of queries against the
    keys up to the block's end, at most ATTENTION_SCORE_ENTRIES scores at once."""
    n = seqlen
    block = max(1, min(n, ATTENTION_SCORE_ENTRIES // (rows * n)))
    pairs = n * (n + block) / 2  # query-key pairs computed: the causal half plus the diagonal
    work = 4 * rows * head_dim * pairs
    scores = SCORE_COPIES * rows * block * n
    return CheckCost(work, FLOAT64 * (scores + 4 * rows * n * head_dim))


def reference_cost(config: Config, family: str) -> CheckCost:
    """The float64 check of `config` (its batch is the check's batch) for `family`."""
    b, n, d = config.batch, config.seqlen, config.d_model
    if family == "attention":
        if config.level == "core":
            cost = attention_cost(b * config.heads, n, config.head_dim)
        else:  # attention_layer: one head at a time, projections 8·B·L·D²
            head = attention_cost(b, n, config.head_dim)
            cost = CheckCost(
                config.heads * head.work + 16 * b * n * d * d,
                head.bytes + FLOAT64 * HYENA_OUTPUT_COPIES * b * n * d,
            )
    elif config.level == "core":
        cost = conv_cost(b, d, n)
    else:  # hyena_layer: projections, short convolution, order-1 convolutions of D channels
        o = config.order
        conv = conv_cost(b, d, n)
        streams = (1 + HYENA_STREAM_COPIES * (o + 1) + HYENA_OUTPUT_COPIES) * b * n * d
        cost = CheckCost(
            2 * (o + 2) * b * n * d * d + (o - 1) * conv.work,
            FLOAT64 * streams + conv.bytes,
        )
    if config.mode == "fwd_bwd":
        return CheckCost(cost.work * GRAD_WORK_FACTOR, cost.bytes * GRAD_MEMORY_FACTOR)
    return cost
