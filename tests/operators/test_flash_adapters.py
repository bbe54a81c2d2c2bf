"""flash-attn adapters: argument handling without the package, guarded imports, limits."""

import math

import pytest
import torch

from operators import attention, reference
from operators.attention import flash_attention, flash_limits, import_flash
from operators.config import Config


def test_adapter_passes_blhd_inputs_causal_and_scale_and_unpacks_tuples():
    calls = []

    def fake_flash(q, k, v, softmax_scale, causal):  # flash-attn 3/4 return (out, lse)
        calls.append((q.shape, softmax_scale, causal))
        o = reference.causal_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return o.transpose(1, 2).to(q.dtype), None

    q = torch.randn(2, 10, 3, 8)  # (B, L, H, Dh)
    out = flash_attention(fake_flash)(q, q, q)
    assert calls == [((2, 10, 3, 8), 1 / math.sqrt(8), True)]
    assert out.shape == q.shape
    layer = attention.AttentionLayer(24, 3, flash_attention(fake_flash), attention.BLHD)
    ref = attention.AttentionLayer(24, 3, attention.dense_attention, attention.BHLD)
    ref.load_state_dict(layer.state_dict())
    x = torch.randn(2, 10, 24)
    torch.testing.assert_close(layer(x), ref(x), rtol=1e-4, atol=1e-5)


def test_missing_packages_give_a_reason():
    result = import_flash("surely_not_a_flash_package", "flash_attn_func")
    assert isinstance(result, str) and "not installed" in result


def test_limits_on_dtype_and_head_dim():
    assert "fp16 or bf16" in flash_limits(Config(dtype="fp32"), torch.device("cuda"))
    assert "head dim" in flash_limits(Config(dtype="fp16", d_model=1024, heads=2), "cuda")
    assert flash_limits(Config(dtype="bf16"), "cuda") is None


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["flash-attn2", "flash-attn3", "flash-attn4"])
def test_flash_attn_on_gpu_matches_reference(name):
    from operators import registry
    from operators.verify import verify

    spec = registry.get(name)
    if not spec.available("cuda"):
        pytest.skip(spec.available("cuda").reason)
    config = Config(batch=2, seqlen=256, d_model=128, heads=2, dtype="fp16", level="core")
    assert verify(spec.build(config, "cuda")).passed
