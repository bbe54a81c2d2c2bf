"""Registers the Triton long convolutions (`hyena-triton-toeplitz`, `hyena-triton-monarch`, and
`hyena-triton`, which picks between them by length) without importing Triton: the kernel modules
load when a case is built, so `hyena-bench list` can say why Triton cannot run here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Hashable

import torch

from operators import capabilities
from operators.config import Config
from operators.counts import ConvIssued
from operators.hyena import LongConv, register_longconv
from operators.longconv import triton_dispatch, triton_work
from operators.registry import same_variant_batch

MAX_SEQLEN = 128 * 1024  # triton_work.MAX_SEQLEN: 64 column DFTs x 2048-point inner tiles
INTERPRETER_NOTE = (
    "; here under TRITON_INTERPRET=1, Triton's CPU interpreter: correct but not a "
    "performance measurement"
)


def kernel(module: str) -> Callable[[], LongConv]:
    def load() -> LongConv:
        return importlib.import_module(f"operators.longconv.{module}").causal_conv

    return load


def limits(max_seqlen: int | None) -> Callable[[Config, torch.device], str | None]:
    def check(config: Config, device: torch.device) -> str | None:
        if max_seqlen is not None and config.seqlen > max_seqlen:
            return f"L={config.seqlen} exceeds the Monarch plan's maximum {max_seqlen}"
        if device.type == "cpu" and config.dtype == "bf16":
            return "Triton's CPU interpreter computes bf16 incorrectly; bf16 runs on a GPU only"
        return None

    return check


def toeplitz_variant(config: Config) -> Hashable:
    """What the Toeplitz kernels compile for this batch: one kernel per batch block
    (triton_work.toeplitz_batch_block: B rounded up to a power of two, 16..64)."""
    return "toeplitz", triton_work.toeplitz_batch_block(config.batch)


def dispatched_strategy(config: Config) -> str:
    """The strategy hyena-triton runs for this shape (triton_dispatch's table)."""
    return triton_dispatch.strategy_for(config.batch, config.dtype, config.seqlen)


def dispatched_variant(config: Config) -> Hashable:
    """The strategy hyena-triton picks for this shape, and that strategy's variant (the Monarch
    kernels and plan depend on L and the dtype only: triton_work.plan_for)."""
    if dispatched_strategy(config) == "toeplitz":
        return toeplitz_variant(config)
    return "monarch"


def triton_issued(strategy: str | None) -> ConvIssued:
    """The convolution's issued FLOPs (tl.dot work) from the kernels' own work model
    (triton_work.work); `strategy` None: the one hyena-triton dispatches to."""

    def issued(config: Config) -> float:
        name = strategy or dispatched_strategy(config)
        b, d, n = config.batch, config.d_model, config.seqlen
        return float(triton_work.work(name, b, d, n, config.dtype, config.mode).flops)

    return issued


def detail(text: str) -> str:
    return text + (INTERPRETER_NOTE if capabilities.triton_interpreting() else "")


register_longconv(
    "triton-toeplitz",
    kernel("triton_toeplitz"),
    detail(
        "Triton blocked Toeplitz: tiles of h's Toeplitz matrix times tiles of u with tl.dot, "
        "O(L²) work on tensor cores, fp32 accumulation; backward in Triton"
    ),
    lazy=True,
    requires=("triton",),
    limits=limits(None),
    verify_batch=same_variant_batch(toeplitz_variant),
    issued=triton_issued("toeplitz"),
)
register_longconv(
    "triton-monarch",
    kernel("triton_monarch"),
    detail(
        "Triton FFT convolution by matrix multiplication (Bailey/Monarch), half-size real FFT, "
        "one kernel per call: in registers up to L=2048, three passes through an L2-resident "
        "scratch beyond; filter spectrum (Hermitian half) by torch.fft in fp32; backward in "
        "Triton"
    ),
    lazy=True,
    requires=("triton",),
    limits=limits(MAX_SEQLEN),  # verified at batch 1: its kernels and plan do not depend on B
    issued=triton_issued("monarch"),
)
register_longconv(
    "triton",
    kernel("triton_auto"),
    detail(
        "Triton long convolution choosing by shape: Toeplitz or Monarch FFT by the "
        "(batch, dtype, L) thresholds of operators.longconv.triton_dispatch.TABLE"
    ),
    lazy=True,
    requires=("triton",),
    limits=limits(MAX_SEQLEN),
    verify_batch=same_variant_batch(dispatched_variant),
    issued=triton_issued(None),
)
