"""Registers the Triton long convolutions (`hyena-triton-toeplitz`, `hyena-triton-monarch`, and
`hyena-triton`, which picks between them by length) without importing Triton: the kernel modules
load when a case is built, so `hyena-bench list` can say why Triton cannot run here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch

from operators import capabilities
from operators.config import Config
from operators.hyena import LongConv, register_longconv

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
    limits=limits(MAX_SEQLEN),
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
)
