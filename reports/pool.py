"""A report's settings, built side by side in worker processes (`report --jobs`).

Each setting's tables and figures depend on its own rows only, and drawing its figures is most
of a report's time (about 1.5 s of CPU a setting: a 20-setting run spends half a minute on it),
so a report with several settings builds them in a process pool, one setting per task, and
keeps their order. The pool starts from a fork server that imported the report's modules
once, so a worker starts in milliseconds rather than importing pandas and matplotlib again;
where there is none (Windows), workers are spawned.

A report with fewer than POOL_MIN_TASKS settings, without figures (reports.document), or with
`--jobs 1` builds them in this process: the same function on the same arguments, so the files
are the same either way (a test checks that the pooled report equals the serial one file by
file).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from bench.files import OutputError
from bench.safetext import printable

T = TypeVar("T")
# What a report's worker needs imported: the document, and where figures are drawn the modules
# that import matplotlib (about 0.5 s each time; the document itself does not import them).
REPORT_MODULES = ("reports.document",)
FIGURE_MODULES = ("reports.plots", "reports.roofline_plot")
# Below this many settings the pool's start (a fork server importing pandas and matplotlib,
# about 2 s of CPU) costs more than drawing them side by side saves.
POOL_MIN_TASKS = 4


def default_jobs() -> int:
    """The CPUs this process may run on (its affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def context(preload: Sequence[str]) -> Any:
    """A fork server that has imported the modules `preload`, else spawn."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return mp.get_context("spawn")


def prestart(preload: Sequence[str], jobs: int) -> None:
    """Start the fork server (importing the modules `preload`) now, for a pool that `starmap`
    may start later: it imports the report's modules on another CPU while this process reads
    the rows (about 1.5 s of a report's wall time on two CPUs). Where the pool then goes unused
    (fewer than POOL_MIN_TASKS settings) those imports were spent for nothing on the other CPU:
    how many settings there are is known only once the rows are read. With one job, or without
    a fork server, nothing: the pool, if any, starts as it would have."""
    if jobs <= 1 or "forkserver" not in mp.get_all_start_methods():
        return
    from multiprocessing import forkserver

    context(preload)
    with contextlib.suppress(OSError):  # starmap meets the same limit and says so, once
        forkserver.ensure_running()


def starmap(
    fn: Callable[..., T],
    tasks: Sequence[tuple[Any, ...]],
    jobs: int,
    preload: Sequence[str] = (),
) -> list[T]:
    """`fn(*task)` for every task, in order: in up to `jobs` processes when there are at least
    POOL_MIN_TASKS tasks, else here. `fn` must be a module-level function (workers import it).
    An exception in a task is raised here as it was raised there; a worker that died (killed,
    out of memory) is one OutputError. Where no process can be started (a sandbox without
    semaphores, a process limit), the tasks run here after one note on stderr. A fork server
    imports fn's module and `preload` once, for every worker."""
    if jobs <= 1 or len(tasks) < POOL_MIN_TASKS:
        return [fn(*task) for task in tasks]
    workers = min(jobs, len(tasks))
    try:
        executor = ProcessPoolExecutor(workers, mp_context=context([fn.__module__, *preload]))
        futures = [executor.submit(fn, *task) for task in tasks]  # starts the workers
    except (OSError, NotImplementedError) as exc:
        print(
            printable(f"hyena-bench report: note: no worker processes ({exc}); one at a time"),
            file=sys.stderr,
        )
        return [fn(*task) for task in tasks]
    try:
        with executor:
            return [future.result() for future in futures]
    except BrokenProcessPool:
        raise OutputError(
            f"a report worker process died (killed or out of memory); rerun with --jobs 1 "
            f"(used {workers})"
        ) from None
