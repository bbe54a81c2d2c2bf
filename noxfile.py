"""Sessions: tests, lint, sweep (the main job: a sweep and its report), report, regress.

Each session installs what it needs. On a machine without `nvidia-smi` the environment gets the
CPU build of torch pinned in constraints/cpu.txt (no multi-GB CUDA download); with a GPU, any
recent torch (constraints/gpu.txt). Override with HYENA_BENCH_TORCH=cpu|gpu.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.default_venv_backend = "venv"
ENV = {"MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}


def constraints() -> str:
    choice = os.environ.get("HYENA_BENCH_TORCH", "auto")
    if choice == "auto":
        choice = "gpu" if shutil.which("nvidia-smi") else "cpu"
    return f"constraints/{choice}.txt"


def install(session: nox.Session, extras: str = "test") -> None:
    session.install("-c", constraints(), "-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (GPU-marked tests skip cleanly without CUDA)."""
    install(session)
    session.run("pytest", *session.posargs, env=ENV)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def sweep(session: nox.Session) -> None:
    """The main job: the default sweep (paper preset on a GPU, smoke on a CPU), then its report."""
    install(session)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = session.posargs[0] if session.posargs else f"runs/main-{stamp}"
    session.run("hyena-bench", "run", "--preset", "auto", "--out", out, env=ENV)
    session.run("hyena-bench", "report", out, "--out", f"{out}/report", env=ENV)
    session.log(f"report: {out}/report/report.md (and report.html)")


@nox.session
def report(session: nox.Session) -> None:
    """Rebuild a report: nox -s report -- RUN_DIR [RUN_DIR ...] [report options]."""
    if not session.posargs:
        session.error("usage: nox -s report -- RUN_DIR [RUN_DIR ...]")
    install(session)
    session.run("hyena-bench", "report", *session.posargs, env=ENV)
