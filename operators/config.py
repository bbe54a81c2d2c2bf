"""One benchmark configuration: the shape, precision and mode an operator is built for.

A frozen record so that it can key results, caches and resume sets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Precision names and the torch dtypes they stand for (torch is imported only when a dtype is
# needed, so that commands which never touch tensors start quickly).
DTYPES: dict[str, str] = {
    "fp64": "float64",
    "fp32": "float32",
    "fp16": "float16",
    "bf16": "bfloat16",
}
MODES = ("fwd", "fwd_bwd")
LEVELS = ("core", "layer")


@dataclass(frozen=True)
class Config:
    """Shape and mode of one measurement.

    `level="core"` is the sequence mixer alone (attention: softmax(QK^T)V on prepared q, k, v;
    Hyena: one causal long convolution with its skip term); `level="layer"` is the drop-in layer
    x(B, L, D) -> y(B, L, D) with its projections.
    """

    batch: int = 1
    seqlen: int = 1024
    d_model: int = 768
    heads: int = 12
    order: int = 2
    dtype: str = "fp32"
    mode: str = "fwd"
    level: str = "layer"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; choose from {', '.join(DTYPES)}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose from {', '.join(MODES)}")
        if self.level not in LEVELS:
            raise ValueError(f"unknown level {self.level!r}; choose from {', '.join(LEVELS)}")

    @property
    def torch_dtype(self) -> torch.dtype:
        import torch

        return getattr(torch, DTYPES[self.dtype])

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    def problem(self) -> str | None:
        """Why this shape is not a valid problem at all (for any implementation), or None."""
        for name in ("batch", "seqlen", "d_model", "heads", "order"):
            if getattr(self, name) <= 0:
                return f"{name} must be positive, got {getattr(self, name)}"
        if self.d_model % self.heads:
            return f"d_model {self.d_model} is not divisible by heads {self.heads}"
        if self.order < 2:
            return f"Hyena order must be >= 2, got {self.order}"
        return None

    def replace(self, **changes: object) -> Config:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    def label(self) -> str:
        return (
            f"{self.level} B={self.batch} L={self.seqlen} D={self.d_model} H={self.heads} "
            f"order={self.order} {self.dtype} {self.mode}"
        )
