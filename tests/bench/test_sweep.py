"""Sweep specifications: length parsing, presets, task order and sharding."""

import pytest

from bench.runner import plan
from bench.sweep import PRESETS, Sweep, find_preset, parse_seqlens, validate
from operators import registry


def test_parse_seqlens_ranges_lists_and_suffixes():
    assert parse_seqlens("1k..8k") == (1024, 2048, 4096, 8192)
    assert parse_seqlens("1024,3000,2k") == (1024, 2048, 3000)
    assert parse_seqlens("256,1k..2k") == (256, 1024, 2048)
    assert parse_seqlens("17") == (17,)


@pytest.mark.parametrize("bad", ["", "abc", "1k..", "8k..1k", "0", "-5", "1,,2", "1x"])
def test_malformed_seqlens_raise_one_line(bad):
    with pytest.raises(ValueError) as err:
        parse_seqlens(bad)
    assert "\n" not in str(err.value)


def test_presets_are_valid_on_both_devices():
    for preset in PRESETS.values():
        for device in ("cpu", "cuda"):
            validate(preset.for_device(device))
    paper = PRESETS["paper"].gpu.base
    assert (paper.batch, paper.d_model, paper.heads, paper.dtype, paper.level) == (
        64,
        768,
        12,
        "fp16",
        "layer",
    )
    assert PRESETS["paper"].gpu.seqlens[0] == 1024 and PRESETS["paper"].gpu.seqlens[-1] == 65536
    assert PRESETS["paper-b1"].gpu.base.batch == 1
    longconv = PRESETS["longconv"].gpu
    assert longconv.base.level == "core" and longconv.seqlens[-1] > 65536
    assert {"hyena-fused", "hyena-flashfftconv"} <= set(PRESETS["paper"].gpu.ops)
    for preset in PRESETS.values():  # every named implementation is registered, at its level
        for sweep in (preset.cpu, preset.gpu):
            for spec in map(registry.get, sweep.ops):
                assert sweep.base.level in spec.levels, (preset.name, spec.name)


def test_plan_orders_lengths_ascending_and_shards_partition_the_sweep():
    sweep = Sweep(seqlens=(256, 512, 1024), ops=("hyena-fft", "attention-dense"))
    tasks = plan(sweep)
    assert [(t.op, t.config.seqlen) for t in tasks[:2]] == [
        ("hyena-fft", 256),
        ("attention-dense", 256),
    ]
    assert [t.config.seqlen for t in tasks] == sorted(t.config.seqlen for t in tasks)
    shards = [plan(sweep, (k, 3)) for k in (1, 2, 3)]
    merged = [(t.op, t.config) for shard in shards for t in shard]
    assert sorted(map(repr, merged)) == sorted(repr((t.op, t.config)) for t in tasks)
    assert plan(sweep, (2, 3)) == shards[1], "shards are deterministic"


def test_a_sweep_is_a_base_config_plus_lengths():
    sweep = Sweep(seqlens=(256, 512)).replace(d_model=64, heads=4, dtype="fp16", max_call_ms=9.0)
    assert [c.seqlen for c in sweep.configs()] == [256, 512]
    assert {c.replace(seqlen=0) for c in sweep.configs()} == {sweep.base.replace(seqlen=0)}
    assert (sweep.base.d_model, sweep.base.dtype, sweep.max_call_ms) == (64, "fp16", 9.0)
    flat = sweep.as_dict()
    assert flat["seqlens"] == [256, 512] and flat["d_model"] == 64 and "seqlen" not in flat
    with pytest.raises(ValueError, match="unknown dtype 'fp8'"):
        sweep.replace(dtype="fp8")


def test_unknown_preset_suggests_the_nearest():
    with pytest.raises(ValueError, match="did you mean paper-b1"):
        find_preset("paper_b1")
