"""How CPU workers allocate memory: the glibc malloc setting given to the spawned CPU workers, and
its record for env.json and the report's method.

With glibc's defaults, a tensor larger than the mmap threshold (128 KiB, rising with use up to
32 MiB) is mmapped when allocated and unmapped when freed, so every call of an operator with large
temporaries faults in and zeroes fresh pages: the row then measures the kernel's page handling as
much as the operator. `retain` keeps freed memory in the process (no mmap for large blocks, no
trimming of the heap top), so a call reuses the pages of the previous one, as a long-running
training process does. Measured by `python -m bench.allocator_study` (numbers in README.md).

A user's own MALLOC_* variables always win: the setting only fills in variables they left unset.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

ENV = "HYENA_BENCH_CPU_ALLOCATOR"  # selects a setting by name: glibc or retain
# Far above any tensor a CPU sweep holds (1 TiB): the heap top is never handed back to the OS
# between calls. bench.memory still calls malloc_trim(0) before it reads the resident set.
NEVER_TRIM = str(1 << 40)
SETTINGS: dict[str, dict[str, str]] = {
    "glibc": {},  # glibc's defaults: large blocks mmapped and unmapped on every call
    "retain": {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": NEVER_TRIM},
}
DEFAULT = "retain"
_SPAWN_LOCK = threading.Lock()  # os.environ is process-wide: one worker start at a time


class AllocatorError(ValueError):
    """An unknown setting name in HYENA_BENCH_CPU_ALLOCATOR."""


def chosen() -> str:
    """The setting named by HYENA_BENCH_CPU_ALLOCATOR, else DEFAULT."""
    name = os.environ.get(ENV, "").strip() or DEFAULT
    if name not in SETTINGS:
        raise AllocatorError(f"{ENV}={name!r}: choose one of {', '.join(SETTINGS)}")
    return name


def user_variables() -> dict[str, str]:
    """MALLOC_* variables the user set: these are never overridden."""
    return {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}


def applied(device_type: str) -> dict[str, str]:
    """The variables a worker on `device_type` gets on top of the user's environment (CPU only:
    a GPU worker's host allocations are small and outside the timed kernels)."""
    if device_type != "cpu":
        return {}
    user = user_variables()
    return {k: v for k, v in SETTINGS[chosen()].items() if k not in user}


def describe(device_type: str) -> dict[str, Any]:
    """For env.json: the setting's name, what the workers got, and the user's own variables."""
    return {
        "setting": chosen() if device_type == "cpu" else "not applied (no CPU worker)",
        "applied": applied(device_type),
        "user": user_variables(),
    }


def method_text(info: dict[str, Any] | None) -> str:
    """One sentence for the report's method, from env.json's `cpu.allocator` record."""
    if not info:
        return "CPU allocator: not recorded (glibc's defaults unless the environment said else)."
    variables = {**(info.get("user") or {}), **(info.get("applied") or {})}
    shown = " ".join(f"{k}={v}" for k, v in sorted(variables.items())) or "none"
    return (
        f"CPU allocator: glibc malloc, setting `{info.get('setting')}` (environment: {shown}); "
        "`retain` keeps freed memory in the worker so that a call does not fault in fresh pages "
        "that the previous call gave back (bench/allocator.py)."
    )


@contextlib.contextmanager
def worker_environment(device_type: str) -> Iterator[dict[str, str]]:
    """os.environ with the setting's variables while a worker process is spawned (it inherits
    the environment at start); restored afterwards."""
    extra = applied(device_type)
    with _SPAWN_LOCK:
        saved = {k: os.environ.get(k) for k in extra}
        os.environ.update(extra)
        try:
            yield extra
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
