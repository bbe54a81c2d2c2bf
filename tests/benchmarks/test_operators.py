"""Operators timed through pytest-benchmark's `benchmark` fixture, on this machine's device, for
teams whose CI already keeps pytest-benchmark history:

    pytest tests/benchmarks --benchmark-only --benchmark-autosave
    pytest tests/benchmarks --benchmark-only --benchmark-compare --benchmark-compare-fail=median:10%

Each round is one `case.step()` followed by a device synchronise (so the host timer sees the
kernel finish); on CUDA the round's setup flushes the L2 cache, outside the timed region, as
bench.timing does. reports/baselines/README.md says how these numbers relate to `hyena-bench
compare`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch

from operators import capabilities, registry
from operators.config import Config

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
ON_CUDA = DEVICE.type == "cuda"
# GPU: the kernels a team gates (dense and math attention would materialise 49 GB at 16k);
# CPU: the two the gate sweep uses (reports/baselines/README.md).
OPS = (
    ("hyena-fft", "hyena-triton", "attention-sdpa-flash", "attention-sdpa-cudnn", "flash-attn2")
    if ON_CUDA
    else ("hyena-fft", "attention-sdpa-math")
)
# GPU: the paper's layer shape (D=768, 12 heads, fp16) at a batch that keeps 16k under a second.
# CPU: the smoke preset's shape, so the suite finishes in about a minute.
SEQLENS = (1024, 4096, 16384) if ON_CUDA else (1024, 2048)
SHAPE = (
    dict(batch=8, d_model=768, heads=12, dtype="fp16")
    if ON_CUDA
    else dict(batch=1, d_model=64, heads=4, dtype="fp32")
)
ROUNDS = 50 if ON_CUDA else 20  # a median and p10/p90 need tens of samples; CPU calls are slow
WARMUP_ROUNDS = 5  # after compile and autotune, which the explicit warm-up call below covers
L2_FLUSH_BYTES = 256 << 20  # larger than any current GPU's L2 (H200: 60 MB)


def sync() -> None:
    if ON_CUDA:
        torch.cuda.synchronize(DEVICE)


@pytest.fixture(scope="module")
def flush() -> Iterator[Callable[[], None]]:
    """The per-round setup: on CUDA, overwrite a buffer larger than L2, then synchronise."""
    buffer = torch.empty(L2_FLUSH_BYTES, dtype=torch.int8, device=DEVICE) if ON_CUDA else None

    def setup() -> None:
        if buffer is not None:
            buffer.zero_()
        sync()

    yield setup


@pytest.fixture(autouse=True)
def release_memory() -> Iterator[None]:
    yield
    if ON_CUDA:
        torch.cuda.empty_cache()


def build(op: str, seqlen: int):
    """The ready case, or a skip saying why this op does not run here."""
    try:
        spec = registry.get(op)
    except KeyError:
        pytest.skip(f"{op} is not in the plugin table")
    config = Config(seqlen=seqlen, level="layer", mode="fwd", **SHAPE)
    reason = spec.supports(config, DEVICE)
    if not reason and "triton" in spec.requires and capabilities.triton_interpreting():
        reason = "Triton interpreter (TRITON_INTERPRET=1): timing it means nothing"
    if reason:
        pytest.skip(reason)
    return spec.build(config, DEVICE), config


@pytest.mark.parametrize("seqlen", SEQLENS, ids=lambda n: f"L{n}")
@pytest.mark.parametrize("op", OPS)
def test_step(benchmark, flush, op: str, seqlen: int) -> None:
    case, config = build(op, seqlen)

    def step() -> None:
        case.step()
        sync()  # inside the timed call: the host timer must see the kernels finish

    step()  # compile / autotune / cuDNN heuristics, outside pytest-benchmark's statistics
    benchmark.group = f"{config.level} {config.dtype} L={seqlen}"
    benchmark.extra_info.update(op=op, device=str(DEVICE), config=config.as_dict())
    if ON_CUDA:
        benchmark.extra_info["device_name"] = torch.cuda.get_device_name(DEVICE)
    with torch.no_grad():
        benchmark.pedantic(step, setup=flush, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
