"""The command line itself, as a newcomer meets it: help and errors without importing torch, one
error prefix, a default shown for every `run` flag, a header line before the rows, a skip reason
said once, exit 3 when nothing ran, and the nearest name suggested for a typo."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from operators.config import CONFIG_FIELDS
from tests.conftest import REPO, cli_env, run_cli

SMALL = ("--d-model", "32", "--heads", "2", "--target-time", "0.05", "--min-reps", "3")


def imported_modules(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `python -X importtime -m bench ARGS`; the modules it imported, from importtime's log."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bench", *args],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return proc, modules


@pytest.mark.parametrize(
    ("args", "status"),
    [(("--help",), 0), ((), 2), (("nope",), 2), (("run", "--help"), 0), (("compare", "--help"), 0)],
)
def test_help_and_usage_errors_do_not_import_torch(args, status):
    proc, modules = imported_modules(*args)
    assert proc.returncode == status, proc.stderr[-2000:]
    assert "bench.cli" in modules, "importtime log was read"
    assert not {"torch", "scipy", "pandas", "matplotlib"} & modules


def test_usage_errors_have_one_prefix_and_suggest_the_nearest_command():
    proc = run_cli("rnu")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "hyena-bench: error: argument COMMAND: invalid choice: 'rnu' (choose from 'list', "
        "'env', 'run', 'verify', 'compare', 'merge', 'ab', 'profile', 'report') "
        "(did you mean run?)"
    ]
    proc = run_cli("run", "--dtype", "fp61")
    assert proc.stderr.startswith("hyena-bench run: error: argument --dtype: invalid choice")
    assert "hyena-bench: error: hyena-bench" not in proc.stderr
    assert "(did you mean fp16?)" in proc.stderr
    assert "required: COMMAND" in run_cli().stderr


def test_top_level_help_documents_the_exit_statuses():
    text = " ".join(run_cli("--help", check=True).stdout.split())
    assert "exit status: 0 done; 1" in text and "3 nothing ran" in text


def option_entries(help_text: str) -> dict[str, str]:
    """`--flag` -> its help text, from argparse's options section."""
    entries: dict[str, str] = {}
    current = None
    for line in help_text.split("options:", 1)[1].splitlines():
        match = re.match(r"\s{2}(-[-\w]+)", line)
        if match:
            current = match.group(1)
            entries[current] = line
        elif current:
            entries[current] += " " + line.strip()
    return entries


def test_every_run_flag_has_help_showing_its_default():
    entries = option_entries(run_cli("run", "--help", check=True).stdout)
    entries.pop("-h")
    expected = {"--" + f.name.replace("_", "-") for f in CONFIG_FIELDS if f.name != "seqlen"}
    assert expected <= set(entries), "a flag for every Config field"
    missing = [flag for flag, text in entries.items() if "default" not in text]
    assert not missing, missing
    assert "(default: the preset's, else 768)" in " ".join(entries["--d-model"].split())


def test_run_prints_a_header_and_each_skip_reason_once(tmp_path):
    proc = run_cli(
        "run",
        "--ops",
        "flash-attn2,hyena-fft",
        "--seqlens",
        "256,512",
        "--level",
        "core",
        "--out",
        str(tmp_path / "run"),
        *SMALL,
        check=True,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0].startswith(
        "hyena-bench run custom: B=1 D=32 heads=2 order=2 fp32 fwd level=core on cpu ("
    ), lines[0]
    assert "2 implementations x 2 lengths = 4 rows" in lines[0]
    assert proc.stderr.count("needs a CUDA GPU") == 1, proc.stderr
    assert proc.stderr.count("hyena-fft ") == 2, "every measured row still has its line"


def test_run_with_every_row_skipped_exits_3(tmp_path):
    proc = run_cli("run", "--ops", "flash-attn2", "--seqlens", "256", "--out", str(tmp_path / "r"))
    assert proc.returncode == 3, proc.stderr
    assert "nothing was measured: every row was skipped" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ops", "hyena-ff"), "unknown operator 'hyena-ff' (did you mean hyena-fft?)"),
        (("--family", "hyana"), "unknown family 'hyana' (did you mean hyena?)"),
        (("--preset", "smok"), "unknown preset 'smok' (did you mean smoke?)"),
    ],
)
def test_unknown_names_suggest_the_nearest(tmp_path, args, message):
    proc = run_cli("run", *args, "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
