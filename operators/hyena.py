"""The Hyena operator (Poli et al. 2023), faithful to the authors' code (HazyResearch/safari,
src/models/sequence/hyena.py), with the causal long convolution injected so one definition serves
every strategy.

Layer: in-projection to (order+1)·D, depthwise causal short conv (kernel 3), implicit long filter
(positional embedding -> sine FFN -> exponential decay), gating chain, out-projection.
Core: one long convolution y = h * u + bias ⊙ u, the part that replaces attention's L² core.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import nn

from operators import counts, reference
from operators.case import Case, generator, init_module, randn, stage
from operators.config import Config
from operators.registry import OperatorSpec, register

# conv(u (B, D, L), h (D, L), bias (D,)) -> y (B, D, L), causal, with the skip term bias ⊙ u.
LongConv = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

EMB_DIM = 3  # positional embedding: t plus one sin/cos band (safari's default)
FILTER_ORDER = 64  # width of the implicit filter's FFN (safari's HyenaOperator default)
FILTER_INNER_LAYERS = 2  # hidden (width x width) layers of that FFN (safari's num_inner_mlps)
SHORT_KERNEL = 3  # depthwise short convolution
DECAY_FAST, DECAY_SLOW, DECAY_TARGET = 0.3, 1.5, 1e-2  # exponential modulation
SIN_FREQ = 1.0  # initial frequency of the filter's sine activations (safari's HyenaFilter w)
# The named stages of the layer (profiler and NVTX ranges), in the order they run.
STAGES = (
    "hyena.in_proj",
    "hyena.short_conv",
    "hyena.filter",
    "hyena.gating",
    "hyena.long_conv",
    "hyena.out_proj",
)


class PositionalEmbedding(nn.Module):
    """z(t) = [t, cos(f·w), -sin(f·w)] for t in [0, 1]: the implicit filter's input.

    `z` is a parameter (safari trains it at a small learning rate); `t`, the time axis of the decay,
    is a fixed buffer. Both hold l_max positions; `forward(n)` returns the first n."""

    def __init__(self, emb_dim: int, l_max: int) -> None:
        super().__init__()
        t = torch.linspace(0, 1, l_max)[None, :, None]
        bands = (emb_dim - 1) // 2
        w = 2 * math.pi * torch.linspace(0, l_max - 1, l_max)[None, :, None] / l_max
        f = torch.linspace(1e-4, bands - 1, bands)[None, None]
        z = torch.exp(-1j * f * w)
        self.z = nn.Parameter(torch.cat([t, z.real, z.imag], dim=-1))
        self.register_buffer("t", t)

    def forward(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.z[:, :n], self.t[:, :n]


class Sin(nn.Module):
    """sin(freq ⊙ x) with a learnable per-feature frequency."""

    def __init__(self, dim: int, w: float = SIN_FREQ) -> None:
        super().__init__()
        self.freq = nn.Parameter(w * torch.ones(1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.freq * x)


class ExponentialModulation(nn.Module):
    """Multiply channel c of the filter by exp(-t·|delta_c|), decay rates spread across channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        max_decay = math.log(DECAY_TARGET) / DECAY_FAST
        min_decay = math.log(DECAY_TARGET) / DECAY_SLOW
        self.register_buffer("deltas", torch.linspace(min_decay, max_decay, channels)[None, None])

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x * torch.exp(-t * self.deltas.abs())


class HyenaFilter(nn.Module):
    """Implicit long filter h(t) = FFN(z(t)) ⊙ decay(t) for `channels` channels, plus the
    per-channel bias used as the skip term of the long convolution.

    As in safari, one `Sin` module (one frequency vector) is shared by every activation of the FFN,
    so the state dict holds the same tensor under `implicit_filter.1/3/5.freq`. Modules are created
    in safari's order, so a seeded initialisation draws the same numbers as safari's."""

    def __init__(
        self, channels: int, l_max: int, emb_dim: int = EMB_DIM, filter_order: int = FILTER_ORDER
    ) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.randn(channels))
        act = Sin(filter_order)
        self.pos_emb = PositionalEmbedding(emb_dim, l_max)
        self.implicit_filter = nn.Sequential(nn.Linear(emb_dim, filter_order), act)
        for _ in range(FILTER_INNER_LAYERS):
            self.implicit_filter.extend([nn.Linear(filter_order, filter_order), act])
        self.implicit_filter.append(nn.Linear(filter_order, channels, bias=False))
        self.modulation = ExponentialModulation(channels)

    def forward(self, n: int) -> torch.Tensor:
        """The filter for length n (at most l_max), shape (channels, n)."""
        z, t = self.pos_emb(n)
        return self.modulation(t, self.implicit_filter(z))[0].transpose(0, 1)


class HyenaOperator(nn.Module):
    """Drop-in layer x(B, L, D) -> y(B, L', D), L' = min(L, l_max). For each order step o:
    v <- x_(order-1-o) ⊙ v, then v <- h_o * v + bias_o ⊙ v; finally y = out_proj(x_0 ⊙ v).

    Follows safari's HyenaOperator (num_heads=1, num_blocks=1, inner_factor=1, no dropout; read
    at HazyResearch/safari 02220c6, src/models/sequence/hyena.py lines 309-355):
    - the filter network's order-1 filters are interleaved channel-wise: channel c·(order-1) + o
      of the filter network is channel c of step o's filter (safari's `(v o) -> o v`);
    - an input longer than l_max is cut to its first l_max positions after the short convolution,
      and the output has those positions only (safari's `l_filter`);
    - parameter names and shapes are safari's, so its state dicts load with `load_state_dict`."""

    def __init__(
        self, d_model: int, l_max: int, order: int, long_conv: LongConv, stages: bool = False
    ) -> None:
        super().__init__()
        self.d_model, self.l_max, self.order = d_model, l_max, order
        self.long_conv, self.stages = long_conv, stages
        inner = (order + 1) * d_model
        self.out_proj = nn.Linear(d_model, d_model)
        self.in_proj = nn.Linear(d_model, inner)
        self.short_filter = nn.Conv1d(
            inner, inner, SHORT_KERNEL, padding=SHORT_KERNEL - 1, groups=inner
        )
        self.filter_fn = HyenaFilter(d_model * (order - 1), l_max)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, d, steps = min(x.shape[1], self.l_max), self.d_model, self.order - 1
        with stage("hyena.in_proj", self.stages):
            u = self.in_proj(x).transpose(1, 2)  # (B, (order+1)·D, L)
        with stage("hyena.short_conv", self.stages):
            uc = self.short_filter(u)[..., :n]
            *xs, v = uc.split(d, dim=1)
        with stage("hyena.filter", self.stages):
            # (D·steps, n) -> (steps, D, n): filter channel c·steps + o belongs to step o.
            h = self.filter_fn(n).reshape(d, steps, n).transpose(0, 1).contiguous()
            bias = self.filter_fn.bias.view(d, steps).transpose(0, 1).contiguous()
        for i, x_i in enumerate(reversed(xs[1:])):
            with stage("hyena.gating", self.stages):
                v = v * x_i
            with stage("hyena.long_conv", self.stages):
                v = self.long_conv(v, h[i], bias[i])
        with stage("hyena.gating", self.stages):
            y = (v * xs[0]).transpose(1, 2)
        with stage("hyena.out_proj", self.stages):
            return self.out_proj(y)


class LongConvCore(nn.Module):
    """Core level: the long convolution alone, y = conv(u, h, bias)."""

    def __init__(self, long_conv: LongConv, stages: bool = False) -> None:
        super().__init__()
        self.long_conv, self.stages = long_conv, stages

    def forward(self, u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        with stage("hyena.long_conv", self.stages):
            return self.long_conv(u, h, bias)


def core_filter(config: Config, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A realistic (decaying) filter and bias for the core level, from a seeded HyenaFilter."""
    filt = init_module(lambda: HyenaFilter(config.d_model, config.seqlen), config, device)
    with torch.no_grad():
        h, bias = filt(config.seqlen).detach(), filt.bias.detach()
    grad = config.mode == "fwd_bwd"
    return h.contiguous().requires_grad_(grad), bias.clone().requires_grad_(grad)


def core_reference(
    weights: reference.Weights, u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """The core level's float64 reference: the causal convolution (the core has no weights)."""
    return reference.causal_conv(u, h, bias)


def build_case(
    long_conv: LongConv, config: Config, device: torch.device, stages: bool = False
) -> Case:
    b, n, d = config.batch, config.seqlen, config.d_model
    gen = generator(device)
    if config.level == "core":
        module = LongConvCore(long_conv, stages)
        h, bias = core_filter(config, device)
        inputs = (randn((b, d, n), config, device, gen=gen), h, bias)
        out_shape = (b, d, n)
        ref = core_reference
    else:
        module = init_module(
            lambda: HyenaOperator(d, n, config.order, long_conv, stages), config, device
        )
        inputs = (randn((b, n, d), config, device, gen=gen),)
        out_shape = (b, n, d)
        ref = functools.partial(reference.hyena_layer, order=config.order)
    grad_output = None
    if config.mode == "fwd_bwd":
        grad_output = randn(out_shape, config, device, gen=gen, requires_grad=False)
    return Case(
        config=config,
        module=module,
        inputs=inputs,
        reference=ref,
        grad_output=grad_output,
    )


def issued_flops(conv: counts.ConvIssued | None) -> Callable[[Config], float | None]:
    """The layer's (or core's) issued FLOPs around a convolution that issues `conv(config)`;
    None throughout when the convolution's work is not counted."""

    def count(config: Config) -> float | None:
        if conv is None:
            return None
        widths = (EMB_DIM, FILTER_ORDER, FILTER_INNER_LAYERS)
        return counts.hyena_issued_flops(config, conv, widths, SHORT_KERNEL)

    return count


def register_longconv(
    strategy: str,
    long_conv: LongConv | Callable[[], LongConv],
    detail: str,
    *,
    lazy: bool = False,
    issued: counts.ConvIssued | None = None,
    **kwargs: object,
) -> OperatorSpec:
    """Register `hyena-<strategy>`: the Hyena operator with this long convolution.
    With `lazy=True`, `long_conv` is a factory called when a case is built. `issued(config)`
    counts the FLOPs one call of the convolution issues (counts.fft_conv_issued, ...); without
    it, rows have no issued-FLOPs figure."""

    def build(config: Config, device: torch.device, stages: bool = False) -> Case:
        conv = long_conv() if lazy else long_conv
        return build_case(conv, config, torch.device(device), stages)

    return register(
        OperatorSpec(
            name=f"hyena-{strategy}",
            family="hyena",
            build=build,
            flops=counts.hyena_flops,
            bytes=counts.hyena_bytes,
            detail=detail,
            issued_flops=issued_flops(issued),
            **kwargs,
        )
    )
