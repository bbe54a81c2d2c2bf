"""The interleaved loop of `hyena-bench ab`: one worker process per side, both alive for the whole
sweep; row by row, each side prepares its case (float64 check, build, warm-up), then the two
time small blocks of calls in turn, ABBA (BASE NEW, NEW BASE, ...), so that whatever else the
machine is doing falls on both sides alike and block i of one side is measured seconds from
block i of the other. Each side's rows go to its own run directory (results.jsonl, env.json),
every row with its samples and `block_calls`, so the decision can pair the blocks.

The workers are bench.runner's WorkerProcess (spawn, start-up check, timeouts, replacement after
a crash) started on bench.ab_worker's entry point.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from bench import ab_worker, envinfo, record, store
from bench.ab_sides import Side
from bench.defaults import WARMUP_CALLS
from bench.runner import Task, WorkerProcess, WorkerStartError, base_row, checked
from bench.timing import TimingOptions

SIDE_NAMES = ("base", "new")
# Fields a side's `prepare` reply carries that are not the row's (or that the parent sets for
# the whole row, both sides' blocks included).
NOT_ROW_FIELDS = ("estimate_ms", "finished_at", "wall_s")


@dataclass(frozen=True)
class AbOptions:
    out: Path
    device: str
    blocks: int  # block pairs per row
    timing: TimingOptions
    timeout_s: float
    verify: bool = True
    env_extra: dict[str, Any] | None = None


def calls_per_block(estimate_ms: float, opts: AbOptions) -> int:
    """Calls per block so that a side's blocks add up to the target time and to min_reps calls
    (at least 1 call a block, at most max_reps calls in all)."""
    wanted = max(opts.timing.target_s * 1e3 / max(estimate_ms, 1e-6), opts.timing.min_reps)
    per_block = math.ceil(wanted / opts.blocks)
    return max(1, min(per_block, opts.timing.max_reps // opts.blocks))


def timer_text(device: str, opts: AbOptions, calls: int, threads: int) -> str:
    clock = (
        "CUDA events per call, L2 flushed before each"
        if device.startswith("cuda")
        else f"host perf_counter per call, {threads} torch threads"
    )
    return (
        f"{clock}; {opts.blocks} blocks of {calls} calls alternating with the other side "
        f"(hyena-bench ab, ABBA order) after >= {WARMUP_CALLS} warm-up calls and "
        f"{opts.timing.warmup_s:g} s"
    )


class SideProcess(WorkerProcess):
    """A worker whose `operators` come from its side's checkout (bench.ab_worker)."""

    def __init__(self, side: Side, opts: AbOptions) -> None:
        super().__init__(opts.device, None)
        self.side, self.ab = side, opts

    def entry(self, child: Any) -> tuple[Callable[..., None], tuple[Any, ...]]:
        timing = asdict(self.ab.timing)
        return ab_worker.main, (child, self.device, str(self.side.root), timing, self.ab.verify)

    def start(self) -> None:
        super().start()
        if not self.ready.get("ready"):
            reason = self.ready.get("reason", "no reason given")
            self.stop()
            raise WorkerStartError(
                f"{self.side.name.upper()} ({self.side.source}): this harness cannot measure "
                f"its operators package: {reason}"
            )


class Interleaver:
    """Measures every task on both sides, interleaved, writing each side's rows as they finish."""

    def __init__(
        self,
        sides: tuple[Side, Side],
        opts: AbOptions,
        on_row: Callable[[list[record.Row], int, int], None] | None = None,
    ) -> None:
        self.sides, self.opts = sides, opts
        self.on_row = on_row or (lambda rows, done, total: None)
        self.dirs = [opts.out / name for name in SIDE_NAMES]

    def prepare_dirs(self) -> list[str]:
        """Each side's run directory and env.json; returns the run ids."""
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-ab"
        device = torch.device(self.opts.device)
        ids = []
        for side, directory in zip(self.sides, self.dirs, strict=True):
            directory.mkdir(parents=True, exist_ok=True)
            env = envinfo.collect(device, run_id=f"{run_id}-{side.name}", **self.env_extra(side))
            store.write_json_atomic(directory / store.ENV_FILE, env)
            ids.append(env["run_id"])
        return ids

    def env_extra(self, side: Side) -> dict[str, Any]:
        """What env.json says of this side: its code's commit, and the A/B design."""
        harness = envinfo.git_info()
        other = self.sides[1 - SIDE_NAMES.index(side.name)]
        return {
            **(self.opts.env_extra or {}),
            "git_commit": side.commit,
            "git_dirty": side.dirty,
            "ab": {
                "side": side.name,
                "source": side.source,
                "operators": str(side.root),
                "ops": side.ops,
                "other_side": other.describe(),
                "harness_commit": harness["git_commit"],
                "harness_dirty": harness["git_dirty"],
                "blocks": self.opts.blocks,
            },
        }

    def run(self, tasks: list[Task]) -> dict[str, Any]:
        run_ids = self.prepare_dirs()
        procs = [SideProcess(side, self.opts) for side in self.sides]
        started = time.monotonic()
        try:
            with ThreadPoolExecutor(len(procs)) as pool:  # both import torch at once
                list(pool.map(SideProcess.start, procs))
            writers = [store.ResultsWriter(d) for d in self.dirs]
            with writers[0] as base_out, writers[1] as new_out:
                for done, task in enumerate(tasks, 1):
                    rows = self.row(task, procs, run_ids)
                    base_out.append(rows[0])
                    new_out.append(rows[1])
                    self.on_row(rows, done, len(tasks))
        finally:
            for proc in procs:
                proc.stop()
            for directory in self.dirs:
                env = envinfo.finish(store.read_env(directory), torch.device(self.opts.device))
                store.write_json_atomic(directory / store.ENV_FILE, env)
        return {"rows": len(tasks), "wall_s": time.monotonic() - started}

    def row(self, task: Task, procs: list[SideProcess], run_ids: list[str]) -> list[record.Row]:
        """Both sides' rows for one task."""
        t0 = time.perf_counter()
        timeout = self.opts.timeout_s
        identities, rows = [], []
        for side, proc, run_id in zip(self.sides, procs, run_ids, strict=True):
            identity = base_row(Task(side.op(task.op), task.config), run_id, self.opts.device)
            reply = proc.request(("prepare", identity["op"], task.config.as_dict()), timeout)
            identities.append(identity)
            rows.append({**identity, **reply})
        live = [i for i, r in enumerate(rows) if r["status"] == "ok"]
        if live:
            estimate = statistics.geometric_mean(max(rows[i]["estimate_ms"], 1e-6) for i in live)
            calls = calls_per_block(estimate, self.opts)
            live = self.blocks(procs, rows, live, calls)
            threads = rows[live[0]].get("threads", 1) if live else 1
            for i in live:
                timer = timer_text(self.opts.device, self.opts, calls, threads)
                rows[i].update(procs[i].request(("finish", timer), timeout))
        wall = round(time.perf_counter() - t0, 3)
        out = []
        for identity, row in zip(identities, rows, strict=True):
            row = {k: v for k, v in row.items() if k not in NOT_ROW_FIELDS}
            row.update(wall_s=wall, finished_at=envinfo.now())
            out.append(checked(row, identity))
        return out

    def blocks(
        self, procs: list[SideProcess], rows: list[record.Row], live: list[int], calls: int
    ) -> list[int]:
        """Time `blocks` rounds, ABBA; a side whose block fails is recorded and drops out (the
        other side finishes its blocks alone). Returns the sides still ok."""
        for b in range(self.opts.blocks):
            for i in (0, 1) if b % 2 == 0 else (1, 0):
                if i not in live:
                    continue
                reply = procs[i].request(("block", calls), self.opts.timeout_s)
                if reply.get("status") != "ok":
                    rows[i].update(status=reply["status"], reason=reply.get("reason", ""))
                    rows[i].update(samples_ms=[], reps=0)
                    if reply.get("worker_restarted"):
                        rows[i]["worker_restarted"] = True
                    live = [j for j in live if j != i]
        return live
