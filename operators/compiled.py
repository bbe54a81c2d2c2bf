"""`hyena-compiled`: operators/hyena.py's layer with the FFT long convolution (hyena-fft) under
torch.compile with the inductor backend: the strongest Hyena layer a user gets without writing
kernels. Inductor fuses the short convolution's neighbours, the gates, the filter network and the
casts around the FFTs (which stay torch's: inductor has no FFT code generation).

How it is compiled, and why:
- `fullgraph=True`: a graph break would run part of the layer eagerly under this name; it raises.
- `dynamic=False`: one static-shape compile per case, what a user with a fixed length gets.
- `torch._dynamo.reset()` before each case: a worker builds many cases in one process, and every
  new shape compiles one more graph of the same function; at the 9th (dynamo's recompile_limit,
  8) dynamo gives up: with fullgraph it raises FailOnRecompileLimitHit (seen on this CPU with
  nine lengths in one process, torch 2.13), without it runs the eager function. A fresh cache
  per case keeps every case compiled.
- The compile happens in the first calls, which the timer's warm-up absorbs (bench/timing.py:
  at least WARMUP_CALLS calls before any timed one).
- Named stages (run --stages) are not marked: inductor fuses across them.
- Opt-in (`extra["opt_in"]`): each case compiles for tens of seconds (about 25 s a graph on a
  loaded 2-core CPU), so runs and `verify` without --ops leave it out; name it with --ops.
"""

from __future__ import annotations

import functools
import os
import shutil

import torch

from operators import capabilities, counts
from operators.case import Case
from operators.config import Config
from operators.hyena import build_case, issued_flops
from operators.longconv.fft import causal_conv
from operators.registry import OperatorSpec, register

COMPILE_OPTIONS = {"backend": "inductor", "fullgraph": True, "dynamic": False}
# The C++ compilers inductor looks for on the CPU, in its order (torch._inductor.config.cpp.cxx:
# $CXX, then g++); clang++ and c++ are what other systems have.
CPU_COMPILERS = ("g++", "clang++", "c++")
MIN_CUDA_CAPABILITY = (7, 0)  # inductor's Triton code generation


@functools.cache
def compile_reason(device_type: str) -> str | None:
    """Why torch.compile (inductor) cannot run on this device type here, or None."""
    from torch._dynamo.eval_frame import is_dynamo_supported  # ~1 s to import: only when asked

    if not is_dynamo_supported():
        return "torch.compile (dynamo) does not support this Python or platform"
    if device_type == "cuda":
        if not capabilities.triton_installed():
            return "torch.compile's inductor backend needs Triton on a GPU (not installed)"
        cc = capabilities.compute_capability(torch.device("cuda"))
        if cc is not None and cc < MIN_CUDA_CAPABILITY:
            return f"inductor's Triton code needs compute capability >= 7.0 (this GPU is {cc})"
        return None
    compilers = [os.environ["CXX"]] if os.environ.get("CXX") else list(CPU_COMPILERS)
    if not any(shutil.which(c) for c in compilers):
        return (
            f"torch.compile's inductor backend needs a C++ compiler on the CPU "
            f"({' or '.join(compilers)}: none found)"
        )
    return None


def probe(device: torch.device) -> str | None:
    return compile_reason(device.type)


def build(config: Config, device: torch.device | str, stages: bool = False) -> Case:
    import torch._dynamo

    torch._dynamo.reset()  # see the module doc: every case compiled afresh, never past the limit
    case = build_case(causal_conv, config, torch.device(device), stages=False)
    case.module.compile(**COMPILE_OPTIONS)  # in place: the state dict keeps its names
    return case


SPEC = register(
    OperatorSpec(
        name="hyena-compiled",
        family="hyena",
        build=build,
        flops=counts.hyena_flops,
        bytes=counts.hyena_bytes,
        detail=(
            "the hyena-fft layer (torch.fft, n = 2L, float32) under torch.compile (inductor, "
            "fullgraph, static shapes, compiled during warm-up); the FFTs stay torch's"
        ),
        levels=("layer",),
        probe=probe,
        issued_flops=issued_flops(counts.fft_conv_issued),  # inductor leaves the FFTs to torch
        extra={"opt_in": "compiles for each case (tens of seconds); name it with --ops"},
    )
)
