"""Which series a speedup is measured against (reports/selection.py), on small hand-made groups
whose answer is known: every branch of the baseline's fallback chain, the exact labels and notes
a reader sees, and the fastest row per length among ok rows with a latency.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reports import selection
from reports.selection import Choice


def group(*rows: tuple, device: str = "cuda") -> pd.DataFrame:
    """Rows of (op, seqlen, median ms[, status[, impl]]); the family follows the op's name."""
    records = []
    for r in rows:
        op, seqlen, median, status, impl = (*r, "ok", None)[:5] if len(r) == 3 else (*r, None)[:5]
        records.append(
            {
                "op": op,
                "impl": impl or op,
                "family": "hyena" if op.startswith("hyena") else "attention",
                "device": device,
                "seqlen": seqlen,
                "status": status,
                "latency_ms_median": median if status == "ok" else None,
            }
        )
    return pd.DataFrame(records)


def test_ok_rows_by_op_and_by_family():
    g = group(
        ("flash-attn3", 1024, 1.0),
        ("flash-attn2", 1024, 2.0),
        ("flash-attn2", 2048, 3.0),
        ("flash-attn4", 1024, None, "oom"),
        ("hyena-fft", 1024, 1.0),
        ("hyena-naive", 1024, None, "error"),
    )
    assert selection.impls_with_ok_rows(g) == ("flash-attn2", "flash-attn3", "hyena-fft")
    ops = ("flash-attn2", "flash-attn4")
    assert selection.impls_with_ok_rows(g, ops) == ("flash-attn2",)
    assert selection.impls_with_ok_rows(g, family="hyena") == ("hyena-fft",)
    assert selection.impls_with_ok_rows(g, ("hyena-fft",), family="attention") == ()


def test_on_cpu_only_when_every_row_is_on_the_cpu():
    assert selection.on_cpu(group(("hyena-fft", 1024, 1.0), device="cpu"))
    mixed = pd.concat(
        [group(("hyena-fft", 1024, 1.0), device="cpu"), group(("hyena-fft", 1024, 1.0))]
    )
    assert not selection.on_cpu(mixed)
    assert selection.on_cpu(mixed) is False


def test_flash_attention_packages_before_the_sdpa_standins():
    g = group(
        ("flash-attn3", 1024, 1.0),
        ("flash-attn2", 1024, 2.0),
        ("attention-sdpa-flash", 1024, 0.5),
    )
    assert selection.flash_attention(g) == Choice(
        ("flash-attn2", "flash-attn3"), "fastest FlashAttention (flash-attn2, flash-attn3)"
    )
    standins = group(
        ("attention-sdpa-cudnn", 1024, 1.0),
        ("attention-sdpa-flash", 1024, 2.0),
        ("attention-sdpa-math", 1024, 0.5),
    )
    assert selection.flash_attention(standins) == Choice(
        ("attention-sdpa-cudnn", "attention-sdpa-flash"),
        "fastest SDPA flash/cuDNN (attention-sdpa-cudnn, attention-sdpa-flash)",
        note=selection.STANDIN_NOTE,
    )
    none = group(("attention-sdpa-math", 1024, 0.5))
    assert selection.flash_attention(none) == Choice(
        (), "FlashAttention", reason="no FlashAttention results in the run"
    )
    cpu = group(("flash-attn2", 1024, 2.0), device="cpu")
    assert selection.flash_attention(cpu) == Choice(
        (), "FlashAttention", reason=selection.NO_FLASH_ON_CPU
    )


def test_sdpa_named_and_hyena_choices():
    g = group(
        ("attention-sdpa-math", 1024, 1.0),
        ("attention-sdpa-flash", 1024, None, "oom"),
        ("attention-sdpa-efficient", 1024, 2.0),
        ("attention-dense", 1024, None, "error"),
        ("hyena-fft", 1024, 1.0),
    )
    assert selection.sdpa(g) == Choice(
        ("attention-sdpa-efficient", "attention-sdpa-math"),
        "fastest SDPA backend (attention-sdpa-efficient, attention-sdpa-math)",
    )
    no_sdpa = group(("hyena-fft", 1024, 1.0))
    assert selection.sdpa(no_sdpa).impls == ()
    assert selection.sdpa(no_sdpa).reason == "no SDPA results in the run"
    # A named op counts whatever its status (a failure is explained, not hidden).
    two = group(
        ("attention-dense", 1024, 1.0, "ok", "b"), ("attention-dense", 2048, 1.0, "ok", "a")
    )
    assert selection.named(two, "attention-dense") == Choice(("a", "b"), "attention-dense")
    assert selection.named(g, "attention-dense") == Choice(("attention-dense",), "attention-dense")
    assert selection.named(g, "flash-attn2") == Choice(
        (), "flash-attn2", reason="flash-attn2 not in the run"
    )
    assert selection.hyena(g) == Choice(("hyena-fft",), "fastest Hyena (hyena-fft)")
    failed = selection.hyena(no_sdpa.assign(status="error"))
    assert (failed.impls, failed.reason) == ((), "no Hyena results in the run")


def test_default_baseline_falls_back_in_order_and_says_why():
    flash = group(("flash-attn2", 1024, 2.0), ("attention-sdpa-math", 1024, 1.0))
    assert selection.default_baseline(flash).impls == ("flash-attn2",)

    sdpa = group(("attention-sdpa-math", 1024, 1.0), ("attention-dense", 1024, 0.5))
    assert selection.default_baseline(sdpa) == Choice(
        ("attention-sdpa-math",),
        "fastest SDPA backend (attention-sdpa-math)",
        note="no FlashAttention results in the run: baseline is the fastest SDPA backend "
        "(attention-sdpa-math)",
    )
    on_cpu = group(("attention-sdpa-flash", 1024, 1.0), device="cpu")
    assert selection.default_baseline(on_cpu) == Choice(
        ("attention-sdpa-flash",),
        "fastest SDPA backend (attention-sdpa-flash)",
        note=selection.CPU_NOTE,
    )
    dense = group(("attention-dense", 1024, 0.5), ("hyena-fft", 1024, 1.0))
    assert selection.default_baseline(dense) == Choice(
        ("attention-dense",),
        "attention-dense",
        note="no FlashAttention results in the run: baseline is the attention-dense",
    )
    nothing = group(("hyena-fft", 1024, 1.0))
    assert selection.default_baseline(nothing) == Choice(
        (), "attention", reason="no attention results in this group"
    )


def test_resolve_reads_the_spec():
    g = group(("hyena-fft", 1024, 1.0), ("flash-attn2", 1024, 2.0), ("attention-dense", 1024, 3.0))
    assert selection.resolve(g, selection.FASTEST_HYENA) == selection.hyena(g)
    assert selection.resolve(g, selection.FASTEST_FLASH) == selection.flash_attention(g)
    assert selection.resolve(g, "attention-dense") == Choice(
        ("attention-dense",), "attention-dense"
    )


def test_fastest_is_the_quickest_ok_row_with_a_latency_at_each_length():
    g = group(
        ("flash-attn2", 2048, 4.0),
        ("flash-attn3", 2048, 3.0),
        ("flash-attn2", 1024, 1.0),
        ("flash-attn3", 1024, 2.0),
        ("flash-attn3", 4096, None, "oom"),
        ("flash-attn2", 4096, 9.0),
        ("attention-dense", 4096, 0.1),  # faster, but not among the candidates
    )
    # An ok row without a latency (a lost measurement) is no candidate either.
    g.loc[len(g)] = {**g.iloc[0].to_dict(), "seqlen": 8192, "latency_ms_median": math.nan}
    best = selection.fastest(g, ("flash-attn2", "flash-attn3"))
    assert list(best.index) == [1024, 2048, 4096]
    assert best.index.name == "seqlen"
    assert list(best["impl"]) == ["flash-attn2", "flash-attn3", "flash-attn2"]
    assert list(best["latency_ms_median"]) == [1.0, 3.0, 9.0]


def test_fastest_ties_go_to_the_first_row():
    g = group(("flash-attn3", 1024, 1.0), ("flash-attn2", 1024, 1.0))
    assert selection.fastest(g, ("flash-attn2", "flash-attn3"))["impl"].tolist() == ["flash-attn3"]
    assert selection.fastest(g, ()).empty


@pytest.mark.parametrize("status", ["oom", "error", "skipped"])
def test_fastest_ignores_a_failed_row_that_carries_a_latency(status):
    g = group(("flash-attn2", 1024, 5.0), ("flash-attn3", 1024, 1.0))
    g.loc[1, "status"] = status  # a failed row whose latency field was filled in anyway
    assert selection.fastest(g, ("flash-attn2", "flash-attn3"))["impl"].tolist() == ["flash-attn2"]


def test_fastest_ties_go_to_the_first_row_in_a_long_group():
    """numpy's default sort is stable only below 17 elements; a long group still breaks ties
    by row order (the rows are the file's order, so a rerun picks the same baseline)."""
    lat = np.random.default_rng(0).integers(0, 5, size=257).astype(float)
    g = pd.DataFrame(
        {
            "impl": [f"i{k:03d}" for k in range(lat.size)],
            "seqlen": 1024,
            "status": "ok",
            "latency_ms_median": lat,
        }
    )
    first = g["impl"][g["latency_ms_median"] == lat.min()].iloc[0]
    assert selection.fastest(g, tuple(g["impl"]))["impl"].tolist() == [first]


def test_labels_list_every_candidate():
    g = group(("hyena-fft", 1024, 1.0), ("hyena-naive", 1024, 2.0))
    assert selection.hyena(g).label == "fastest Hyena (hyena-fft, hyena-naive)"
