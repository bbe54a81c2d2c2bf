"""Opt-in: the pytest-benchmark suite is not collected by a plain `pytest` (it times operators,
which takes minutes and means nothing on a loaded CI machine). It is collected when asked for:

    pytest tests/benchmarks --benchmark-only --benchmark-autosave   # named on the command line
    pytest --benchmark-only                                        # or any --benchmark-only run
    HYENA_BENCH_BENCHMARKS=1 pytest                                 # or this variable
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

OPT_IN_ENV = "HYENA_BENCH_BENCHMARKS"
HERE = Path(__file__).resolve().parent


def named_on_command_line(config: pytest.Config) -> bool:
    start = config.invocation_params.dir
    for arg in config.invocation_params.args:
        path = (start / str(arg).split("::")[0]).resolve()
        if path.exists() and path.is_relative_to(HERE):
            return True
    return False


def wanted(config: pytest.Config) -> bool:
    return (
        os.environ.get(OPT_IN_ENV) == "1"
        or bool(config.getoption("benchmark_only", default=False))
        or named_on_command_line(config)
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.name.startswith("test_") and not wanted(config):
        return True
    return None
