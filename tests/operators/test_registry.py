"""The plugin table: registration rules, selection, availability reasons, entry-point plugins."""

import json

import pytest
import torch

from operators import counts, registry
from operators.registry import OperatorSpec
from tests.conftest import run_cli

REQUIRED = [
    "attention-dense",
    "attention-sdpa-math",
    "attention-sdpa-efficient",
    "attention-sdpa-flash",
    "attention-sdpa-cudnn",
    "flash-attn2",
    "flash-attn3",
    "flash-attn4",
    "hyena-naive",
    "hyena-fft",
]


def spec(name, family="hyena"):
    return OperatorSpec(
        name=name,
        family=family,
        build=lambda *a, **k: None,
        flops=counts.hyena_flops,
        bytes=counts.hyena_bytes,
        detail="test",
    )


def test_builtin_implementations_are_registered():
    names = [s.name for s in registry.specs()]
    assert set(REQUIRED) <= set(names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("bad", ["Hyena-X", "hyena x", "hyena_x"])
def test_names_are_lower_case_with_dashes(bad):
    with pytest.raises(ValueError, match="lower-case"):
        registry.register(spec(bad))


def test_duplicates_and_unknown_families_are_refused():
    with pytest.raises(ValueError, match="already registered"):
        registry.register(spec("hyena-fft"))
    with pytest.raises(ValueError, match="unknown family"):
        registry.register(spec("conv-x", family="conv"))


def test_get_and_select():
    assert registry.get("hyena-fft").family == "hyena"
    with pytest.raises(KeyError, match="unknown operator 'nope'"):
        registry.get("nope")
    assert {s.family for s in registry.select(families=["attention"])} == {"attention"}
    assert [s.name for s in registry.select(ops=["hyena-fft", "attention-dense"])] == [
        "hyena-fft",
        "attention-dense",
    ]
    with pytest.raises(KeyError, match="unknown family"):
        registry.select(families=["conv"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the reasons given on a CPU machine")
def test_cuda_only_implementations_say_why_not_here():
    for name in ("flash-attn2", "flash-attn3", "flash-attn4", "attention-sdpa-cudnn"):
        availability = registry.get(name).available("cpu")
        assert not availability and availability.reason
    assert "CUDA" in registry.get("flash-attn2").available("cpu").reason
    assert registry.get("hyena-fft").available("cpu")


def test_supports_explains_invalid_configs():
    from operators.config import Config

    fft = registry.get("hyena-fft")
    assert "divisible" in fft.supports(Config(d_model=10, heads=3), "cpu")
    assert "seqlen must be positive" in fft.supports(Config(seqlen=0), "cpu")
    assert fft.supports(Config(seqlen=64, d_model=16, heads=2), "cpu") is None


def test_entry_point_plugin_is_discovered(plugin_env):
    proc = run_cli("list", "--json", "--device", "cpu", env=plugin_env, check=True)
    ops = {o["name"]: o for o in json.loads(proc.stdout)["operators"]}
    assert ops["plugin-fft"]["available"] and ops["plugin-fft"]["source"] == "hyena-bench-testops"
    assert set(REQUIRED) <= set(ops)
