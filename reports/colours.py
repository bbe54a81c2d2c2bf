"""Colours for the figures, fixed by name: an implementation (or a stage) has the same colour in
every report, whichever other implementations a run happens to hold.

Known names have a hand-picked colour; any other name hashes (CRC-32, stable across processes and
Python versions, unlike `hash`) into a fallback palette, so it is stable too. Grey is left for
the paper's series.
"""

from __future__ import annotations

import zlib

# Attention in blues, oranges and greens; Hyena in reds, purples and pinks. Strong colours only:
# the lines are thin and the figures are read on white.
IMPL_COLOURS = {
    "attention-dense": "#1f77b4",
    "attention-sdpa-math": "#17becf",
    "attention-sdpa-flash": "#ff7f0e",
    "attention-sdpa-efficient": "#bcbd22",
    "attention-sdpa-cudnn": "#8c564b",
    "flash-attn2": "#2ca02c",
    "flash-attn3": "#006d2c",
    "flash-attn4": "#74c476",
    "hyena-naive": "#9467bd",
    "hyena-fft": "#d62728",
    "hyena-triton": "#e377c2",
    "hyena-triton-monarch": "#7f0000",
    "hyena-triton-toeplitz": "#3f007d",
}
# The layer's stages, by what they do: projections in blues, the mixers in reds and oranges.
STAGE_COLOURS = {
    "attention.projections": "#1f77b4",
    "attention.core": "#aec7e8",
    "attention.out_proj": "#ff7f0e",
    "hyena.in_proj": "#ffbb78",
    "hyena.short_conv": "#2ca02c",
    "hyena.filter": "#98df8a",
    "hyena.long_conv": "#d62728",
    "hyena.gating": "#ff9896",
    "hyena.out_proj": "#9467bd",
}
# matplotlib's Dark2 without its grey: distinct from the fixed colours' hues in most pairs.
FALLBACK = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")
PAPER_GREY = "#7f7f7f"


def hashed(name: str) -> str:
    """A fallback colour that depends only on the name (two unknown names may share one)."""
    return FALLBACK[zlib.crc32(name.encode("utf-8")) % len(FALLBACK)]


def impl_colour(name: str) -> str:
    return IMPL_COLOURS.get(name) or hashed(name)


def stage_colour(name: str) -> str:
    return STAGE_COLOURS.get(name) or hashed(name)
