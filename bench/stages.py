"""Where the time of one call goes: run a case with its named stages enabled under torch.profiler
and attribute time to each stage. Shared by `hyena-bench profile` and `hyena-bench run --stages`.

A stage is a `record_function` range opened by `operators.case.stage` (ranges nested in a stage
count towards the outermost one). Its time is:
- on the CPU: the range's wall time on the host (ops run synchronously inside it);
- on CUDA: the GPU time of the kernels launched inside it, not the CPU launch time. The profiler
  links each kernel (via CUPTI correlation ids) to the op or range that launched it, and a range's
  `device_time_total` sums the kernel durations of everything it encloses.
Backward ops run outside the forward ranges (on CUDA, on autograd's device thread). Each carries
the sequence number of the forward op that created it, so its time goes to the stage that
enclosed that op, kept apart as backward time.
"""

from __future__ import annotations

import statistics
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.profiler import ProfilerActivity, record_function

from bench.timing import WARMUP_CALLS
from operators.case import Case
from operators.config import Config
from operators.registry import OperatorSpec

STEP_RANGE = "bench.step"  # the range around each profiled call
BACKWARD_PREFIX = "autograd::engine::evaluate_function: "  # one backward node's work
STAGE_REPS = 5  # profiled calls behind each median: enough to shrug off one slow call
STAGE_WARMUP_CALLS = 1  # run --stages follows the timing of the same config: caches are warm

ONE_CYCLE_WARNING = ".*Profiler clears events at the end of each cycle"  # torch 2.11 warns
Event = Any  # torch.autograd.profiler_util.FunctionEvent


@dataclass(frozen=True)
class StepTimes:
    """One profiled call, in microseconds: each stage's forward and backward time, how many
    ranges of each stage it entered, and the call's total (staged or not)."""

    forward: dict[str, float]
    backward: dict[str, float]
    ranges: dict[str, int]
    total_us: float

    def stage_us(self) -> dict[str, float]:
        """Forward plus backward time per stage."""
        names = [*self.forward, *(n for n in self.backward if n not in self.forward)]
        return {n: self.forward.get(n, 0.0) + self.backward.get(n, 0.0) for n in names}


def activities(device: torch.device) -> list[ProfilerActivity]:
    return [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])


def profile_case(
    case: Case,
    device: torch.device,
    reps: int,
    *,
    warmup_calls: int = WARMUP_CALLS,
    detail: bool = False,
) -> torch.profiler.profile:
    """Warm up, then profile `reps` calls of `case.step`, each inside a STEP_RANGE range.
    `detail` adds input shapes and memory events (for the trace; it slows ops down a little)."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup_calls):
        case.step()
        sync()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=ONE_CYCLE_WARNING)  # one session, one cycle
        with torch.profiler.profile(
            activities=activities(device), record_shapes=detail, profile_memory=detail
        ) as prof:
            for _ in range(reps):
                with record_function(STEP_RANGE):
                    case.step()
                sync()
    return prof


def busy_us(event: Event, device_type: str) -> float:
    """The time an event accounts for: host wall time on CPU, its kernels' GPU time on CUDA."""
    return event.device_time_total if device_type == "cuda" else event.cpu_time_total


def walk(event: Event, stage: str | None = None) -> Iterator[tuple[Event, str | None, bool]]:
    """Every event under `event`, in start order, with the outermost stage enclosing it and
    whether the event is that stage's range itself."""
    for child in event.cpu_children:
        if child.name.startswith(BACKWARD_PREFIX):
            continue  # backward work is attributed through sequence numbers instead
        opens = stage is None and bool(child.is_user_annotation) and child.name != STEP_RANGE
        inner = child.name if opens else stage
        yield child, inner, opens
        yield from walk(child, inner)


def backward_roots(events: Sequence[Event]) -> list[Event]:
    """Backward-node events not nested inside another one."""

    def nested(e: Event) -> bool:
        parent = e.cpu_parent
        while parent is not None:
            if parent.name.startswith(BACKWARD_PREFIX):
                return True
            parent = parent.cpu_parent
        return False

    return [e for e in events if e.name.startswith(BACKWARD_PREFIX) and not nested(e)]


def within(event: Event, step: Event) -> bool:
    return step.time_range.start <= event.time_range.start <= step.time_range.end


def one_step(step: Event, backward: Sequence[Event], device_type: str) -> StepTimes:
    """Stage times of the call inside the `step` range; `backward` holds the backward-node events
    that ran during it (on CUDA, on autograd's device thread, outside the range's own time)."""
    forward: defaultdict[str, float] = defaultdict(float)
    ranges: Counter[str] = Counter()
    owner: dict[tuple[int, int], str | None] = {}  # (thread, sequence_nr) -> enclosing stage
    for event, stage, opens in walk(step):
        if event.sequence_nr >= 0:  # the op creating node s is the last to report s
            owner[(event.thread, event.sequence_nr)] = stage
        if opens and stage is not None:
            forward[stage] += busy_us(event, device_type)
            ranges[stage] += 1
    back: defaultdict[str, float] = defaultdict(float)
    total = busy_us(step, device_type)
    for b in backward:
        stage = owner.get((b.fwd_thread, b.sequence_nr))
        if stage is not None:
            back[stage] += busy_us(b, device_type)
        if b.thread != step.thread:
            total += busy_us(b, device_type)  # not part of the range's own time
    return StepTimes(dict(forward), dict(back), dict(ranges), total)


def step_times(events: Sequence[Event], device_type: str) -> list[StepTimes]:
    """Per-call stage times from the events of a `profile_case` session."""
    steps = [e for e in events if e.name == STEP_RANGE]
    roots = backward_roots(events)
    return [one_step(s, [b for b in roots if within(b, s)], device_type) for s in steps]


def median_stage_ms(steps: Sequence[StepTimes]) -> dict[str, float]:
    """Median over calls of each stage's time (forward plus backward), in ms."""
    per_step = [s.stage_us() for s in steps]
    names = list(dict.fromkeys(n for times in per_step for n in times))
    return {n: statistics.median(t.get(n, 0.0) for t in per_step) / 1e3 for n in names}


def stage_times(
    spec: OperatorSpec, config: Config, device: torch.device, reps: int = STAGE_REPS
) -> dict[str, float]:
    """ms per named stage for one call (median over `reps` profiled calls); forward plus backward
    in fwd_bwd mode. CPU: host wall time of the stage's ranges. CUDA: GPU time of the kernels
    launched inside them, by the profiler's kernel-to-range attribution (see the module doc).
    Empty for an implementation without named stages."""
    device = torch.device(device)
    case = spec.build(config, device, stages=True)
    prof = profile_case(case, device, reps, warmup_calls=STAGE_WARMUP_CALLS)
    return median_stage_ms(step_times(prof.events(), device.type))
