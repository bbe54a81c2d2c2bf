"""`hyena-flashfftconv`: the Hyena operator with FlashFFTConv's long convolution (the `flashfftconv`
package, HazyResearch/flash-fft-conv: FFT convolution as tensor-core matrix products, CUDA only),
import-guarded like the flash-attn adapters: where the package is absent the row is skipped with
the reason, never replaced by another convolution.

The package computes iFFT(FFT(u)·FFT(k)) at a power-of-two FFT size given when its module is made;
with an FFT of at least 2L the first L outputs are the causal convolution. Hyena's skip term
bias ⊙ u is folded into the filter's first tap (k[0] = h[0] + bias: the same function, and
autograd carries the gradient to h and bias). Gates run in torch, as in hyena-fft (the package's
gated call wants both gates at once; the adapter stays a plain long convolution).
Its documented input rules (README at 2024-02): u (B, H, L) contiguous in fp16 or bf16, k in
fp32; FFT size a power of two in 256 .. 4,194,304; L even (a multiple of 4 for FFT sizes 512 and
2048); H a multiple of 16 for FFT sizes above 32,768.
"""

from __future__ import annotations

import importlib

import torch

from operators.config import Config
from operators.hyena import LongConv, register_longconv

PACKAGE = "flashfftconv"
MIN_FFT, MAX_FFT = 256, 4_194_304
WIDE_FFT = 32_768  # above this FFT size, H must be a multiple of 16
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def import_flashfftconv() -> type | str:
    """The package's FlashFFTConv module class, or the reason it cannot be imported."""
    try:
        return importlib.import_module(PACKAGE).FlashFFTConv
    except ImportError as exc:
        if getattr(exc, "name", None) == PACKAGE:
            return f"{PACKAGE} is not installed (pip install from HazyResearch/flash-fft-conv)"
        return f"{PACKAGE} failed to import: {exc.__class__.__name__}: {exc}"
    except Exception as exc:  # a broken CUDA extension raises all sorts of errors at import
        return f"{PACKAGE} failed to import: {exc.__class__.__name__}: {exc}"


def fft_size(seqlen: int) -> int:
    """The package's FFT size for a causal convolution of length L: a power of two >= 2L."""
    return max(MIN_FFT, 1 << (2 * seqlen - 1).bit_length())


def limits(config: Config, device: torch.device) -> str | None:
    """Why the package cannot run this configuration (its documented rules), or None."""
    n = fft_size(config.seqlen)
    if config.dtype not in DTYPES:
        return f"{PACKAGE} computes in fp16 or bf16 only (not {config.dtype})"
    if n > MAX_FFT:
        return f"L={config.seqlen} needs an FFT of {n}; {PACKAGE} goes up to {MAX_FFT}"
    if config.seqlen % 2 or (n in (512, 2048) and config.seqlen % 4):
        return f"{PACKAGE} needs an even L (a multiple of 4 for FFT size {n}); L={config.seqlen}"
    if n > WIDE_FFT and config.d_model % 16:
        return f"{PACKAGE} needs D a multiple of 16 for FFT sizes above {WIDE_FFT}"
    return None


def probe(device: torch.device) -> str | None:
    found = import_flashfftconv()
    return found if isinstance(found, str) else None


def folded_filter(h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """h with bias added to its first tap, in fp32 (the package wants an fp32 filter):
    (k * u)[t] = (h * u)[t] + bias·u[t]."""
    k = h.float()
    return torch.cat([k[:, :1] + bias.float()[:, None], k[:, 1:]], dim=1)


def long_conv(conv_class: type) -> LongConv:
    """conv(u, h, bias) through the package, one package module per (FFT size, dtype, device)
    kept for the case's lifetime (it holds the FFT's twiddle tables, not the layer's weights, so
    it stays out of the layer's state dict)."""
    modules: dict[tuple[int, torch.dtype, torch.device], torch.nn.Module] = {}

    def conv(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        key = (fft_size(u.shape[-1]), u.dtype, u.device)
        if key not in modules:
            modules[key] = conv_class(key[0], dtype=u.dtype).to(u.device)
        return modules[key](u.contiguous(), folded_filter(h, bias))

    return conv


def load() -> LongConv:
    found = import_flashfftconv()
    if isinstance(found, str):
        raise RuntimeError(found)  # the registry's probe says so first; never a silent fallback
    return long_conv(found)


SPEC = register_longconv(
    "flashfftconv",
    load,
    "FlashFFTConv (flashfftconv package): FFT convolution as tensor-core matrix products, FFT "
    "size a power of two >= 2L, bias folded into the filter's first tap, gates in torch",
    lazy=True,
    requires=("cuda",),
    probe=probe,
    limits=limits,
)
