"""Resolve oneMKL's vector-math (VML) dispatch before any parallel call, so that every float and
double unary op on a CPU tensor computes at the accuracy it promises.

ATen hands unary math on contiguous CPU tensors (sin, exp, sqrt, ...) to MKL's VML, each intra-op
thread calling it on its own chunk with the high-accuracy mode requested. oneMKL chooses each VML
function's kernel lazily, on that function's first call. When the first call runs on several
threads at once, one thread can run a low-accuracy kernel over its whole chunk for that one call
(pytorch/pytorch#188792: oneMKL 2024.2, the version in the torch wheels through 2.13; later calls
are right). Here it made a fresh worker's first float64 check of hyena-fft fail now and then: the
implicit filter's first `sin` came back with errors of up to 983 ulp on one thread's half of the
tensor, and the forward's error rose from 2.8e-07 to 3.0e-05 (tests/benchmarks/vml_race.py
counts it).

`warm()` makes one single-element call of each such function in each dtype on the calling thread
(too small to be split across threads), which settles the dispatch. operators.registry calls it
when imported, so every process that can build an operator (a sweep's workers, an A/B side, the
`verify` command, the tests) is covered before its first case.
"""

from __future__ import annotations

import torch

# ATen's MKL-backed unary functions (aten/src/ATen/cpu/vml.h), plus their close relatives: a call
# of a function ATen computes itself costs a microsecond and changes nothing.
REAL = (
    "acos",
    "asin",
    "atan",
    "cos",
    "cosh",
    "erf",
    "erfc",
    "erfinv",
    "exp",
    "expm1",
    "lgamma",
    "log",
    "log10",
    "log1p",
    "sin",
    "sinh",
    "sqrt",
    "tan",
    "tanh",
    "trunc",
)
COMPLEX = ("acos", "asin", "atan", "cos", "exp", "log", "log10", "sin", "sqrt", "tan", "tanh")
REAL_DTYPES = (torch.float32, torch.float64)
COMPLEX_DTYPES = (torch.complex64, torch.complex128)


def calls() -> list[tuple[str, torch.dtype]]:
    """Every (function, dtype) that warm() calls once."""
    real = [(name, dtype) for dtype in REAL_DTYPES for name in REAL]
    return real + [(name, dtype) for dtype in COMPLEX_DTYPES for name in COMPLEX]


def warm() -> int:
    """Call each function once on a one-element CPU tensor; returns the number of calls made.
    Once a process is enough: operators.registry calls it when first imported."""
    made = 0
    with torch.no_grad():
        for name, dtype in calls():
            getattr(torch, name)(torch.full((1,), 0.5, dtype=dtype))
            made += 1
    return made
