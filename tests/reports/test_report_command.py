"""`hyena-bench report` as a user runs it: bad input ends with one line and exit 2; runs from
different environments are refused unless allowed; shards merge; all outputs are written.

The bad-file cases run the real command in subprocesses (started together, to keep this quick);
the rest call the same entry point, `bench.cli.main`, in this process.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from tests.conftest import REPO, cli_env
from tests.reports.reports_testdata import H200_ENV, paper_rows, write_run

USAGE_EXIT = 2


def check_one_line(code: int, stderr: str, *fragments: str) -> None:
    assert code == USAGE_EXIT, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr  # one line, no traceback
    assert lines[0].startswith("hyena-bench: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def report(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["report", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def bad_runs(root: Path) -> dict[str, Path]:
    """One directory per kind of bad input."""
    schema = paper_rows()[:3]
    schema[1]["schema_version"] = 99
    corrupt = write_run(root / "corrupt", paper_rows()[:5])
    lines = (corrupt / "results.jsonl").read_text().splitlines(keepends=True)
    lines[2] = lines[2][: len(lines[2]) // 2] + "\n"
    (corrupt / "results.jsonl").write_text("".join(lines))
    (root / "empty").mkdir()
    return {
        "missing": root / "missing",
        "empty": root / "empty",
        "schema": write_run(root / "schema", schema),
        "corrupt": corrupt,
        "no_rows": write_run(root / "no_rows", []),
    }


@pytest.fixture(scope="module")
def bad_input(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int, str]]:
    """Run `python -m bench report DIR` on each bad directory, all at once."""
    runs = bad_runs(tmp_path_factory.mktemp("bad"))
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "bench", "report", str(path)],
            cwd=REPO,
            env=cli_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, path in runs.items()
    }
    return {
        name: (runs[name], proc.wait(timeout=300), proc.stderr.read())
        for name, proc in procs.items()
    }


def test_missing_directory(bad_input):
    path, code, err = bad_input["missing"]
    check_one_line(code, err, str(path), "no such results directory")


def test_empty_directory(bad_input):
    path, code, err = bad_input["empty"]
    check_one_line(code, err, str(path / "results.jsonl"), "missing")


def test_results_file_without_rows(bad_input):
    path, code, err = bad_input["no_rows"]
    check_one_line(code, err, str(path / "results.jsonl"), "no result rows")


def test_newer_schema_names_file_and_line(bad_input):
    path, code, err = bad_input["schema"]
    check_one_line(code, err, f"{path / 'results.jsonl'}:2", "schema_version 99")


def test_corrupted_middle_line_names_file_and_line(bad_input):
    path, code, err = bad_input["corrupt"]
    check_one_line(code, err, f"{path / 'results.jsonl'}:3", "not valid JSON")


def test_bad_options(paper_run, capsys):
    code, _, err = report(capsys, paper_run, "--format", "pdf")
    check_one_line(code, err, "--format")
    code, _, err = report(capsys, paper_run, "--baseline", "nope")
    check_one_line(code, err, "--baseline nope", "attention-dense")


def test_mixed_environments_are_refused_unless_allowed(tmp_path, capsys):
    a = write_run(tmp_path / "a", paper_rows()[:10])
    b = write_run(tmp_path / "b", paper_rows()[10:20], {**H200_ENV, "torch": "2.6.0"})
    code, _, err = report(capsys, a, b, "--format", "csv")
    check_one_line(code, err, str(a), str(b), "torch '2.5.1' vs '2.6.0'", "--allow-mixed-env")
    code, out, err = report(capsys, a, b, "--format", "csv", "--allow-mixed-env")
    assert code == 0, err
    assert "20 rows from 2 run(s)" in out


def read_csvs(directory: Path) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_csv(directory / f"{name}.csv")
        for name in ("summary", "crossover", "scaling", "claims")
    }


def test_shards_merge_by_concatenation(tmp_path, paper_run, capsys):
    rows = paper_rows()
    shards = [write_run(tmp_path / f"shard{k}", rows[k::2]) for k in range(2)]
    code, out, err = report(capsys, *shards, "--out", tmp_path / "merged", "--format", "csv")
    assert code == 0, err
    assert f"{len(rows)} rows from 2 run(s)" in out
    code, _, err = report(capsys, paper_run, "--out", tmp_path / "whole", "--format", "csv")
    assert code == 0, err
    a, b = read_csvs(tmp_path / "merged"), read_csvs(tmp_path / "whole")
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_like=True)
    assert set(a["claims"]["verdict"]) == {
        "reproduced",
        "inconclusive",
        "not reproduced",
        "not measurable here",
    }


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One report in every format from the hand-made run, at the default --out."""
    run = write_run(tmp_path_factory.mktemp("full") / "run", paper_rows())
    assert main(["report", str(run)]) == 0
    return run / "report"


def test_report_files(full_report):
    for name in (
        "report.md",
        "report.html",
        "summary.csv",
        "crossover.csv",
        "scaling.csv",
        "claims.csv",
    ):
        assert (full_report / name).stat().st_size > 0, name
    for kind in ("latency", "speedup", "memory", "throughput", "stages"):
        assert (full_report / "plots" / f"layer-fwd-fp16-b64-d768-{kind}.png").exists()
    assert not (full_report / "plots" / "layer-fwd-fp16-b1-d768-stages.png").exists()
    assert not list((full_report / "plots").glob("*.svg")), "SVG only when asked for"


def test_markdown_heads_with_the_environment_and_links_relative_images(full_report):
    md = (full_report / "report.md").read_text()
    env_part = md[: md.index("## Method")]
    for fact in (
        "NVIDIA H200",
        "2.5.1",
        "3.1.0",
        "2.7.0",
        "abc1234",
        "hyena-bench run --preset paper",
        "2025-01-01T00:00:00+00:00",
    ):
        assert fact in env_part, fact
    assert "CUDA events per call" in md  # the Method paragraph quotes the rows' timer
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links and all(not Path(link).is_absolute() for link in links)
    assert all((full_report / link).exists() for link in links)
    assert "| A       | NVIDIA H200, fp16, batch 64, d_model 768 | 8k" in md
    assert "not visible in the figure data" in md
    assert "† the GPU was throttled" in md


def test_html_is_one_self_contained_file(full_report):
    page = (full_report / "report.html").read_text()
    sources = re.findall(r"<img src='([^']*)'", page)
    assert len(sources) == len(re.findall(r"!\[", (full_report / "report.md").read_text()))
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert "<table" in page and "reproduced" in page


def test_claims_csv_has_the_numbers(full_report):
    claims = pd.read_csv(full_report / "claims.csv")
    a64 = claims[(claims["claim"] == "A") & (claims["batch"] == 64)].iloc[0]
    assert a64["verdict"] == "reproduced"
    assert a64["speedup"] == pytest.approx(2.4)
    summary = json.loads(pd.read_csv(full_report / "summary.csv").to_json(orient="records"))
    assert {r["impl"] for r in summary} >= {"hyena-fft", "flash-attn2", "attention-dense"}


def test_a_report_without_figures_never_imports_matplotlib(paper_run, tmp_path):
    """`report --format csv` draws nothing, so it does not pay matplotlib's import (about half
    a second of every such report)."""
    script = (
        "import sys\n"
        "from bench.cli import main\n"
        f"code = main(['report', {str(paper_run)!r}, '--out', {str(tmp_path / 'r')!r},"
        " '--format', 'csv'])\n"
        "print(code, 'matplotlib' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=cli_env(), capture_output=True, text=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "0 False", proc.stderr[-2000:]
    assert (tmp_path / "r" / "summary.csv").exists()
