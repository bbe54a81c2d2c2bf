"""One benchmark configuration: the shape, precision and mode an operator is built for, and the
torch-free names around it (dtypes, modes, levels, families, what a safe name looks like).

`Config` is the one declaration of a configuration's fields: each field's metadata (`help`,
`unit`, `choices`, `minimum`, `maximum`) is read by the command-line flags (bench.flags), the
results row's key and validation (bench.record) and the docs. Adding a field here adds it
everywhere. This module must stay importable without torch: the CLI builds its parser from it.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
# fp64 is the references' precision: implementations are measured in these.
MEASURED_DTYPES = ("fp32", "fp16", "bf16")
MODES = ("fwd", "fwd_bwd")
LEVELS = ("core", "layer")
FAMILIES = ("attention", "hyena")
# Longest sequence length a sweep may name: 16M tokens; beyond that a "length" is a typo.
MAX_SEQLEN = 1 << 24
# What an implementation or device name may look like. Such names reach file names (plots,
# report tables), so they are lower-case letters, digits, dots and dashes, at most 64 long.
SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")


def config_field(
    default: Any,
    help: str,
    *,
    unit: str = "",
    choices: tuple[str, ...] | None = None,
    flag_choices: tuple[str, ...] | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> Any:
    """A Config field with its description: one line of help, unit, allowed values or range;
    `flag_choices` are the values the command line offers (default: all of `choices`)."""
    return dataclasses.field(
        default=default,
        metadata={
            "help": help,
            "unit": unit,
            "choices": choices,
            "flag_choices": flag_choices or choices,
            "minimum": minimum,
            "maximum": maximum,
        },
    )


@dataclass(frozen=True)
class Config:
    """Shape and mode of one measurement.

    `level="core"` is the sequence mixer alone (attention: softmax(QK^T)V on prepared q, k, v;
    Hyena: one causal long convolution with its skip term); `level="layer"` is the drop-in layer
    x(B, L, D) -> y(B, L, D) with its projections.
    """

    batch: int = config_field(1, "batch size B", minimum=1)
    seqlen: int = config_field(
        1024, "sequence length L", unit="tokens", minimum=1, maximum=MAX_SEQLEN
    )
    d_model: int = config_field(768, "model width D", minimum=1)
    heads: int = config_field(12, "attention heads (D must be divisible by it)", minimum=1)
    order: int = config_field(2, "Hyena order: order-1 long convolutions, each gated", minimum=2)
    dtype: str = config_field(
        "fp32",
        "precision of inputs and weights",
        choices=tuple(DTYPES),
        flag_choices=MEASURED_DTYPES,
    )
    mode: str = config_field("fwd", "forward only, or forward and backward", choices=MODES)
    level: str = config_field(
        "layer", "core (the sequence mixer alone) or layer (with its projections)", choices=LEVELS
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            choices = f.metadata["choices"]
            if choices and getattr(self, f.name) not in choices:
                value = getattr(self, f.name)
                raise ValueError(
                    f"unknown {f.name} {value!r}; choose from {', '.join(choices)}"
                    + did_you_mean(str(value), choices)
                )

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


CONFIG_FIELDS: tuple[dataclasses.Field, ...] = dataclasses.fields(Config)
CONFIG_NAMES: tuple[str, ...] = tuple(f.name for f in CONFIG_FIELDS)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean hyena-fft?)' for the nearest known name, or '' when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""
