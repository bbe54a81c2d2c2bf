"""Which rows a sweep measures (`plan`) and how they split into balanced shards (`--shard k/n`,
`--executor ... --jobs n`).

A shard holds whole implementation groups (one implementation at one shape, all its lengths in
ascending order), so the runner's OOM and --max-call-ms skips see every length before the next.
Groups are assigned to shards by an estimate of their cost (`row_seconds`: FLOPs over an
effective rate for the kind of operator, plus the timer's fixed costs), largest first to the
least loaded shard. Where whole groups cannot balance (fewer heavy groups than shards), the
heaviest group is cut at a length into pieces; a piece after the first starts by measuring the
length before it again, unrecorded (`Task.probe_seqlen`), so the skips decide as they would in
one piece. docs/SCALEOUT.md explains the model and shows the balance it reaches.

The assignment depends only on the sweep, the device type and the plugin table, never on the
machine it is computed on: every job of a sharded run computes the same plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bench import defaults
from bench.sweep import Sweep
from operators import registry
from operators.config import Config
from operators.registry import OperatorSpec

# --- the cost model ------------------------------------------------------------------------------
# Effective rate of the counted work (spec.flops, plus the quadratic term of a direct
# convolution), FLOP/s, by device type and kind of operator. Only ratios and the size of a call
# against the timer's fixed costs matter, so one rate per kind is enough.
RATES: dict[str, dict[str, float]] = {
    # H200, layer level, fp16 (reports/baselines/nvidia-h200): SDPA flash 324-350 and cuDNN 454
    # TFLOP/s, hyena-fft 34 TFLOP/s. Not measured on a GPU, estimated: materialised attention is
    # bound by the L x L score traffic (~10 bytes per score at ~4.8 TB/s for ~128 counted FLOPs
    # per score: ~60 TFLOP/s); a direct convolution as a grouped conv1d, ~10 TFLOP/s.
    "cuda": {"fused": 350e12, "materialised": 50e12, "fft": 34e12, "direct": 10e12},
    # 2-core AMD EPYC, fp32, B=1, D=64, L=4k (reports/runs/cpu-2026-11-28): SDPA flash 0.096,
    # dense 0.0059, SDPA math 0.0066, hyena-fft 0.023 TFLOP/s; hyena-naive 0.030 TFLOP/s of its
    # direct work.
    "cpu": {"fused": 0.09e12, "materialised": 0.006e12, "fft": 0.023e12, "direct": 0.03e12},
}
# The kind of an implementation: its own `extra["cost_kind"]`, else this table, else its family's
# (attention: fused; Hyena: an FFT-class long convolution).
KIND_BY_NAME = {
    "attention-dense": "materialised",
    "attention-sdpa-math": "materialised",
    "hyena-naive": "direct",
}
KIND_BY_FAMILY = {"attention": "fused", "hyena": "fft"}
# Materialised attention holds B·H·L² scores twice (scores, softmax): above this it is an OOM,
# and longer lengths are skipped. 80 GiB: an A100/H100 (the H200 has 141); None: not modelled.
DEVICE_BYTES: dict[str, float | None] = {"cuda": 80 * 2**30, "cpu": None}
ROW_OVERHEAD_S = 0.2  # build, verification, process round trip (CPU smoke rows: 0.4 s at 0.15 s)
SKIPPED_ROW_S = 0.13  # a skipped row's wall_s in the CPU smoke run
ENERGY_WINDOW_S = 0.15  # bench.worker's NVML energy window (CUDA rows only)
PEAK_MEMORY_CALLS = 1  # bench.memory runs the step once more to measure its peak
# Cutting groups stops once the shards are this even: a cut costs one re-measured row, and 10% is
# within the cost model's own error.
SPLIT_TARGET = 1.10


@dataclass(frozen=True)
class Task:
    """One row to measure. `probe_seqlen`: measure this length of the same group first, without
    recording it, when the group's shorter lengths run in another shard (see module docstring)."""

    op: str
    config: Config
    probe_seqlen: int | None = None

    def group(self) -> tuple[Any, ...]:
        """Same implementation and shape except the length: OOM at one L skips longer L."""
        return (self.op, self.config.replace(seqlen=0))

    def key_row(self) -> dict[str, Any]:
        """The row fields that identify this task (bench.record.KEY_FIELDS)."""
        return {"op": self.op, **self.config.as_dict()}


def kind(spec: OperatorSpec) -> str:
    """fused, materialised, fft or direct: what decides how a row's time grows with L."""
    named = spec.extra.get("cost_kind") or KIND_BY_NAME.get(spec.name)
    return str(named) if named else KIND_BY_FAMILY.get(spec.family, "fused")


def work(spec: OperatorSpec, config: Config) -> float:
    """FLOPs one call does: the counted work, plus B·C·L² for a direct causal convolution
    (C channels convolved: D at core level, (order-1)·D in the layer)."""
    flops = spec.flops(config)
    if kind(spec) == "direct":
        channels = config.d_model * (1 if config.level == "core" else config.order - 1)
        flops += config.batch * channels * config.seqlen**2
    return flops


def out_of_memory(spec: OperatorSpec, config: Config, device_type: str) -> bool:
    limit = DEVICE_BYTES.get(device_type)
    if limit is None or kind(spec) != "materialised":
        return False
    element = {"fp64": 8, "fp32": 4, "fp16": 2, "bf16": 2}[config.dtype]
    return 2 * config.batch * config.heads * config.seqlen**2 * element > limit


def call_seconds(spec: OperatorSpec, config: Config, device_type: str) -> float:
    rates = RATES.get(device_type, RATES["cuda"])
    return work(spec, config) / rates[kind(spec)]


def row_seconds(call_s: float, device_type: str, target_s: float) -> float:
    """One measured row: fixed costs, warm-up, the timed repetitions (until the target time and
    the minimum count, bounded by the maximum count), the peak-memory call and the energy
    window, as bench.timing and bench.worker do them."""
    warm_up = max(defaults.WARMUP_S, defaults.WARMUP_CALLS * call_s)
    reps = max(defaults.MIN_REPS, min(defaults.MAX_REPS, int(target_s / max(call_s, 1e-9)) + 1))
    energy = max(ENERGY_WINDOW_S, call_s) if device_type == "cuda" else 0.0
    return ROW_OVERHEAD_S + warm_up + reps * call_s + PEAK_MEMORY_CALLS * call_s + energy


def group_costs(tasks: Sequence[Task], sweep: Sweep, device_type: str) -> list[float]:
    """Estimated seconds of each task of one group (lengths ascending), with the runner's skips:
    after a modelled OOM, a call slower than max_call_ms or a row past the timeout, longer
    lengths cost a skipped row."""
    spec = registry.get(tasks[0].op)
    target_s = sweep.target_s if sweep.target_s is not None else defaults.TARGET_S
    costs, stopped = [], False
    for task in tasks:
        if stopped:
            costs.append(SKIPPED_ROW_S)
            continue
        if out_of_memory(spec, task.config, device_type):
            costs.append(ROW_OVERHEAD_S)
            stopped = True
            continue
        call_s = call_seconds(spec, task.config, device_type)
        costs.append(min(row_seconds(call_s, device_type, target_s), defaults.ROW_TIMEOUT_S))
        too_slow = sweep.max_call_ms is not None and call_s * 1e3 > sweep.max_call_ms
        stopped = too_slow or costs[-1] >= defaults.ROW_TIMEOUT_S
    return costs


# --- planning ------------------------------------------------------------------------------------


def plan(
    sweep: Sweep, shard: tuple[int, int] | None = None, device_type: str = "cpu"
) -> list[Task]:
    """The sweep's tasks: lengths ascending, implementations in table order within a length, so
    a cut-off run leaves whole length columns. With `shard` (k, n), the k-th of n balanced
    shards (`split`), in the same order."""
    specs = registry.select(sweep.ops, sweep.families)
    tasks = [Task(s.name, c) for c in sweep.configs() for s in specs]
    if shard is None:
        return tasks
    k, n = shard
    return split(tasks, n, sweep, device_type)[k - 1].tasks


@dataclass(frozen=True)
class Piece:
    """Consecutive lengths of one group, measured together in one shard."""

    tasks: tuple[Task, ...]
    costs: tuple[float, ...]
    probe_cost: float = 0.0  # re-measuring the length before the piece (not its first piece)

    @property
    def cost(self) -> float:
        return sum(self.costs) + self.probe_cost


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int
    tasks: list[Task]
    cost: float  # estimated seconds

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


def pieces(tasks: Sequence[Task], sweep: Sweep, device_type: str) -> list[Piece]:
    """One piece per group, in the order groups first appear; lengths ascending within each."""
    groups: dict[Any, list[Task]] = {}
    for task in tasks:
        groups.setdefault(task.group(), []).append(task)
    found = []
    for members in groups.values():
        members.sort(key=lambda t: t.config.seqlen)
        found.append(Piece(tuple(members), tuple(group_costs(members, sweep, device_type))))
    return found


def cut(piece: Piece) -> tuple[Piece, Piece]:
    """The piece in two at the length that makes the larger half smallest; the second half
    re-measures the length before it (its probe) first."""

    def larger_half(at: int) -> float:
        head = sum(piece.costs[:at]) + piece.probe_cost
        return max(head, sum(piece.costs[at:]) + piece.costs[at - 1])

    at = min(range(1, len(piece.tasks)), key=larger_half)
    probe = piece.tasks[at - 1].config.seqlen
    head = Piece(piece.tasks[:at], piece.costs[:at], piece.probe_cost)
    tail = Piece(
        tuple(replace(t, probe_seqlen=probe) for t in piece.tasks[at:]),
        piece.costs[at:],
        piece.costs[at - 1],
    )
    return head, tail


def assign(units: Sequence[Piece], n: int) -> list[list[int]]:
    """Largest first to the least loaded shard (ties: lowest index): indices into `units`."""
    loads, members = [0.0] * n, [[] for _ in range(n)]
    for i in sorted(range(len(units)), key=lambda i: (-units[i].cost, i)):
        k = min(range(n), key=lambda k: (loads[k], k))
        loads[k] += units[i].cost
        members[k].append(i)
    return members


def loads(units: Sequence[Piece], members: list[list[int]]) -> list[float]:
    return [sum(units[i].cost for i in m) for m in members]


def ranked(units: Sequence[Piece], members: list[list[int]]) -> list[float]:
    """Shard costs, largest first: a cut is kept if it makes this smaller (compared as a list,
    so the most loaded shard never gets more, and a tie at the top counts one shard less)."""
    return sorted(loads(units, members), reverse=True)


def imbalance(units: Sequence[Piece], members: list[list[int]]) -> float:
    load = loads(units, members)
    mean = sum(load) / len(load)
    return max(load) / mean if mean > 0 else 1.0


def split(tasks: Sequence[Task], n: int, sweep: Sweep, device_type: str = "cpu") -> list[Shard]:
    """`tasks` in `n` shards of about equal estimated cost; each shard's tasks keep the order of
    `tasks` (lengths ascending). While the shards are more than SPLIT_TARGET apart, the largest
    piece whose cut makes the shards' costs smaller (`ranked`; the cut's probe included) is
    cut."""
    if n < 1:
        raise ValueError(f"need at least one shard, got {n}")
    units = pieces(tasks, sweep, device_type)
    members = assign(units, n)
    while n > 1 and imbalance(units, members) > SPLIT_TARGET:
        for i in sorted(range(len(units)), key=lambda i: (-units[i].cost, i)):
            if len(units[i].tasks) < 2:
                continue
            trial = [*units[:i], *cut(units[i]), *units[i + 1 :]]
            trial_members = assign(trial, n)
            if ranked(trial, trial_members) < ranked(units, members):
                units, members = trial, trial_members
                break
        else:
            break
    order = {(t.op, t.config): i for i, t in enumerate(tasks)}
    shards = []
    for k, member in enumerate(members, start=1):
        chosen = [t for i in member for t in units[i].tasks]
        here = {(t.op, t.config) for t in chosen}
        cost = sum(units[i].cost for i in member)
        for i in member:  # a piece whose previous length landed in this shard needs no probe
            first = units[i].tasks[0]
            if first.probe_seqlen is not None and (first.op, previous(first)) in here:
                cost -= units[i].probe_cost
                chosen = [
                    replace(t, probe_seqlen=None) if t in units[i].tasks else t for t in chosen
                ]
        chosen.sort(key=lambda t: order[(t.op, t.config)])
        shards.append(Shard(k, n, chosen, cost))
    return shards


def previous(task: Task) -> Config:
    return task.config.replace(seqlen=task.probe_seqlen)


def balance(shards: Sequence[Shard]) -> float:
    """Estimated cost of the most loaded shard over the mean (1.0: perfectly even)."""
    mean = sum(s.cost for s in shards) / len(shards)
    return max(s.cost for s in shards) / mean if mean > 0 else 1.0
