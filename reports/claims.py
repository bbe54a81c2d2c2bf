"""Verdicts on the Hyena paper's speed claims (claims.toml): the measured speedup at the claimed
length with a bootstrap confidence interval, compared with the claimed threshold.

Claims are evaluated on layer-level forward rows (the paper's setup), separately for each
(device, batch, d_model, dtype) present; the paper's own Figure 4.3 ratios are reported beside them.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reports import selection
from reports.stats import bootstrap_ratio
from reports.tables import length_label

CLAIMS_FILE = Path(__file__).with_name("claims.toml")
CLAIM_LEVEL, CLAIM_MODE = "layer", "fwd"  # the paper times the layer, forward (Section 4.4)
CLAIM_GROUP = ("device_label", "batch", "d_model", "dtype")
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
NOT_MEASURABLE = "not measurable here"
PAPER_OOM = "oom"
# The reason the runner gives a row it skips after an OOM at a shorter length.
SKIPPED_AFTER_OOM = re.compile(r"ran out of memory at L=(\d+)")


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    source: str
    seqlen: int
    subject: str
    baseline: str
    threshold: float
    paper_subject: str
    paper_baseline: str


@dataclass(frozen=True)
class Figure:
    """The paper's Figure 4.3 series (ms; None where out of memory) and where they come from."""

    caption: str
    source: str
    batch: int
    gpu: str
    label: str
    seqlen: tuple[int, ...]
    series: dict[str, tuple[float | None, ...]]
    names: dict[str, str]

    def ms(self, name: str, seqlen: int) -> float | None:
        return self.series[name][self.seqlen.index(seqlen)] if seqlen in self.seqlen else None

    def ratio(self, baseline: str, subject: str, seqlen: int) -> float | None:
        base, subj = self.ms(baseline, seqlen), self.ms(subject, seqlen)
        return None if base is None or subj is None else base / subj


@dataclass(frozen=True)
class Paper:
    meta: dict[str, Any]
    claims: tuple[Claim, ...]
    figure: Figure


def load_paper(path: Path = CLAIMS_FILE) -> Paper:
    data = tomllib.loads(path.read_text())
    fig = data["figure_4_3"]
    series = {
        name: tuple(None if v == PAPER_OOM else float(v) for v in values)
        for name, values in fig["series"].items()
    }
    figure = Figure(
        fig["caption"],
        fig["source"],
        fig["batch"],
        fig["gpu"],
        fig["label"],
        tuple(fig["seqlen"]),
        series,
        dict(fig["names"]),
    )
    return Paper(data["paper"], tuple(Claim(**c) for c in data["claim"]), figure)


@dataclass(frozen=True)
class Verdict:
    """One claim judged on one group of rows."""

    claim: str
    device_label: str | None
    batch: int | None
    d_model: int | None
    dtype: str | None
    seqlen: int
    threshold: float
    verdict: str
    reason: str = ""
    subject: str = ""
    baseline: str = ""
    speedup: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    note: str = ""
    paper: str = ""


def decide(low: float, high: float, threshold: float) -> str:
    if low >= threshold:
        return REPRODUCED
    if high < threshold:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def paper_text(figure: Figure, claim: Claim) -> str:
    """The same comparison in the paper's Figure 4.3 data."""
    if claim.seqlen not in figure.seqlen:
        return "not in Fig. 4.3"
    ratio = figure.ratio(claim.paper_baseline, claim.paper_subject, claim.seqlen)
    if ratio is not None:
        return f"{ratio:.1f}×"
    missing = [
        figure.names[s]
        for s in (claim.paper_baseline, claim.paper_subject)
        if figure.ms(s, claim.seqlen) is None
    ]
    return f"{' and '.join(missing)} out of memory in Fig. 4.3"


def spec_ops(group: pd.DataFrame, spec: str) -> set[str]:
    """Every op a subject/baseline spec could mean, ok or not (to explain a failure)."""
    if spec == selection.FASTEST_HYENA:
        return set(group.loc[group["family"] == "hyena", "op"])
    if spec == selection.FASTEST_FLASH:
        return {*selection.FLASH_ATTN_PACKAGES, *selection.SDPA_FLASH_STANDINS}
    return {spec}


def out_of_memory_from(row: Any) -> int | None:
    """The length at which the row's implementation ran out of memory: its own, or the one its
    skip names (the runner skips longer lengths after an OOM: bench/runner.py)."""
    if row.status == "oom":
        return int(row.seqlen)
    found = SKIPPED_AFTER_OOM.search(str(row.reason or "")) if row.status == "skipped" else None
    return int(found[1]) if found else None


def failure(rows: pd.DataFrame, role: str, label: str, seqlen: int) -> str:
    """Why no ok row of `label` exists at `seqlen`."""
    if rows.empty:
        return f"{role} {label} not in the run at {length_label(seqlen)}"
    oom_from = [out_of_memory_from(r) for r in rows.itertuples()]
    if all(n is not None for n in oom_from):
        causes = ", ".join(
            f"{r.impl}: oom" if n == r.seqlen else f"{r.impl}: out of memory from {length_label(n)}"
            for r, n in zip(rows.itertuples(), oom_from, strict=True)
        )
        return f"{role} out of memory at {length_label(seqlen)} ({causes})"
    statuses = ", ".join(f"{r.impl}: {r.status}" for r in rows.itertuples())
    return f"{role} failed at {length_label(seqlen)} ({statuses})"


def pick(
    group: pd.DataFrame, spec: str, role: str, seqlen: int
) -> tuple[pd.Series | None, str, str]:
    """The fastest ok row for spec at seqlen, or None with the reason; plus the choice's note."""
    choice = selection.resolve(group, spec)
    if not choice.impls and choice.reason == selection.NO_FLASH_ON_CPU:
        return None, choice.reason, ""
    best = selection.fastest(group, choice.impls)
    if seqlen in best.index:
        return best.loc[seqlen], "", choice.note
    at = group[group["seqlen"] == seqlen]
    mask = at["impl"].isin(choice.impls) if choice.impls else at["op"].isin(spec_ops(group, spec))
    return None, failure(at[mask], role, choice.label, seqlen), choice.note


def samples(row: pd.Series) -> list[float]:
    values = row.get("samples_ms")  # a float64 array once loaded (bench.record)
    if isinstance(values, (list, tuple, np.ndarray)) and len(values):
        return [float(v) for v in values]
    return [float(row["latency_ms_median"])]


def judge(group: pd.DataFrame, claim: Claim, key: dict[str, Any], paper: str) -> Verdict:
    base = {
        **key,
        "claim": claim.id,
        "seqlen": claim.seqlen,
        "threshold": claim.threshold,
        "paper": paper,
    }
    baseline, why, note = pick(group, claim.baseline, "baseline", claim.seqlen)
    if why == selection.NO_FLASH_ON_CPU:
        return Verdict(**base, verdict=NOT_MEASURABLE, reason=why)
    if not (group["seqlen"] == claim.seqlen).any():
        return Verdict(
            **base,
            verdict=NOT_MEASURABLE,
            reason=f"length {length_label(claim.seqlen)} not in the run",
        )
    subject, subject_why, _ = pick(group, claim.subject, "subject", claim.seqlen)
    if subject is None or baseline is None:
        return Verdict(**base, verdict=NOT_MEASURABLE, reason=subject_why or why, note=note)
    ratio = bootstrap_ratio(samples(baseline), samples(subject))
    return Verdict(
        **base,
        verdict=decide(ratio.low, ratio.high, claim.threshold),
        subject=subject["impl"],
        baseline=baseline["impl"],
        speedup=ratio.value,
        ci_low=ratio.low,
        ci_high=ratio.high,
        note=note,
    )


def evaluate(frame: pd.DataFrame, paper: Paper) -> list[Verdict]:
    """Every claim on every (device, batch, d_model, dtype) group of layer-level forward rows."""
    rows = frame[(frame["level"] == CLAIM_LEVEL) & (frame["mode"] == CLAIM_MODE)]
    verdicts = []
    for claim in paper.claims:
        text = paper_text(paper.figure, claim)
        if rows.empty:
            empty = dict.fromkeys(CLAIM_GROUP)
            verdicts.append(
                Verdict(
                    **empty,
                    claim=claim.id,
                    seqlen=claim.seqlen,
                    threshold=claim.threshold,
                    verdict=NOT_MEASURABLE,
                    reason="no layer-level forward rows in the run",
                    paper=text,
                )
            )
            continue
        for values, group in rows.groupby(list(CLAIM_GROUP), sort=True):
            key = {
                k: (v.item() if hasattr(v, "item") else v)
                for k, v in zip(CLAIM_GROUP, values, strict=True)
            }
            verdicts.append(judge(group, claim, key, text))
    return verdicts


def verdict_frame(verdicts: list[Verdict]) -> pd.DataFrame:
    return pd.DataFrame([asdict(v) for v in verdicts])


def figure_findings(figure: Figure) -> list[str]:
    """What the paper's own Figure 4.3 data say about the abstract's 2x at 8k and 100x at 64k."""
    ratios = [
        (figure.ratio(base, "hyena", n), base, n)
        for base in ("flash_attention", "attention")
        for n in figure.seqlen
    ]
    measured = [r for r in ratios if r[0] is not None]
    top, top_base, top_n = max(measured)
    flash_8k = figure.ratio("flash_attention", "hyena", 8192)
    flash_64k = figure.ratio("flash_attention", "hyena", 65536)
    attn_8k = figure.ratio("attention", "hyena", 8192)
    oom = [length_label(n) for n in figure.seqlen if figure.ms("attention", n) is None]
    return [
        f"In the paper's Figure 4.3 data (batch {figure.batch}, GPU {figure.gpu}), Hyena is "
        f"{flash_8k:.1f}× faster than FlashAttention at 8k and {flash_64k:.1f}× at 64k, and "
        f"{attn_8k:.1f}× faster than attention at 8k; attention is out of memory at "
        f"{', '.join(oom)}.",
        f'The abstract\'s "100× at 64k" is not visible in the figure data: the largest ratio '
        f"there is {top:.1f}× (vs {figure.names[top_base]} at {length_label(top_n)}), and at 64k "
        f"it is {flash_64k:.1f}× against FlashAttention with standard attention out of memory.",
    ]


def figure_table(figure: Figure) -> pd.DataFrame:
    """The figure's series (ms) and Hyena's speedup over each attention series, by length."""
    columns = [length_label(n) for n in figure.seqlen]

    def fmt(value: float | None, unit: str = "") -> str:
        return "OOM" if value is None else f"{value:g}{unit}"

    table = {figure.names[name]: [fmt(v) for v in values] for name, values in figure.series.items()}
    for base in ("attention", "flash_attention"):
        ratios = [figure.ratio(base, "hyena", n) for n in figure.seqlen]
        table[f"Hyena speedup vs {figure.names[base]}"] = [
            "–" if r is None else f"{r:.1f}×" for r in ratios
        ]
    frame = pd.DataFrame.from_dict(table, orient="index", columns=columns)
    frame.index.name = "ms (Fig. 4.3)"
    return frame
