"""A report from a REAL run: `hyena-bench run --preset smoke` (the session's shared smoke run),
then `hyena-bench report` on it, as a user would on a CPU-only machine."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from bench import store
from bench.cli import build_parser
from bench.errors import UsageError
from tests.conftest import run_cli

VERDICTS = {"reproduced", "not reproduced", "inconclusive", "not measurable here"}


def has_run_command() -> bool:
    try:
        build_parser().parse_args(["run", "--preset", "smoke"])
    except UsageError:
        return False
    return True


@pytest.mark.skipif(not has_run_command(), reason="`hyena-bench run` is not available")
def test_report_from_a_real_smoke_run(request, tmp_path):
    smoke = request.getfixturevalue("smoke_run")
    proc = run_cli("report", str(smoke), "--out", str(tmp_path / "report"))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "report"
    rows = store.read_rows(smoke)
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == len(rows)
    assert set(summary["impl"]) == {r["op"] for r in rows}
    claims = pd.read_csv(out / "claims.csv")
    assert set(claims["claim"]) == {"A", "B", "B-flash"}
    assert set(claims["verdict"]) <= VERDICTS
    if all(r["device"] == "cpu" for r in rows):
        flash = claims[claims["claim"].isin(["A", "B-flash"])]
        assert set(flash["reason"]) == {"no FlashAttention on a CPU"}
    md = (out / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links and all((out / link).exists() for link in links)
    assert any(link.endswith("-roofline.png") for link in links), "the roofline of a CPU run"
    assert "Speedup at equal efficiency" in md and "Ceilings measured at the start" in md
    html = (out / "report.html").read_text()
    assert len(re.findall(r"<img src='data:image/png;base64,", html)) == len(links)
