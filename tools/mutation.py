"""Mutation testing of the modules where a bug changes a number a user reads (issue 19), one
module at a time with the tests that cover it: `nox -s mutation -- [MODULE ...]` runs this file.

mutmut reads its settings from pyproject.toml in the directory it runs in and writes its mutated
copy to mutants/ there. Each module gets its own working copy of the project,
.mutation/<module>/, whose pyproject.toml adds two keys under [tool.mutmut]: only_mutate (this
module) and pytest_add_cli_args_test_selection (its tests). mutmut's per-test coverage pass then
runs only those tests, not the whole 15-minute suite, and the results of one module never reset
another's. Rerunning keeps the results of unchanged functions (mutmut compares function hashes).

Standard library only: nox installs mutmut in the session's environment, or run it by hand with
an environment that has mutmut and the project's dependencies:
    PYTHONPATH=. python tools/mutation.py bench.timing reports.stats
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# How many comment and blank lines above a `def` mutmut may count as the function's own
# (`# --- numbers ---` and two blank lines before reports.tables' `summarise`).
LEAD_LINES = 4
WORK = ROOT / ".mutation"

# Each listed module and the tests that exercise it in-process. mutmut maps mutants to tests by
# tracing calls inside the test process, so tests that only reach a module through a `python -m
# bench` subprocess (tests/cli) cannot kill its mutants and are left out: they would only cost
# time. The listing order is the suggested order: small, number-producing modules first.
TARGETS: dict[str, tuple[str, ...]] = {
    "bench.timing": ("tests/bench/test_timing.py",),
    "bench.stats": (
        "tests/bench/test_stats.py",
        "tests/bench/test_stats_long.py",
        "tests/bench/test_compare_boundaries.py",
        "tests/bench/test_ab_decision.py",
    ),
    "reports.stats": ("tests/reports/test_stats.py",),
    "reports.claims": (
        "tests/reports/test_claims.py",
        "tests/reports/test_numbers.py",
        "tests/reports/test_noise.py",
    ),
    # Not test_plots.py: it draws every figure (2 minutes a run) and reads the tables' numbers
    # back, which test_tables.py checks directly.
    "reports.tables": (
        "tests/reports/test_tables.py",
        "tests/reports/test_numbers.py",
        "tests/reports/test_noise.py",
        "tests/reports/test_report_text.py",
    ),
    "reports.selection": (
        "tests/reports/test_selection.py",
        "tests/reports/test_numbers.py",
        "tests/reports/test_report_text.py",
    ),
    "operators.reference": (
        "tests/operators/test_reference.py",
        "tests/operators/test_safari_layout.py",
    ),
    "bench.compare": (
        "tests/bench/test_compare_cli.py",
        "tests/bench/test_compare.py",
        "tests/bench/test_compare_boundaries.py",
    ),
    "bench.comparison": (
        "tests/bench/test_compare.py",
        "tests/bench/test_compare_boundaries.py",
        "tests/bench/test_ab_decision.py",
    ),
    "bench.store": (
        "tests/bench/test_store.py",
        "tests/bench/test_store_edges.py",
        "tests/bench/test_record.py",
    ),
    # The runner's own tests drive the sweep loop with a scripted in-process worker
    # (test_runner_loop.py) and its worker handle on a fake pipe and spawn context
    # (test_runner_worker.py); test_runner.py spawns one real worker that dies on start.
    "bench.runner": (
        "tests/bench/test_runner_loop.py",
        "tests/bench/test_runner_worker.py",
        "tests/bench/test_runner.py",
        "tests/bench/test_record.py",
    ),
    "operators.longconv.naive": (
        "tests/operators/test_correctness.py",
        "tests/operators/test_causality.py",
    ),
    "operators.longconv.fft": (
        "tests/operators/test_correctness.py",
        "tests/operators/test_causality.py",
        "tests/operators/test_verify.py",
    ),
    "operators.attention": (
        "tests/operators/test_correctness.py",
        "tests/operators/test_causality.py",
        "tests/operators/test_flash_adapters.py",
        "tests/operators/test_registry.py",
        "tests/operators/test_spec_counts.py",
        "tests/operators/test_attention_specs.py",
        "tests/operators/test_stage_ranges.py",
        "tests/bench/test_stages.py",
    ),
    "operators.hyena": (
        "tests/operators/test_correctness.py",
        "tests/operators/test_causality.py",
        "tests/operators/test_safari_layout.py",
        "tests/operators/test_verify.py",
        "tests/operators/test_spec_counts.py",
        "tests/operators/test_hyena_specs.py",
        "tests/bench/test_stages.py",
    ),
}

# A pytest -k expression that narrows a module's test files to the cases that run its code on
# plain PyTorch. test_correctness.py and test_causality.py run every registered implementation;
# the Triton ones go through Triton's CPU interpreter (minutes per file, and every surviving
# mutant reruns every test that reached its function), and they reach the layer modules only
# through the same HyenaOperator / AttentionLayer code that the PyTorch members run.
KEYWORDS: dict[str, str] = {
    "operators.longconv.naive": "naive",
    "operators.longconv.fft": "hyena-fft or test_verify",
    "operators.attention": "attention-dense or sdpa or test_flash_adapters or test_registry"
    " or test_spec_counts or test_attention_specs or test_stage",
    "operators.hyena": "hyena-naive or hyena-fft or test_safari_layout or test_verify"
    " or test_spec_counts or test_hyena_specs or test_stages",
}

# What a working copy leaves out: version control, other working copies, caches, and the
# top-level runs/ of local sweeps (reports/runs holds committed data and is kept).
SKIPPED = shutil.ignore_patterns(
    ".git", ".mutation", "mutants", ".nox", ".tox", "__pycache__", "*.pyc", ".venv"
)


def ignore(directory: str, names: list[str]) -> set[str]:
    top = Path(directory).resolve() == ROOT
    return set(SKIPPED(directory, names)) | ({"runs"} & set(names) if top else set())


# mutmut's exit codes per mutant, as its `results` command names them.
COUNTED = ("killed", "survived", "timeout", "no_tests", "suspicious", "segfault", "skipped")


def module_path(module: str) -> str:
    return module.replace(".", "/") + ".py"


def prepare(module: str, tests: tuple[str, ...]) -> Path:
    """A working copy of the project for one module, with its [tool.mutmut] selection."""
    work = WORK / module
    # copy2 keeps the sources' mtimes, so mutmut sees an unchanged file as already mutated.
    shutil.copytree(ROOT, work, ignore=ignore, dirs_exist_ok=True)
    text = (ROOT / "pyproject.toml").read_text()
    header = "[tool.mutmut]\n"
    if header not in text:
        raise SystemExit("pyproject.toml has no [tool.mutmut] section")
    keyword = ["-k", KEYWORDS[module]] if module in KEYWORDS else []
    selection = (
        f"only_mutate = [{json.dumps(module_path(module))}]\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(list(tests) + keyword)}\n"
    )
    (work / "pyproject.toml").write_text(text.replace(header, header + selection, 1))
    return work


# mutmut forks each mutant's worker from a server process that has collected the tests; some
# test files call torch at collection (the registry's availability probes run a tiny SDPA call),
# which starts OpenMP's thread pool there, and a forked child that calls into that pool hangs
# (0 CPU, a futex wait, until the wall-clock timeout). One OpenMP thread starts no pool; the
# machine's cores are used by running --max-children workers side by side instead.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def mutmut(work: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **ONE_THREAD, "MPLBACKEND": "Agg", "PYTHONPATH": str(work)}
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *args], cwd=work, env=env, check=check, text=True
    )


def survivors(work: Path) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results"],
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(work)},
        check=True,
        text=True,
        capture_output=True,
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def earlier_not_killed(work: Path) -> list[str]:
    """Mutants that an earlier run in this working copy did not kill (none before a first run)."""
    summary_file = work / "summary.json"
    if not summary_file.exists():
        return []
    lines = json.loads(summary_file.read_text())["not_killed"]
    return [line.split(":")[0] for line in lines if not line.endswith(": timeout")]


def show(work: Path, names: list[str]) -> str:
    """The diffs of the given mutants (`mutmut show`), for reading the survivors."""
    env = {**os.environ, "PYTHONPATH": str(work)}
    return "".join(
        subprocess.run(
            [sys.executable, "-m", "mutmut", "show", name],
            cwd=work,
            env=env,
            check=True,
            text=True,
            capture_output=True,
        ).stdout
        for name in names
    )


def summary(module: str, work: Path) -> dict[str, object]:
    mutmut(work, "export-cicd-stats")
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    counts = {key: int(stats.get(key, 0)) for key in COUNTED}
    total = int(stats["total"])
    return {
        "module": module,
        "total": total,
        **counts,
        "score": counts["killed"] / total if total else None,
        "not_killed": survivors(work),
    }


def split_diffs(text: str) -> list[tuple[str, str]]:
    """(mutant name, its diff) for each mutant of a survived.diff (`mutmut show` output)."""
    parts = re.split(r"^# (\S+): \w+\n", text, flags=re.M)[1:]
    return list(zip(parts[::2], parts[1::2], strict=True))


def apply_mutant(name: str, diff: str, source: str) -> str | None:
    """`source` with one mutant's diff applied, or None if its lines are not where expected.
    mutmut numbers a hunk's lines from the mutated function's first line (decorators
    included), so the hunk is placed from that function's `def`: code repeated in two
    functions is never changed in the wrong one."""
    # mutmut names a function's mutants x_<function>__mutmut_<n>, a method's xǁ<Class>ǁ<method>...
    mangled = re.sub(r"__mutmut_\d+$", "", name.split(".")[-1])
    if mangled.startswith("xǁ"):
        owner, function = mangled.split("ǁ")[1:3]
    else:
        owner, function = "", mangled.removeprefix("x_")
    lines = source.splitlines(keepends=True)
    start = 0
    if owner:
        start = next(i for i, line in enumerate(lines) if line.startswith(f"class {owner}"))
    first = next(
        i for i in range(start, len(lines)) if re.match(rf"\s*(async )?def {function}\(", lines[i])
    )
    while first > 0 and lines[first - 1].lstrip().startswith("@"):
        first -= 1
    # mutmut shows a method dedented to the left margin and drops comments: lines are compared
    # without them, the method's indentation is put back, and unchanged lines are kept as
    # they are (comments included).
    indent = re.match(r"\s*", lines[first]).group()

    def bare(line: str) -> str:
        return line.split("  #")[0].strip()

    def placed(start: int, body: str) -> tuple[list[str], int] | None:
        """The hunk's new lines and where its old ones end, if they match from `start`."""
        index, out = start, []
        for row in body.rstrip("\n").split("\n"):
            kind, text = row[:1], row[1:]
            if kind == "+":
                out.append(indent + text + "\n" if text.strip() else "\n")
                continue
            if index >= len(lines) or bare(lines[index]) != bare(text):
                return None
            if kind == " ":
                out.append(lines[index])
            index += 1
        return out, index

    hunks = re.split(r"^@@ -(\d+),\d+ \+\d+,\d+ @@.*\n", diff, flags=re.M)[1:]
    for at, body in reversed(list(zip(hunks[::2], hunks[1::2], strict=True))):
        # mutmut counts from the `def`, or from comment and blank lines just above it when a
        # function follows a section comment: try the `def` first, then those lines up.
        for start in range(first + int(at) - 1, max(first + int(at) - 1 - LEAD_LINES, -1), -1):
            if (found := placed(start, body)) is not None:
                out, end = found
                lines[start:end] = out
                break
        else:
            return None
    return "".join(lines)


def recheck(module: str, only: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Run the module's tests against each survivor of its last mutmut run, the mutant applied
    to the working copy's source and removed afterwards: (name, "killed" | "survived" |
    "not applied"). A quick confirmation after new tests, without mutmut's own rerun (which
    first repeats its whole test pass)."""
    work = prepare(module, TARGETS[module])
    source = work / module_path(module)
    original = source.read_bytes()
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(work)}
    results = []
    for name, diff in split_diffs((work / "survived.diff").read_text()):
        if only and not any(part in name for part in only):
            continue
        mutated = apply_mutant(name, diff, original.decode())
        if mutated is None or mutated.encode() == original:
            results.append((name, "not applied"))
            print(f"{name}: not applied", flush=True)
            continue
        source.write_text(mutated)
        try:
            tests = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                 *TARGETS[module]],
                cwd=work,
                env=env,
                capture_output=True,
            )  # fmt: skip
        finally:
            source.write_bytes(original)
        results.append((name, "survived" if tests.returncode == 0 else "killed"))
        print(f"{name}: {results[-1][1]}", flush=True)
    (work / "recheck.json").write_text(json.dumps(dict(results), indent=2) + "\n")
    return results


def markdown_table() -> str:
    """One line per module with results in .mutation/: the counts as mutmut reports them."""
    lines = [
        "| module | mutants | killed | timeout | survived | no tests | killed+timeout |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for module in TARGETS:
        path = WORK / module / "summary.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        caught = r["killed"] + r["timeout"]
        lines.append(
            f"| {module} | {r['total']} | {r['killed']} | {r['timeout']} | {r['survived']} "
            f"| {r['no_tests']} | {caught / r['total']:.0%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutant workers")
    parser.add_argument(
        "--fresh", action="store_true", help="forget earlier results and run every mutant"
    )
    parser.add_argument(
        "--table", action="store_true", help="print the last results as a markdown table"
    )
    parser.add_argument("--list", action="store_true", help="print the modules and their tests")
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="run the tests against each survivor of the last run, applied by hand",
    )
    parser.add_argument(
        "--only",
        default="",
        help="with --recheck: the survivors whose names contain one of "
        "these comma-separated parts (skip those already judged equivalent)",
    )
    args = parser.parse_args(argv)
    if args.list:
        for module, tests in TARGETS.items():
            keyword = f" -k '{KEYWORDS[module]}'" if module in KEYWORDS else ""
            print(f"{module}: {' '.join(tests)}{keyword}")
        return 0
    if args.table:
        print(markdown_table())
        return 0
    unknown = [m for m in args.modules if m not in TARGETS]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; --list shows the choices")
    if args.recheck:
        for module in args.modules or list(TARGETS):
            found = recheck(module, tuple(filter(None, args.only.split(","))))
            killed = sum(result == "killed" for _, result in found)
            print(f"{module}: {killed} of {len(found)} survivors killed now")
        return 0
    results = []
    for module in args.modules or list(TARGETS):
        work = prepare(module, TARGETS[module])
        print(f"== {module}: mutmut in {work.relative_to(ROOT)}", flush=True)
        # mutmut keeps a mutant's old result while its function is unchanged, even when tests
        # were added since: name the earlier survivors to run them again.
        again = [] if args.fresh else earlier_not_killed(work)
        if args.fresh:
            shutil.rmtree(work / "mutants", ignore_errors=True)
        mutmut(work, "run", "--max-children", str(args.max_children))
        if again:
            mutmut(work, "run", "--max-children", str(args.max_children), *again)
        results.append(summary(module, work))
        (work / "summary.json").write_text(json.dumps(results[-1], indent=2) + "\n")
        lines = results[-1]["not_killed"]
        names = [ln.split(":")[0] for ln in lines if ln.endswith(": survived")]  # type: ignore[union-attr]
        (work / "survived.diff").write_text(show(work, names))
    print("\nmodule                      killed/total  score  not killed")
    for r in results:
        score = "-" if r["score"] is None else f"{r['score']:.0%}"
        print(f"{r['module']:<28}{r['killed']:>6}/{r['total']:<6}{score:>6}  {r['not_killed']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
