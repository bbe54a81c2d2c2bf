"""CPU seconds per report figure, and the floor under it: what `report` spends on one figure of
issue 17's large run (tests/hostile/bigrun.py), against the same figures without a layout
engine and against an empty figure of the same size saved the same way. The report draws 4
figures a setting (80 for the large run's 20 settings), so these numbers say how far matplotlib
figures alone are from the 5 s aim on a given number of CPUs.

    PYTHONPATH=. MPLBACKEND=Agg python -m tests.benchmarks.figure_floor [--settings N] [--rounds R]

CPU time of this process (time.process_time), the variants interleaved round by round; it
prints one markdown table and asserts nothing (a benchmark, not a timed test).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from matplotlib.figure import Figure

from reports import canvas, plots, selection
from reports.claims import CLAIM_LEVEL, CLAIM_MODE, load_paper
from reports.load import groups, load
from reports.tables import summarise
from tests.hostile import bigrun


def report_figures(settings: list, out: Path, paper) -> int:
    """Every figure the report draws for `settings`, saved as the report saves them."""
    count = 0
    for group, rows in settings:
        choice = selection.default_baseline(rows)
        claim = (group.level, group.mode) == (CLAIM_LEVEL, CLAIM_MODE)
        count += len(
            plots.draw_all(
                group,
                rows,
                summarise(rows, choice),
                choice,
                paper.figure if claim else None,
                list(paper.claims) if claim else [],
                out,
                group.slug(False),
            )
        )
    return count


def without_layout(settings: list, out: Path, paper) -> int:
    """The same figures with no layout engine (fixed margins: labels may be cut)."""
    real = Figure.__init__

    def no_layout(self, *args, **kwargs):
        kwargs.pop("layout", None)
        real(self, *args, **kwargs)

    with mock.patch.object(Figure, "__init__", no_layout):
        return report_figures(settings, out, paper)


def empty(settings: list, out: Path, paper) -> int:
    """One empty axes per figure, same size and DPI, saved by reports.canvas.save."""
    count = 4 * len(settings)
    for i in range(count):
        fig, _, _ = canvas.new_figure()
        canvas.save(canvas.Drawn("empty", "empty", fig), out, f"empty-{i}")
    return count


VARIANTS: dict[str, Callable[[list, Path, object], int]] = {
    "the report's figures": report_figures,
    "the same, no layout engine": without_layout,
    "an empty axes, saved alike": empty,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", type=int, default=4, help="settings of the large run drawn")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    paper = load_paper()
    with tempfile.TemporaryDirectory(prefix="hyena-figures-") as tmp:
        run = bigrun.write(Path(tmp) / "run", count=130 * args.settings, samples=50)
        settings = groups(load([run]).frame)[: args.settings]
        per_figure: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for draw in VARIANTS.values():  # a warm-up round: imports, font cache
            draw(settings[:1], Path(tmp) / "warm", paper)
        for round_ in range(args.rounds):
            for name, draw in VARIANTS.items():
                start = time.process_time()
                count = draw(settings, Path(tmp) / f"{round_}-{len(per_figure[name])}", paper)
                per_figure[name].append((time.process_time() - start) / count)
    print(f"CPU s per figure, {args.settings} settings x 4 figures, {args.rounds} rounds\n")
    print("| figure | median | min | max | 80 figures (median) |\n|---|---|---|---|---|")
    for name, values in per_figure.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median:.3f} | {min(values):.3f} | {max(values):.3f} | {80 * median:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
