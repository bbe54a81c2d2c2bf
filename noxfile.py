"""Sessions: tests (which also runs triton_newest), lint, sweep (the main job: a sweep and its
report), report, regress (the interleaved speed gate, `hyena-bench ab`), triton_newest, hostile (the
whole hostile-input matrix and the large-run benchmark, which CI does not run).

Each session installs what it needs. On a machine without `nvidia-smi` the environment gets the
CPU build of torch pinned in constraints/cpu.txt (no multi-GB CUDA download); with a GPU, any
recent torch (constraints/gpu.txt). Override with HYENA_BENCH_TORCH=cpu|gpu.

`tests` and `sweep` install the same packages into two environments: nox names a session's
environment after the session and has no option to share one (a `venv_location` setting was
proposed, wntrblm/nox#785, and is not in nox 2026.10), and one session creating another's
environment would break `nox -r`. pip's download cache spares the second download; with uv
installed, `nox --default-venv-backend uv` hard-links packages from uv's cache instead (not
measured here).
"""

from __future__ import annotations

import datetime as dt
import glob
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
    """The test suite (GPU-marked tests skip cleanly without CUDA), then, unless a subset was
    asked for, the Triton tests under the newest Triton (triton_newest)."""
    install(session)
    session.run("pytest", *session.posargs, env=ENV)
    if not session.posargs:
        session.notify("triton_newest")


# --- triton_newest: the kernels under the Triton a pip user gets today ----------------------------
TRITON_TESTS = "tests/operators/test_longconv_triton*.py"


def torch_pin() -> str:
    """The torch requirement of this machine's constraints file (torch==2.13.0 on a CPU machine:
    the wheel on local disk; any other torch pulls a multi-GB CUDA build)."""
    with open(constraints()) as f:
        return next(line.strip() for line in f if line.startswith("torch"))


@nox.session
def triton_newest(session: nox.Session) -> None:
    """The Triton kernel tests with every dependency but torch at the newest version the
    project's metadata allows (Triton above all), so CI sees the next Triton break first."""
    pin = os.path.join(session.create_tmp(), "torch-pin.txt")
    with open(pin, "w") as f:
        f.write(torch_pin() + "\n")
    session.install("-c", pin, "--upgrade", "--upgrade-strategy", "eager", "-e", ".[test]")
    session.run("python", "-c", "import torch, triton; print('torch', torch.__version__, "
                "'triton', triton.__version__)")  # fmt: skip
    session.run("pytest", *sorted(glob.glob(TRITON_TESTS)), *session.posargs, env=ENV)


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


# --- regress: the speed gate checked on this machine's CPU ---------------------------------------
# `hyena-bench ab` (interleaved A/B, reports/baselines/README.md) at the core level, the long
# convolution alone, one torch thread: hyena-fft against plugin-fft (the same FFT convolution,
# registered by the test plugin: A against A) must pass, and hyena-fft against
# test-hyena-fft-quarter-again (the long convolution computed again on a quarter of the input)
# must fail. The test plugin (tests/plugins/hyena_bench_testops.py) is on the path only here.
# Keep in step with tests/cli/test_ab_cli.py.
REGRESS_SWEEP = (
    "--level core --seqlens 256,1k --batch 1 --d-model 64 --heads 4 --target-time 0.2 --quiet"
)
TEST_PLUGINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests", "plugins")
REGRESS_ENV = {**ENV, "OMP_NUM_THREADS": "1", "PYTHONPATH": TEST_PLUGINS}
REGRESS_CASES = (
    ("a-a", "plugin-fft", 0),  # (name, NEW's implementation, expected exit status)
    ("planted", "test-hyena-fft-quarter-again", 1),
)


@nox.session
def regress(session: nox.Session) -> None:
    """The speed gate on this CPU: A/A gives no regression (exit 0) and a planted slowdown is
    caught (exit 1). nox -s regress -- DIR keeps the runs in DIR."""
    install(session)
    out = session.posargs[0] if session.posargs else session.create_tmp()
    for name, new_op, expect in REGRESS_CASES:
        path = os.path.join(out, f"regress-{name}")
        shutil.rmtree(path, ignore_errors=True)
        session.run(
            "hyena-bench",
            "ab",
            "--base-op",
            "hyena-fft",
            "--new-op",
            new_op,
            *REGRESS_SWEEP.split(),
            "--out",
            path,
            env=REGRESS_ENV,
            success_codes=[expect],
        )
    session.log("regress: A/A gave no regression and the planted slowdown was caught")


# --- hostile: the whole hostile-input matrix and the large-run benchmark (issue 17) -------------
@nox.session
def hostile(session: nox.Session) -> None:
    """Every hostile-input case (CI runs one of each kind: tests/hostile/conftest.py), then
    `report` and `compare` timed on the generated 59 MiB run (docs/HOSTILE.md has the numbers).
    nox -s hostile -- ARGS passes ARGS to the first pytest (e.g. -k disk)."""
    install(session)
    session.run(
        "pytest", "tests/hostile", *session.posargs, env={**ENV, "HYENA_BENCH_HOSTILE": "all"}
    )
    session.run(
        "pytest", "tests/benchmarks/test_scale.py", "--benchmark-only",
        "--benchmark-columns=min,max,rounds", env=ENV,
    )  # fmt: skip


# --- mutation: do the tests catch a wrong number? (not in CI: hours on 2 cores) -------------------
@nox.session
def mutation(session: nox.Session) -> None:
    """mutmut over the modules where a bug changes a number a user reads, each with the tests
    that cover it (tools/mutation.py has the table; docs/MUTATION.md the scores).
    nox -s mutation -- [MODULE ...] [--fresh] [--max-children N]; -- --list names the modules."""
    install(session)
    session.install("mutmut==3.8.1")
    session.run("python", "tools/mutation.py", *session.posargs, env=ENV)
