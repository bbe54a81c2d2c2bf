"""hyena-flashfftconv: the adapter's argument handling without the package (a stand-in with the
package's call signature computes the FFT product in float64 here), the guarded import, and the
package's documented limits. The package itself runs only on a GPU where it is installed."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch

from operators import flashfftconv, reference, registry
from operators.config import Config
from operators.verify import relative_error


class StandIn(torch.nn.Module):
    """The package's call: FlashFFTConv(fft_size, dtype)(u, k) = irfft(rfft(u)·rfft(k))[:L] at
    that FFT size, with its documented input rules asserted."""

    made: ClassVar[list[tuple[int, torch.dtype]]] = []

    def __init__(self, fft_size: int, dtype: torch.dtype) -> None:
        super().__init__()
        StandIn.made.append((fft_size, dtype))
        self.fft_size, self.dtype = fft_size, dtype

    def forward(self, u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        assert u.is_contiguous() and u.dtype == self.dtype and k.dtype == torch.float32
        n, L = self.fft_size, u.shape[-1]
        spectrum = torch.fft.rfft(u.double(), n=n) * torch.fft.rfft(k.double(), n=n)
        return torch.fft.irfft(spectrum, n=n)[..., :L].to(u.dtype)


def test_adapter_folds_the_bias_and_makes_one_module_per_size():
    StandIn.made.clear()
    conv = flashfftconv.long_conv(StandIn)
    g = torch.Generator().manual_seed(0)
    u = torch.randn(2, 4, 100, generator=g, dtype=torch.float64)
    h, bias = torch.randn(4, 100, generator=g), torch.randn(4, generator=g)
    out = conv(u.transpose(1, 2).contiguous().transpose(1, 2), h, bias)  # a strided input
    conv(u, h, bias)
    assert StandIn.made == [(256, torch.float64)]
    assert relative_error(out, reference.causal_conv(u, h, bias)) < 1e-6


def test_folded_filter_is_the_skip_term():
    h, bias = torch.randn(3, 10, requires_grad=True), torch.randn(3, requires_grad=True)
    k = flashfftconv.folded_filter(h, bias)
    assert k.dtype == torch.float32 and torch.equal(k[:, 1:], h[:, 1:].detach())
    k.sum().backward()
    assert torch.equal(bias.grad, torch.ones(3)) and torch.equal(h.grad, torch.ones(3, 10))


def test_missing_package_gives_a_reason():
    found = flashfftconv.import_flashfftconv()
    if not isinstance(found, str):
        pytest.skip("flashfftconv is installed here")
    assert "not installed" in found or "failed to import" in found
    spec = registry.get("hyena-flashfftconv")
    assert not spec.available("cpu")


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (Config(dtype="fp32"), "fp16 or bf16"),
        (Config(dtype="fp16", seqlen=1001), "even L"),
        (Config(dtype="fp16", seqlen=1000 - 2), "multiple of 4"),  # FFT size 2048
        (Config(dtype="fp16", seqlen=32768, d_model=100), "multiple of 16"),
        (Config(dtype="bf16", seqlen=4 * 1024 * 1024), "goes up to"),
    ],
)
def test_limits_follow_the_packages_rules(config, words):
    assert words in flashfftconv.limits(config, torch.device("cuda"))


def test_limits_pass_the_paper_setting():
    for n in (1024, 8192, 65536):
        config = Config(batch=64, seqlen=n, d_model=768, dtype="fp16", level="layer")
        assert flashfftconv.limits(config, torch.device("cuda")) is None
    assert [flashfftconv.fft_size(n) for n in (1, 128, 129, 1024)] == [256, 256, 512, 2048]


@pytest.mark.gpu
def test_package_on_gpu_matches_reference():
    from operators.verify import verify

    spec = registry.get("hyena-flashfftconv")
    if not spec.available("cuda"):
        pytest.skip(spec.available("cuda").reason)
    for level in ("core", "layer"):
        config = Config(batch=2, seqlen=256, d_model=64, heads=4, dtype="fp16", level=level)
        assert verify(spec.build(config, "cuda")).passed
