"""Sweep specifications: which implementations, over which sequence lengths, at which base
configuration, and the named presets (smoke, paper, paper-b1, longconv). Pure data; the runner
executes them.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from operators.config import CONFIG_NAMES, MAX_SEQLEN, Config, did_you_mean

SIZE_SUFFIX = {"k": 1 << 10, "m": 1 << 20}


@dataclass(frozen=True)
class Sweep:
    """A grid: each implementation at each of `seqlens`, every other field from `base`."""

    seqlens: tuple[int, ...]
    base: Config = field(default_factory=Config)  # its seqlen is ignored: `seqlens` replaces it
    ops: tuple[str, ...] = ()  # empty: every implementation of `families` (or all)
    families: tuple[str, ...] = ()
    target_s: float | None = None  # per-row measuring time (None: the timer's default)
    max_call_ms: float | None = None  # a slower call skips that op's longer lengths

    def configs(self) -> list[Config]:
        return [self.base.replace(seqlen=n) for n in self.seqlens]

    def replace(self, **changes: Any) -> Sweep:
        """A changed copy; Config field names (batch, dtype, ...) change the base config."""
        config = {k: changes.pop(k) for k in list(changes) if k in CONFIG_NAMES}
        return dataclasses.replace(self, base=self.base.replace(**config), **changes)

    def as_dict(self) -> dict[str, Any]:
        """Flat, for env.json: seqlens, ops, families, the base config's fields, options."""
        base = {k: v for k, v in self.base.as_dict().items() if k != "seqlen"}
        return {
            "seqlens": list(self.seqlens),
            "ops": list(self.ops),
            "families": list(self.families),
            **base,
            "target_s": self.target_s,
            "max_call_ms": self.max_call_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sweep:
        """The sweep `as_dict` wrote (env.json's "sweep"); KeyError/TypeError if it is not one."""
        base = {k: data[k] for k in CONFIG_NAMES if k != "seqlen"}
        return cls(
            seqlens=tuple(data["seqlens"]),
            base=Config(**base),
            ops=tuple(data["ops"]),
            families=tuple(data["families"]),
            target_s=data.get("target_s"),
            max_call_ms=data.get("max_call_ms"),
        )

    def label(self) -> str:
        """The configuration in one line: B, D, heads, order, dtype, mode, level."""
        c = self.base
        return (
            f"B={c.batch} D={c.d_model} heads={c.heads} order={c.order} {c.dtype} {c.mode} "
            f"level={c.level}"
        )


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


# Implementations compared in the paper's Figure 4.3: standard attention, FlashAttention (the
# flash-attn packages, or torch SDPA's flash and cuDNN backends standing in), Hyena: the
# reference layer with torch's FFT, with the Triton convolution, fused (hyena-fused) and with
# FlashFFTConv; each is a skipped row with its reason where it cannot run. hyena-compiled is
# left out: it compiles every case (tens of seconds each); name it with --ops.
PAPER_OPS = (
    "attention-dense",
    "flash-attn2",
    "flash-attn3",
    "flash-attn4",
    "attention-sdpa-flash",
    "attention-sdpa-cudnn",
    "hyena-fft",
    "hyena-triton",
    "hyena-fused",
    "hyena-flashfftconv",
)
LONGCONV_OPS = (
    "hyena-naive",
    "hyena-fft",
    "hyena-triton-toeplitz",
    "hyena-triton-monarch",
    "hyena-triton",
    "hyena-flashfftconv",
)

_PAPER = Sweep(
    seqlens=parse_seqlens("1k..64k"),
    ops=PAPER_OPS,
    base=Config(batch=64, d_model=768, heads=12, order=2, dtype="fp16", mode="fwd", level="layer"),
    max_call_ms=5000,
)
_LONGCONV = Sweep(
    seqlens=parse_seqlens("256..64k"),
    ops=LONGCONV_OPS,
    base=Config(batch=64, d_model=768, dtype="fp16", level="core"),
    max_call_ms=2000,
)
# smoke: CPU-sized; every implementation that runs on a CPU; finishes well under a minute.
_SMOKE = Sweep(
    seqlens=parse_seqlens("256..4k"),
    base=Config(batch=1, d_model=64, heads=4, order=2, dtype="fp32", mode="fwd", level="layer"),
    target_s=0.15,
    max_call_ms=2000,
)
# Without --preset: every implementation at the default configuration, 1k..8k.
DEFAULT_LENGTHS = "1k..8k"
DEFAULT_SWEEP = Sweep(seqlens=parse_seqlens(DEFAULT_LENGTHS))

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


def find_preset(name: str) -> Preset:
    """The preset called `name`; ValueError naming the nearest one otherwise."""
    if name not in PRESETS:
        raise ValueError(
            f"unknown preset {name!r}{did_you_mean(name, PRESETS)}; known: {', '.join(PRESETS)}"
        )
    return PRESETS[name]


def validate(sweep: Sweep) -> Sweep:
    """Raise ValueError (one line) for a sweep that makes no sense before anything runs (the
    base Config refuses unknown dtypes, modes and levels when it is made)."""
    if not sweep.seqlens:
        raise ValueError("no sequence lengths")
    problem = sweep.configs()[0].problem()
    if problem:
        raise ValueError(problem)
    return sweep
