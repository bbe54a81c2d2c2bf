"""Peak memory of one call, above what was allocated before it (inputs and weights), and what a
failed allocation looks like (`is_oom`).

CUDA: torch's caching allocator statistics (reset the peak, read max_memory_allocated).
CPU, best effort: the process's resident-set high-water mark (VmHWM) above its resident set
before the call, after returning freed heap pages to the OS (glibc malloc_trim) and resetting the
high-water mark (/proc/self/clear_refs). It counts every allocation of the process, not only
tensors, so treat it as an upper bound; Linux with glibc only, else "unavailable".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

CPU_METHOD = "VmHWM - VmRSS before (after malloc_trim; peak reset via /proc/self/clear_refs)"
CUDA_METHOD = "torch.cuda.max_memory_allocated - memory_allocated before"


@dataclass(frozen=True)
class PeakMemory:
    fwd_bytes: int | None
    bwd_bytes: int | None  # None in forward-only mode
    total_bytes: int | None  # peak above the starting point over forward and backward
    method: str


def _proc_status() -> dict[str, int]:
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            key, value = line.split(":")
            values[key] = int(value.split()[0]) * 1024
    return values


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def _cpu_reset() -> bool:
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    libc.malloc_trim(0)  # give freed pages back, so the resident set is what is live now
    try:
        Path("/proc/self/clear_refs").write_text("5")  # "5" resets the peak RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


class _Tracker:
    """Allocated bytes now, and a resettable peak, for one device."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"

    def current(self) -> int:
        if self.cuda:
            return torch.cuda.memory_allocated(self.device)
        return _proc_status()["VmRSS"]

    def reset(self) -> bool:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return True
        return _cpu_reset()

    def peak(self) -> int:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device)
        return _proc_status()["VmHWM"]


def is_oom(exc: BaseException) -> bool:
    """Is `exc` an allocation that failed (CUDA or CPU)? Such a failure is a result (status oom),
    not an error."""
    if isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "DefaultCPUAllocator: can't allocate" in text
    )


def measure_peak(
    forward: Callable[[], Any],
    backward: Callable[[Any], None] | None,
    device: torch.device,
    before: Callable[[], None] | None = None,
) -> PeakMemory:
    """Peak bytes above the starting allocation during forward, and during backward.

    `before` runs before the starting allocation is read: e.g. dropping the gradients a timed
    step left behind, which would otherwise count in the baseline and be freed inside the
    measured window (hiding that much of the backward's peak)."""
    if before is not None:
        before()
    tracker = _Tracker(device)
    if not tracker.reset():
        return PeakMemory(None, None, None, "unavailable (cannot reset the peak RSS)")
    base = tracker.current()
    out = forward()
    fwd = max(0, tracker.peak() - base)
    bwd = total = None
    if backward is not None:
        tracker.reset()
        before_bwd = tracker.current()
        backward(out)
        bwd = max(0, tracker.peak() - before_bwd)
        total = max(fwd, before_bwd - base + bwd)
    del out
    return PeakMemory(
        fwd, bwd, fwd if total is None else total, CUDA_METHOD if tracker.cuda else CPU_METHOD
    )
