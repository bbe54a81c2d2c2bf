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
# Copies of the scores block alive at once in `_attention_block` (the scores, then the masked
# scores and the softmax as each replaces the one before; measured on CPU: 2).
SCORE_COPIES = 2
# With gradients, autograd keeps the forward's activations for the backward pass, which then
# allocates their gradients: about 3x the activations. A block that is recomputed (checkpointed
# attention scores) or reused (the Toeplitz matrix) costs about 1.5x. Work: each matmul and
# transform has two of its size in the backward, plus the forward check run first.
GRAD_ACTIVATION_FACTOR = 3.0
GRAD_BLOCK_FACTOR = 1.5
GRAD_WORK_FACTOR = 4.0
# Hyena layer activations in float64, per B·L·D: x, the in-projection's order+1 streams (and
# the short convolution's padded copies of them, about 3 more), and the output with its
# out-projection.
HYENA_STREAM_COPIES = 4
HYENA_OUTPUT_COPIES = 3
# One FFT convolution, per B·D·L: u in float64, the spectra (2L+2 reals a row) of u and of the
# product, the inverse's 2L outputs, the slice and the skip term.
FFT_CONV_COPIES = 10
# The model against the measured peak of the reference alone on CPU (2026-11-29; hyena-fft at 1k
# and 8k, attention-dense at 4k, both levels and modes, D=64): 0.88x..1.49x
# (tests/operators/test_check_cost.py). The implementation's own forward at the check's batch is
# not counted: it is at most what the timed call needs.


@dataclass(frozen=True)
class CheckCost:
    """`work`: arithmetic of the reference (FLOPs; ratios are what matter). `activations`: float64
    bytes that scale with B·L (kept for the backward); `block`: a working set that does not (the
    Toeplitz matrix, one block of attention scores)."""

    work: float
    activations: float
    block: float = 0.0

    @property
    def bytes(self) -> float:
        """Peak float64 memory of the check."""
        return self.activations + self.block

    def with_gradients(self) -> CheckCost:
        return CheckCost(
            self.work * GRAD_WORK_FACTOR,
            self.activations * GRAD_ACTIVATION_FACTOR,
            self.block * GRAD_BLOCK_FACTOR,
        )


def conv_cost(batch: int, channels: int, seqlen: int) -> CheckCost:
    """reference.causal_conv: the Toeplitz matrix (D·L²) where it fits, else a float64 FFT."""
    b, d, n = batch, channels, seqlen
    if d * n * n <= DIRECT_CONV_MAX_ENTRIES:
        return CheckCost(2 * b * d * n * n, FLOAT64 * 3 * b * d * n, FLOAT64 * (2 * d + 3) * n * n)
    fft = 2.5 * 2 * n * math.log2(2 * n) * (2 * b * d + d)
    return CheckCost(fft, FLOAT64 * (FFT_CONV_COPIES * b * d * n + 2 * d * n))


def attention_cost(rows: int, seqlen: int, head_dim: int) -> CheckCost:
    """reference.causal_attention on `rows` (batch x heads) rows: blocks of queries against the
    keys up to the block's end, at most ATTENTION_SCORE_ENTRIES scores at once."""
    n = seqlen
    block = max(1, min(n, ATTENTION_SCORE_ENTRIES // (rows * n)))
    pairs = n * (n + block) / 2  # query-key pairs computed: the causal half plus the diagonal
    return CheckCost(
        4 * rows * head_dim * pairs,
        FLOAT64 * 4 * rows * n * head_dim,
        FLOAT64 * SCORE_COPIES * rows * block * n,
    )


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
                head.activations + FLOAT64 * HYENA_OUTPUT_COPIES * b * n * d,
                head.block,
            )
    elif config.level == "core":
        cost = conv_cost(b, d, n)
    else:  # hyena_layer: projections, short convolution, order-1 convolutions of D channels
        o = config.order
        conv = conv_cost(b, d, n)
        streams = (1 + HYENA_STREAM_COPIES * (o + 1) + HYENA_OUTPUT_COPIES) * b * n * d
        cost = CheckCost(
            2 * (o + 2) * b * n * d * d + (o - 1) * conv.work,
            FLOAT64 * streams + conv.activations,
            conv.block,
        )
    return cost.with_gradients() if config.mode == "fwd_bwd" else cost
