"""Progress for a sweep: a rich progress bar with ETA and one summary line per finished row
(nothing with --quiet, apart from the final summary). A skip reason is said once per
implementation: the same reason at the next lengths adds nothing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from bench.safetext import printable

STATUS_STYLE = {"ok": "green", "oom": "yellow", "skipped": "dim", "error": "red", "timeout": "red"}


def describe(row: dict[str, Any]) -> str:
    head = f"{row['op']:<24} L={row['seqlen']:<6}"
    if row["status"] == "ok":
        mem = row.get("peak_mem_bytes")
        mem_text = f"{mem / 2**20:9.1f} MiB" if mem is not None else "      n/a"
        verified = row.get("verified")
        check = (
            "verified"
            if verified
            else "not checked"
            if verified is None
            else f"NOT verified ({row.get('max_rel_err')}, gradients {row.get('max_rel_err_grad')})"
        )
        return (
            f"{head} {row['latency_ms_median']:10.3f} ms  [p10 {row['latency_ms_p10']:.3f}"
            f" p90 {row['latency_ms_p90']:.3f}, n={row['reps']}]  {mem_text}  {check}"
        )
    return f"{head} {row['status']}: {row['reason']}"


class Progress:
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.console = Console(stderr=True, highlight=False, markup=False, emoji=False)
        self.bar: RichProgress | None = None
        self.task: Any = None
        self.said: set[tuple[str, str]] = set()  # (op, reason) of the skips already shown

    def __enter__(self) -> Progress:
        if not self.quiet:
            self.bar = RichProgress(
                TextColumn("[bold]sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def row(self, row: dict[str, Any], done: int, total: int) -> None:
        if self.bar is None:
            return
        if self.task is None:
            self.task = self.bar.add_task("sweep", total=total)
        self.bar.update(self.task, completed=done)
        line = self.line(row)
        if line is None:
            return
        style = STATUS_STYLE.get(row["status"], "")
        # A plain Text, never markup: a reason may hold [brackets] or escape codes.
        self.bar.console.print(Text(printable(line), style=style), soft_wrap=True)

    def line(self, row: dict[str, Any]) -> str | None:
        """The row's console line; None for a skip already said for this implementation."""
        if row["status"] != "skipped":
            return describe(row)
        said = (row["op"], str(row["reason"]))
        if said in self.said:
            return None
        self.said.add(said)
        return f"{describe(row)} (not repeated for other lengths)"

    def summary(self, summary: dict[str, Any], out: Path) -> None:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(summary["counts"].items())) or "no rows"
        lines = [f"{summary['rows']} rows ({counts}) in {summary['wall_s']:.1f} s -> {out}"]
        if summary["already_done"]:
            lines.append(f"{summary['already_done']} rows were already done (resumed)")
        if summary["not_run"]:
            lines.append(
                f"{summary['not_run']} rows not run (time budget); finish them by running the "
                "same command again with --resume"
            )
        print("\n".join(printable(line) for line in lines), file=sys.stderr)
