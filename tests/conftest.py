"""Shared test setup: Triton's interpreter on CPU-only machines, the `gpu` marker, and helpers for
running the real `hyena-bench` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

# Triton reads TRITON_INTERPRET when it is imported: set it before any test imports triton, so
# the Triton kernels run on CPU tensors through the interpreter where there is no GPU.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest

REPO = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).resolve().parent / "plugins"
HAS_CUDA = torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run with -m gpu on the device machine)")
    for item in items:
        if "gpu" in item.keywords and not HAS_CUDA:
            item.add_marker(skip)


def cli_env(extra_path: list[Path] | None = None, **env: str) -> dict[str, str]:
    """Environment for a `python -m bench` subprocess: the repo importable, no Triton
    interpreter (a sweep must not time interpreted kernels), quiet matplotlib."""
    base = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    paths = [str(p) for p in (extra_path or [])] + [str(REPO)]
    if base.get("PYTHONPATH"):
        paths.append(base["PYTHONPATH"])
    base.update(PYTHONPATH=os.pathsep.join(paths), MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    base.update(env)
    return base


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bench ARGS` from the repo root and capture its output."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


@pytest.fixture
def plugin_env() -> dict[str, str]:
    """A real entry point: tests/plugins holds a dist-info directory declaring the
    `hyena_bench.operators` entries, which importlib.metadata discovers on the subprocess's
    path (no mocking of discovery)."""
    return cli_env(extra_path=[PLUGINS])


SMOKE_ARGS = ("run", "--preset", "smoke", "--quiet")


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real `hyena-bench run --preset smoke` per test session, shared by the tests that read
    a run directory (CLI, reports)."""
    out = tmp_path_factory.mktemp("smoke") / "run"
    run_cli(*SMOKE_ARGS, "--out", str(out), check=True, timeout=600)
    return out
