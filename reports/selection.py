"""Which implementations a speedup is measured against: the fastest FlashAttention (or what stands
in for it), the fastest torch SDPA backend, standard attention, or one named by the user.

A `Choice` is a set of candidate series; `fastest` picks, at each length, the quickest ok row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

FLASH_ATTN_PACKAGES = ("flash-attn2", "flash-attn3", "flash-attn4")
# On CUDA without flash-attn results, torch's own flash and cuDNN kernels stand in for it.
SDPA_FLASH_STANDINS = ("attention-sdpa-flash", "attention-sdpa-cudnn")
SDPA_PREFIX = "attention-sdpa-"
STANDARD_ATTENTION = "attention-dense"
FASTEST_HYENA = "fastest:hyena"
FASTEST_FLASH = "fastest:flash-attention"
NO_FLASH_ON_CPU = "no FlashAttention on a CPU"
STANDIN_NOTE = (
    "no flash-attn package results: the torch SDPA flash and cuDNN backends "
    "(attention-sdpa-flash, attention-sdpa-cudnn) stand in for FlashAttention"
)
CPU_NOTE = (
    f"{NO_FLASH_ON_CPU} (attention-sdpa-flash on a CPU is torch's CPU kernel, "
    "not FlashAttention): the baseline is the fastest torch SDPA backend"
)


@dataclass(frozen=True)
class Choice:
    """Candidate series (`impl` labels) and how to describe them; empty with a reason if none."""

    impls: tuple[str, ...]
    label: str
    note: str = ""
    reason: str = ""


def impls_with_ok_rows(
    group: pd.DataFrame, ops: tuple[str, ...] | None = None, family: str | None = None
) -> tuple[str, ...]:
    rows = group[group["status"] == "ok"]
    if ops is not None:
        rows = rows[rows["op"].isin(ops)]
    if family is not None:
        rows = rows[rows["family"] == family]
    return tuple(sorted(rows["impl"].unique()))


def on_cpu(group: pd.DataFrame) -> bool:
    return bool((group["device"] == "cpu").all())


def flash_attention(group: pd.DataFrame) -> Choice:
    """The flash-attn packages present in this group, else the SDPA stand-ins on CUDA."""
    if on_cpu(group):
        return Choice((), "FlashAttention", reason=NO_FLASH_ON_CPU)
    found = impls_with_ok_rows(group, FLASH_ATTN_PACKAGES)
    if found:
        return Choice(found, f"fastest FlashAttention ({', '.join(found)})")
    found = impls_with_ok_rows(group, SDPA_FLASH_STANDINS)
    if found:
        return Choice(found, f"fastest SDPA flash/cuDNN ({', '.join(found)})", note=STANDIN_NOTE)
    return Choice((), "FlashAttention", reason="no FlashAttention results in the run")


def sdpa(group: pd.DataFrame) -> Choice:
    ops = tuple(op for op in group["op"].unique() if str(op).startswith(SDPA_PREFIX))
    found = impls_with_ok_rows(group, ops)
    return Choice(
        found,
        f"fastest SDPA backend ({', '.join(found)})",
        reason="" if found else "no SDPA results in the run",
    )


def named(group: pd.DataFrame, op: str) -> Choice:
    found = tuple(sorted(group.loc[group["op"] == op, "impl"].unique()))
    return Choice(found, op, reason="" if found else f"{op} not in the run")


def hyena(group: pd.DataFrame) -> Choice:
    found = impls_with_ok_rows(group, family="hyena")
    return Choice(
        found,
        f"fastest Hyena ({', '.join(found)})",
        reason="" if found else "no Hyena results in the run",
    )


def default_baseline(group: pd.DataFrame) -> Choice:
    """Fastest FlashAttention, else the fastest SDPA backend, else standard attention."""
    choice = flash_attention(group)
    if choice.impls:
        return choice
    fallback = sdpa(group)
    if not fallback.impls:
        fallback = named(group, STANDARD_ATTENTION)
    if not fallback.impls:
        return Choice((), "attention", reason="no attention results in this group")
    note = CPU_NOTE if on_cpu(group) else f"{choice.reason}: baseline is the {fallback.label}"
    return Choice(fallback.impls, fallback.label, note=note, reason=fallback.reason)


def resolve(group: pd.DataFrame, spec: str) -> Choice:
    """A claim's subject or baseline: `fastest:hyena`, `fastest:flash-attention` or an op name."""
    if spec == FASTEST_HYENA:
        return hyena(group)
    if spec == FASTEST_FLASH:
        return flash_attention(group)
    return named(group, spec)


def fastest(group: pd.DataFrame, impls: tuple[str, ...]) -> pd.DataFrame:
    """Per seqlen, the ok row with the lowest median latency among `impls` (indexed by seqlen)."""
    rows = group[group["impl"].isin(impls) & (group["status"] == "ok")]
    rows = rows.dropna(subset=["latency_ms_median"])
    best = rows.sort_values("latency_ms_median", kind="stable").groupby("seqlen").head(1)
    return best.set_index("seqlen").sort_index()
