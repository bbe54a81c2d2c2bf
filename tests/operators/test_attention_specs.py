"""What operators.attention registers for torch SDPA's backends and the flash-attn packages: the
name, the layout its inputs are drawn in, the kernel it builds, the reference it is checked
against, its availability checks and its issued FLOPs. The registration functions run again here
into an empty table (`fresh_table`), so what is checked is what they do, not only what they did
when the module was imported. The flash-attn packages are stood in for by a float64 causal
attention written with torch's own SDPA (never this project's code)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from operators import attention, registry
from operators.config import Config
from operators.verify import verify

CPU = torch.device("cpu")
CORE = Config(batch=2, seqlen=9, d_model=16, heads=2, level="core")
EVERY_SCORE = 4 * CORE.batch * CORE.seqlen**2 * CORE.d_model  # QK^T and PV over all L² pairs


@pytest.mark.parametrize("short", list(attention.SDPA_BACKENDS))
def test_sdpa_registration(fresh_table, short):
    backend = attention.SDPA_BACKENDS[short]
    attention._sdpa_spec(short)
    spec = registry.get(f"attention-sdpa-{short}")
    assert list(fresh_table) == [spec.name] and spec.family == "attention"
    assert f"SDPBackend.{backend.name}" in spec.detail and "never falls back" in spec.detail
    materialised = backend == attention.SDPBackend.MATH
    assert spec.issued_flops(CORE) == (EVERY_SCORE if materialised else EVERY_SCORE / 2)
    assert spec.flops(CORE) == EVERY_SCORE / 2
    assert spec.bytes(CORE) == 4 * CORE.batch * CORE.seqlen * CORE.d_model * 4  # q, k, v, o
    if short in ("math", "flash"):  # the two backends that run on a CPU
        assert spec.probe(CPU) is None
        case = spec.build(CORE, CPU, stages=True)
        assert case.module.stages is True
        assert case.inputs[0].shape == (2, 2, 9, 8), "(batch, heads, length, head dim)"
        assert verify(case).passed
    else:
        assert f"torch SDPA {backend.name} cannot run on cpu" in spec.probe(CPU)


def test_sdpa_availability_is_probed_in_the_dtype_and_head_dim_that_run(fresh_table, monkeypatch):
    """The device-level probe asks about fp16 on CUDA (what the GPU sweeps run), fp32 on a CPU,
    at head dim 64; the per-config check asks about the config's own dtype and head dim."""
    asked = []
    monkeypatch.setattr(attention, "sdpa_probe", lambda *args: asked.append(args))
    attention._sdpa_spec("efficient")
    spec = registry.get("attention-sdpa-efficient")
    spec.probe(CPU)
    spec.probe(torch.device("cuda"))
    spec.limits(CORE.replace(dtype="bf16"), CPU)
    efficient = attention.SDPBackend.EFFICIENT_ATTENTION
    assert asked == [
        (efficient, CPU, torch.float32, 64),
        (efficient, torch.device("cuda"), torch.float16, 64),
        (efficient, CPU, torch.bfloat16, 8),
    ]


def stand_in_flash(calls: list) -> object:
    """flash-attn's interface, (B, L, H, Dh) in and out, computed by torch's SDPA in float64."""

    def flash_attn_func(q, k, v, softmax_scale, causal):
        calls.append((softmax_scale, causal))
        q, k, v = (x.double().transpose(1, 2) for x in (q, k, v))
        o = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=softmax_scale)
        return o.transpose(1, 2).float(), None  # flash-attn 3/4 return (out, softmax_lse)

    return flash_attn_func


@pytest.mark.parametrize("name", list(attention.FLASH_PACKAGES))
def test_flash_registration_without_the_package(fresh_table, name):
    module, attr, sm = attention.FLASH_PACKAGES[name]
    attention._flash_spec(name)
    spec = registry.get(name)
    assert list(fresh_table) == [name] and spec.family == "attention"
    assert spec.requires == ("cuda", sm)
    assert spec.detail.startswith(f"{module}.{attr}(causal=True)")
    assert spec.issued_flops(CORE) == EVERY_SCORE / 2
    assert spec.flops(CORE) == EVERY_SCORE / 2
    assert "fp16 or bf16" in spec.limits(CORE, CPU)
    assert spec.probe(CPU).startswith(f"{module} is not installed")
    with pytest.raises(RuntimeError, match=f"{module} is not installed"):
        spec.build(CORE.replace(dtype="fp16"), CPU)


@pytest.mark.parametrize("level", ["core", "layer"])
def test_flash_registration_with_a_stand_in_package(fresh_table, monkeypatch, level):
    """The kernel gets (B, L, H, Dh) inputs, the explicit scale and causal=True; the core's
    reference reads that layout too, and the layer's output is the float64 reference's."""
    calls, imports = [], []

    def import_flash(module, attr):
        imports.append((module, attr))
        return stand_in_flash(calls)

    monkeypatch.setattr(attention, "import_flash", import_flash)
    attention._flash_spec("flash-attn2")
    spec = registry.get("flash-attn2")
    assert spec.probe(CPU) is None
    config = CORE.replace(level=level, seqlen=11)
    case = spec.build(config, CPU)
    assert case.module.stages is False, "stages are off unless asked for"
    if level == "core":
        assert [x.shape for x in case.inputs] == [(2, 11, 2, 8)] * 3, "(B, L, H, Dh)"
    result = verify(case)
    assert result.passed, result.max_rel_err
    assert calls == [(1 / math.sqrt(8), True)]
    assert set(imports) == {("flash_attn", "flash_attn_func")}, "the probe's and the kernel's"


def test_core_reference_in_the_flash_layout_is_per_head_causal_softmax():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 7, 3, 4, generator=g, dtype=torch.float64) for _ in range(3))
    out = attention.core_reference(attention.BLHD)(None, q, k, v)
    expected = torch.empty_like(q)
    for t in range(7):  # query t of every batch row and head against keys 0..t
        scores = torch.einsum("bhd,bshd->bhs", q[:, t], k[:, : t + 1]) / 2.0  # sqrt(Dh) = 2
        expected[:, t] = torch.einsum("bhs,bshd->bhd", torch.softmax(scores, -1), v[:, : t + 1])
    torch.testing.assert_close(out, expected)


def test_flash_adapter_passes_a_plain_tensor_through():
    """flash-attn 2 returns the output alone, not a tuple."""
    q = torch.randn(1, 5, 2, 8)

    def flash2(q, k, v, softmax_scale, causal):
        return q * 2

    torch.testing.assert_close(attention.flash_attention(flash2)(q, q, q), q * 2)


def test_flash_head_dim_limit_is_inclusive():
    at_limit = CORE.replace(dtype="fp16", d_model=2 * attention.FLASH_MAX_HEAD_DIM)
    assert attention.flash_limits(at_limit, CPU) is None
    assert "head dim 264" in attention.flash_limits(at_limit.replace(d_model=2 * 264), CPU)
    assert "head dim 12" in attention.flash_limits(at_limit.replace(d_model=24), CPU)


@pytest.mark.parametrize("level", ["core", "layer"])
@pytest.mark.parametrize("mode", ["fwd", "fwd_bwd"])
def test_cases_are_seeded_and_the_output_gradient_is_a_constant(level, mode):
    """Same config, same inputs (family members and reruns see one problem); the output
    gradient exists in fwd_bwd only and is itself no leaf of the graph."""
    spec = registry.get("attention-dense")
    config = CORE.replace(level=level, mode=mode)
    one, two = spec.build(config, CPU), spec.build(config, CPU)
    for a, b in zip(one.inputs, two.inputs, strict=True):
        assert torch.equal(a, b) and a.requires_grad == (mode == "fwd_bwd")
    if mode == "fwd":
        assert one.grad_output is None
    else:
        assert torch.equal(one.grad_output, two.grad_output)
        assert not one.grad_output.requires_grad
        assert one.grad_output.shape == one.forward().shape


def test_stages_are_off_unless_asked_for():
    """Profiler ranges cost time in a timed call: only `run --stages` and `profile` ask."""
    dense = attention.dense_attention
    assert attention.AttentionCore(dense).stages is False
    assert attention.AttentionLayer(16, 2, dense, attention.BHLD).stages is False
    for level in ("core", "layer"):
        case = attention.build_case(dense, attention.BHLD, CORE.replace(level=level), CPU)
        assert case.module.stages is False


@pytest.mark.gpu
@pytest.mark.parametrize("level", ["core", "layer"])
def test_cases_are_built_on_the_device_asked_for(level):
    """On a CPU-only machine a dropped device argument (None: the CPU) cannot be seen."""
    case = registry.get("attention-dense").build(CORE.replace(level=level, mode="fwd_bwd"), "cuda")
    tensors = [*case.inputs, case.grad_output, *case.module.parameters()]
    assert all(t.device.type == "cuda" for t in tensors)
    assert case.forward().device.type == "cuda"
