"""The attention family: causal softmax attention by dense PyTorch ops, by torch SDPA pinned to one
backend each, and by the flash-attn packages (import-guarded adapters).

Core level: o = attention(q, k, v) on prepared heads; layer level: x -> qkv projection -> core ->
output projection. Every member computes the same function from the same weights and inputs.
"""

from __future__ import annotations

import functools
import importlib
import math
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from operators import counts, reference
from operators.case import Case, Reference, generator, init_module, randn, stage
from operators.config import Config
from operators.registry import OperatorSpec, register

Kernel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
# The named stages of the layer (profiler and NVTX ranges), in the order they run.
STAGES = ("attention.projections", "attention.core", "attention.out_proj")
BHLD, BLHD = "bhld", "blhd"  # (batch, heads, length, head_dim) or (batch, length, heads, head_dim)


class AttentionCore(nn.Module):
    """The sequence mixer alone: o = kernel(q, k, v)."""

    def __init__(self, kernel: Kernel, stages: bool = False) -> None:
        super().__init__()
        self.kernel, self.stages = kernel, stages

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with stage("attention.core", self.stages):
            return self.kernel(q, k, v)


class AttentionLayer(nn.Module):
    """Drop-in layer x(B, L, D) -> y(B, L, D): fused qkv projection, causal core, out projection."""

    def __init__(
        self, d_model: int, heads: int, kernel: Kernel, layout: str, stages: bool = False
    ) -> None:
        super().__init__()
        self.heads, self.layout, self.kernel, self.stages = heads, layout, kernel, stages
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        with stage("attention.projections", self.stages):
            qkv = self.qkv(x).view(b, n, 3, self.heads, d // self.heads)
            if self.layout == BHLD:
                q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
            else:
                q, k, v = qkv.unbind(2)
        with stage("attention.core", self.stages):
            o = self.kernel(q, k, v)
        with stage("attention.out_proj", self.stages):
            if self.layout == BHLD:
                o = o.transpose(1, 2)
            return self.out_proj(o.reshape(b, n, d))


# --- kernels -----------------------------------------------------------------------------------


def dense_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Standard attention: materialise the L x L scores, mask the future, softmax, weight v."""
    n = q.shape[-2]
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    future = torch.ones(n, n, dtype=torch.bool, device=q.device).triu_(1)
    scores = scores.masked_fill(future, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def sdpa_attention(backend: SDPBackend) -> Kernel:
    """torch SDPA with exactly one backend enabled: it runs that backend or raises."""

    def kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with sdpa_kernel([backend]):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    return kernel


def flash_attention(fn: Callable[..., object]) -> Kernel:
    """Adapter for flash-attn style functions: (B, L, H, Dh) inputs, causal, explicit scale.
    flash-attn 3/4 return (out, softmax_lse); flash-attn 2 returns out."""

    def kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        out = fn(q, k, v, softmax_scale=1.0 / math.sqrt(q.shape[-1]), causal=True)
        return out[0] if isinstance(out, tuple) else out

    return kernel


def core_reference(layout: str) -> Reference:
    """The core level's float64 reference in the kernel's layout (the core has no weights)."""

    def bhld(weights: object, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return reference.causal_attention(q, k, v)

    def blhd(weights: object, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        o = reference.causal_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return o.transpose(1, 2)

    return bhld if layout == BHLD else blhd


# --- building cases ----------------------------------------------------------------------------


def build_case(
    kernel: Kernel, layout: str, config: Config, device: torch.device, stages: bool = False
) -> Case:
    b, n, d, h = config.batch, config.seqlen, config.d_model, config.heads
    gen = generator(device)
    if config.level == "core":
        module = AttentionCore(kernel, stages)
        shape = (b, h, n, d // h) if layout == BHLD else (b, n, h, d // h)
        inputs = tuple(randn(shape, config, device, gen=gen) for _ in range(3))
        ref = core_reference(layout)
    else:
        module = init_module(lambda: AttentionLayer(d, h, kernel, layout, stages), config, device)
        shape = (b, n, d)
        inputs = (randn(shape, config, device, gen=gen),)
        ref = functools.partial(reference.attention_layer, heads=h)
    grad_output = None
    if config.mode == "fwd_bwd":
        grad_output = randn(shape, config, device, gen=gen, requires_grad=False)
    return Case(
        config=config,
        module=module,
        inputs=inputs,
        reference=ref,
        grad_output=grad_output,
    )


def attention_spec(
    name: str,
    kernel_factory: Callable[[], Kernel],
    layout: str,
    detail: str,
    *,
    skips_masked: bool = True,
    **kwargs: object,
) -> OperatorSpec:
    """Register one attention implementation; `kernel_factory` runs only when a case is built.
    `skips_masked`: the kernel skips the score blocks above the diagonal (counts the issued
    FLOPs: counts.attention_issued_flops)."""

    def build(config: Config, device: torch.device, stages: bool = False) -> Case:
        return build_case(kernel_factory(), layout, config, torch.device(device), stages)

    return register(
        OperatorSpec(
            name=name,
            family="attention",
            build=build,
            flops=counts.attention_flops,
            bytes=counts.attention_bytes,
            detail=detail,
            issued_flops=functools.partial(
                counts.attention_issued_flops, skips_masked=skips_masked
            ),
            **kwargs,
        )
    )


# --- torch SDPA backends: availability by a tiny real call ------------------------------------

SDPA_BACKENDS = {
    "math": SDPBackend.MATH,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "flash": SDPBackend.FLASH_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
}


@functools.cache
def sdpa_probe(
    backend: SDPBackend, device: torch.device, dtype: torch.dtype, head_dim: int
) -> str | None:
    """Run one tiny causal call with only `backend` enabled; the reason it cannot, or None."""
    shape = (1, 1, 16, head_dim)
    q = torch.randn(shape, device=device).to(dtype)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sdpa_attention(backend)(q, q, q)
            return None
        except RuntimeError as exc:
            why = [
                str(w.message).splitlines()[0]
                for w in caught
                if "not used because" in str(w.message)
            ]
            detail = why[0] if why else str(exc).splitlines()[0].split(". ")[0]
    return f"torch SDPA {backend.name} cannot run on {device.type} {dtype}: {detail}"


def _sdpa_spec(short: str) -> None:
    backend = SDPA_BACKENDS[short]

    def probe(device: torch.device) -> str | None:
        dtype = torch.float16 if device.type == "cuda" else torch.float32
        return sdpa_probe(backend, device, dtype, 64)

    def limits(config: Config, device: torch.device) -> str | None:
        return sdpa_probe(backend, device, config.torch_dtype, config.head_dim)

    attention_spec(
        f"attention-sdpa-{short}",
        lambda: sdpa_attention(backend),
        BHLD,
        f"torch.nn.functional.scaled_dot_product_attention pinned to SDPBackend.{backend.name} "
        f"(torch {torch.__version__}); never falls back to another backend",
        skips_masked=backend != SDPBackend.MATH,  # the math backend materialises all L² scores
        probe=probe,
        limits=limits,
    )


# --- flash-attn packages: guarded imports ------------------------------------------------------

# name -> (module, function, minimum compute capability)
FLASH_PACKAGES = {
    "flash-attn2": ("flash_attn", "flash_attn_func", "sm80"),
    "flash-attn3": ("flash_attn_interface", "flash_attn_func", "sm90"),
    "flash-attn4": ("flash_attn.cute", "flash_attn_func", "sm90"),
}
FLASH_DTYPES = ("fp16", "bf16")
FLASH_MAX_HEAD_DIM = 256


@functools.cache
def import_flash(module: str, attr: str) -> Callable[..., object] | str:
    """The package's attention function, or the reason it cannot be imported."""
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        return f"{module} is not installed ({exc.__class__.__name__}: {exc})"
    except AttributeError:
        return f"{module} has no {attr} (unsupported version)"
    except Exception as exc:  # a broken CUDA extension raises all sorts of errors at import
        return f"{module} failed to import: {exc.__class__.__name__}: {exc}"


def flash_limits(config: Config, device: torch.device) -> str | None:
    if config.dtype not in FLASH_DTYPES:
        return f"flash-attn kernels take fp16 or bf16, not {config.dtype}"
    hd = config.head_dim
    if hd > FLASH_MAX_HEAD_DIM or hd % 8:
        return f"head dim {hd} unsupported (flash-attn needs a multiple of 8, at most 256)"
    return None


def _flash_spec(name: str) -> None:
    module, attr, sm = FLASH_PACKAGES[name]

    def probe(device: torch.device) -> str | None:
        fn = import_flash(module, attr)
        return fn if isinstance(fn, str) else None

    def kernel() -> Kernel:
        fn = import_flash(module, attr)
        if isinstance(fn, str):
            raise RuntimeError(fn)
        return flash_attention(fn)

    attention_spec(
        name,
        kernel,
        BLHD,
        f"{module}.{attr}(causal=True), (B, L, H, Dh) layout",
        requires=("cuda", sm),
        probe=probe,
        limits=flash_limits,
    )


attention_spec(
    "attention-dense",
    lambda: dense_attention,
    BHLD,
    "materialised L x L scores, causal mask, softmax, in plain PyTorch ops (standard attention)",
    skips_masked=False,
)
for _short in SDPA_BACKENDS:
    _sdpa_spec(_short)
for _name in FLASH_PACKAGES:
    _flash_spec(_name)
