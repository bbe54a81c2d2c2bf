"""The float64 check of one row, at the shape that is timed: the row's length, level, dtype and
mode, at the smallest batch that runs the same kernel variant and plan (OperatorSpec.verify_config);
the forward always, and in fwd_bwd mode the gradients of every input and parameter.

A check is made only when its reference fits a budget on this device: memory from the reference's
cost model (operators.check_cost) against what is free now; time from the same setting's longest
check so far, scaled by the model's ratio of work, where that ratio is at most MAX_WORK_SCALE (if
no such check exists, one is made first at half the length, and so on down to
CALIBRATION_SEQLEN). A check over budget, or one whose reference runs out of memory, leaves the
row `verified` null with the reason: a row is never marked verified after a check of another shape.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.defaults import ROW_TIMEOUT_S
from bench.memory import is_oom
from operators.check_cost import CheckCost, reference_cost
from operators.config import Config
from operators.registry import OperatorSpec
from operators.verify import verify, verify_gradients

# The check may take this share of the row's timeout: the build, the timed calls and the memory
# pass need the rest, and a row past its timeout loses its measurement.
BUDGET_SHARE_OF_TIMEOUT = 0.25
DEFAULT_BUDGET_S = ROW_TIMEOUT_S * BUDGET_SHARE_OF_TIMEOUT
# The reference may plan on this share of the memory free when the check starts: the cost
# model is right within about 2x, and the timed case is built after the check.
MEMORY_SHARE = 0.5
# Checks up to this length are made without an estimate (at the smoke shapes they take about a
# second on a loaded 2-core CPU, most of it fixed costs).
CALIBRATION_SEQLEN = 1024
# A check's time is scaled to at most this many times its work: a short check's time is mostly
# fixed costs (building the case, first calls), which would otherwise be scaled up as if they
# were work (on the 2-core CPU, 2026-11-29: a check of attention at L=256 took 1.2 s, at 3000,
# with 95x the work, 14.5 s). A longer target is preceded by a check at half its length.
MAX_WORK_SCALE = 8.0


@dataclass(frozen=True)
class Check:
    """The outcome of one check. `verified` None: not checked (`reason` says why)."""

    config: Config
    verified: bool | None
    max_rel_err: float | None = None
    max_rel_err_grad: float | None = None
    reason: str = ""
    seconds: float = 0.0
    estimate_s: float | None = None  # the estimate that refused a check (verified None)

    def fields(self) -> dict[str, Any]:
        """The row fields of this check (bench.record)."""
        fields: dict[str, Any] = {
            "verified": self.verified,
            "max_rel_err": self.max_rel_err,
            "verify_batch": self.config.batch,
            "verify_seqlen": self.config.seqlen,
            "verify_reason": self.reason or None,
        }
        if self.config.mode == "fwd_bwd":
            fields["max_rel_err_grad"] = self.max_rel_err_grad
        return fields


def free_bytes(device: torch.device) -> float:
    """Memory the reference could use now: CUDA free plus the caching allocator's unused
    reserve; CPU: MemAvailable (/proc/meminfo), or infinity where unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return float("inf")


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def shape(config: Config) -> str:
    return f"B={config.batch}, L={config.seqlen}"


class Checker:
    """Checks rows on one device; remembers every check (a shape is checked once per worker)."""

    def __init__(self, device: torch.device, budget_s: float = DEFAULT_BUDGET_S) -> None:
        self.device, self.budget_s = device, budget_s
        self.done: dict[tuple[str, Config], Check] = {}
        self.last: dict[tuple[str, Config], Check] = {}  # per setting: the longest check made

    def check(self, spec: OperatorSpec, config: Config) -> Check:
        """The check for a row timed at `config` (made now, or remembered)."""
        target = spec.verify_config(config)
        key = (spec.name, target)
        if key not in self.done:
            refused = self.over_budget(spec, target)
            self.done[key] = refused if refused is not None else self.run(spec, target)
        return self.done[key]

    def over_budget(self, spec: OperatorSpec, target: Config) -> Check | None:
        """A not-checked Check saying why the check at `target` is not made here, or None."""
        cost = reference_cost(target, spec.family)
        free = free_bytes(self.device)
        if cost.bytes > MEMORY_SHARE * free:
            why = (
                f"not checked: the float64 reference at {shape(target)} needs about "
                f"{gib(cost.bytes)}, over {MEMORY_SHARE:.0%} of the {gib(free)} free on "
                f"{self.device.type}"
            )
            return Check(target, None, reason=why)
        estimate = self.estimate_s(spec, target, cost)
        if estimate is not None and estimate > self.budget_s:
            why = (
                f"not checked: the float64 reference at {shape(target)} would take about "
                f"{estimate:.0f} s (scaled from a check at a shorter length), over the "
                f"{self.budget_s:.0f} s budget ({BUDGET_SHARE_OF_TIMEOUT:.0%} of the row timeout)"
            )
            return Check(target, None, reason=why, estimate_s=estimate)
        return None

    def estimate_s(self, spec: OperatorSpec, target: Config, cost: CheckCost) -> float | None:
        """Seconds the check at `target` would take (None: not estimated, short enough)."""
        if target.seqlen <= CALIBRATION_SEQLEN:
            return None
        before = self.last.get((spec.name, target.replace(seqlen=1)))
        if before is None or cost.work > MAX_WORK_SCALE * self.work(spec, before):
            before = self.check(spec, target.replace(seqlen=target.seqlen // 2))
        if before.verified is None:  # the shorter check was not made: scale its estimate
            if before.estimate_s is None:
                return None  # refused for memory: the memory test decides for this one too
            return before.estimate_s * cost.work / self.work(spec, before)
        return before.seconds * cost.work / self.work(spec, before)

    @staticmethod
    def work(spec: OperatorSpec, check: Check) -> float:
        return reference_cost(check.config, spec.family).work

    def run(self, spec: OperatorSpec, target: Config) -> Check:
        """Build the implementation at `target` and compare with float64 (and the gradients)."""
        t0 = time.perf_counter()
        case = spec.build(target, self.device)
        try:
            forward = verify(case)
            grad = verify_gradients(case) if target.mode == "fwd_bwd" else None
        except Exception as exc:
            if not is_oom(exc):
                raise
            return Check(
                target,
                None,
                reason=f"not checked: the float64 reference ran out of memory at {shape(target)}",
            )
        finally:
            del case
            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()  # the timed case gets the reference's memory back
        passed = forward.passed and (grad is None or grad.passed)
        check = Check(
            target,
            passed,
            forward.max_rel_err,
            grad.max_rel_err if grad is not None else None,
            seconds=time.perf_counter() - t0,
        )
        setting = (spec.name, target.replace(seqlen=1))
        if setting not in self.last or self.last[setting].config.seqlen < target.seqlen:
            self.last[setting] = check
        return check
