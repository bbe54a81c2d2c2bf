"""Sweep specifications: which implementations, over which sequence lengths and shapes, and the
named presets (smoke, paper, paper-b1, longconv). Pure data; the runner executes them.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from operators.config import DTYPES, LEVELS, MODES, Config

SIZE_SUFFIX = {"k": 1 << 10, "m": 1 << 20}
MAX_SEQLEN = 1 << 24


@dataclass(frozen=True)
class Sweep:
    """A grid: each implementation at each sequence length of one shape/precision/mode."""

    seqlens: tuple[int, ...]
    ops: tuple[str, ...] = ()  # empty: every implementation of `families` (or all)
    families: tuple[str, ...] = ()
    batch: int = 1
    d_model: int = 768
    heads: int = 12
    order: int = 2
    dtype: str = "fp32"
    mode: str = "fwd"
    level: str = "layer"
    target_s: float | None = None  # per-row measuring time (None: the timer's default)
    max_call_ms: float | None = None  # a slower call skips that op's longer lengths

    def configs(self) -> list[Config]:
        return [
            Config(
                batch=self.batch,
                seqlen=n,
                d_model=self.d_model,
                heads=self.heads,
                order=self.order,
                dtype=self.dtype,
                mode=self.mode,
                level=self.level,
            )
            for n in self.seqlens
        ]

    def replace(self, **changes: object) -> Sweep:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    cpu: Sweep
    gpu: Sweep

    def for_device(self, device_type: str) -> Sweep:
        return self.gpu if device_type == "cuda" else self.cpu


def size(text: str) -> int:
    """'4k' -> 4096, '4096' -> 4096; ValueError with a one-line message otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)\s*", text)
    if not m:
        raise ValueError(f"not a length: {text!r} (examples: 4096, 4k, 1m)")
    value = int(m.group(1)) * SIZE_SUFFIX.get(m.group(2).lower(), 1)
    if not 0 < value <= MAX_SEQLEN:
        raise ValueError(f"length {text!r} out of range (1..{MAX_SEQLEN})")
    return value


def parse_seqlens(text: str) -> tuple[int, ...]:
    """'1k..64k' (powers of two from 1k to 64k), '1024,2048,3000', or a mix: '256,1k..4k'."""
    values: list[int] = []
    for part in text.split(","):
        if ".." in part:
            lo_text, hi_text = part.split("..", 1)
            lo, hi = size(lo_text), size(hi_text)
            if lo > hi:
                raise ValueError(f"empty range {part!r}: {lo} > {hi}")
            n = lo
            while n <= hi:
                values.append(n)
                n *= 2
        elif part.strip():
            values.append(size(part))
        else:
            raise ValueError(f"empty item in sequence lengths {text!r}")
    return tuple(sorted(set(values)))


def check_choice(name: str, value: str, choices: tuple[str, ...] | dict[str, object]) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose from {', '.join(choices)}")
    return value


# Implementations compared in the paper's Figure 4.3: standard attention, FlashAttention (the
# flash-attn packages, or torch SDPA's flash and cuDNN backends standing in), Hyena.
PAPER_OPS = (
    "attention-dense",
    "flash-attn2",
    "flash-attn3",
    "flash-attn4",
    "attention-sdpa-flash",
    "attention-sdpa-cudnn",
    "hyena-fft",
    "hyena-triton",
)
LONGCONV_OPS = (
    "hyena-naive",
    "hyena-fft",
    "hyena-triton-toeplitz",
    "hyena-triton-monarch",
    "hyena-triton",
)

_PAPER = Sweep(
    seqlens=parse_seqlens("1k..64k"),
    ops=PAPER_OPS,
    batch=64,
    d_model=768,
    heads=12,
    order=2,
    dtype="fp16",
    mode="fwd",
    level="layer",
    max_call_ms=5000,
)
_LONGCONV = Sweep(
    seqlens=parse_seqlens("256..64k"),
    ops=LONGCONV_OPS,
    batch=64,
    d_model=768,
    dtype="fp16",
    level="core",
    max_call_ms=2000,
)
# smoke: CPU-sized; every implementation that runs on a CPU; finishes well under a minute.
_SMOKE = Sweep(
    seqlens=parse_seqlens("256..4k"),
    batch=1,
    d_model=64,
    heads=4,
    order=2,
    dtype="fp32",
    mode="fwd",
    level="layer",
    target_s=0.15,
    max_call_ms=2000,
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "smoke",
            "CPU-sized check of every implementation available here: layer level, "
            "B=1, D=64, 4 heads, fp32, forward, L 256..4k",
            cpu=_SMOKE,
            gpu=_SMOKE.replace(dtype="fp16"),
        ),
        Preset(
            "paper",
            "the paper's Figure 4.3 setup: layer level, order-2 Hyena vs standard "
            "attention vs FlashAttention, D=768, 12 heads, fp16, causal, forward, L 1k..64k, "
            "batch 64 (as the paper's text says)",
            cpu=_PAPER.replace(dtype="fp32"),
            gpu=_PAPER,
        ),
        Preset(
            "paper-b1",
            "as `paper` with batch 1, as in the authors' released benchmark script",
            cpu=_PAPER.replace(batch=1, dtype="fp32"),
            gpu=_PAPER.replace(batch=1),
        ),
        Preset(
            "longconv",
            "the long-convolution strategies alone (core level), B=64, D=768, fp16, "
            "L 256..64k (256..128k on a GPU)",
            cpu=_LONGCONV.replace(dtype="fp32"),
            gpu=_LONGCONV.replace(seqlens=parse_seqlens("256..128k")),
        ),
    )
}


def validate(sweep: Sweep) -> Sweep:
    """Raise ValueError (one line) for a sweep that makes no sense before anything runs."""
    check_choice("dtype", sweep.dtype, DTYPES)
    check_choice("mode", sweep.mode, MODES)
    check_choice("level", sweep.level, LEVELS)
    if not sweep.seqlens:
        raise ValueError("no sequence lengths")
    problem = sweep.configs()[0].problem()
    if problem:
        raise ValueError(problem)
    return sweep
