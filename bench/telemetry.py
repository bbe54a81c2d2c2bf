"""GPU telemetry during a measured row: a background thread polls NVML for the SM clock, power,
temperature and clock-event ("throttle") reasons; the summary says whether the GPU throttled.

Without a GPU or NVML nothing is sampled and the summary (and `telemetry_unavailable_reason`)
says why; telemetry never stops a measurement.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import torch

from bench import nvml

DEFAULT_HZ = 15.0  # 10-20 Hz: catches a throttling episode of a few tenths of a second
JOIN_TIMEOUT_S = 2.0  # an NVML call that hangs must not hang the row
Sample = dict[str, Any]


def telemetry_unavailable_reason(device: torch.device | str) -> str | None:
    """Why GPU telemetry cannot be sampled for `device`, or None when it can."""
    device = torch.device(device)
    reasons = []
    if device.type != "cuda":
        reasons.append(f"needs a CUDA GPU (running on {device.type})")
    nvml_reason = nvml.unavailable_reason()
    if nvml_reason:
        reasons.append(nvml_reason)
    return "; ".join(reasons) or None


def unavailable_message(device: torch.device | str) -> str | None:
    """The one warning line for `run --telemetry` where telemetry cannot run, else None."""
    reason = telemetry_unavailable_reason(device)
    return f"telemetry unavailable: {reason}" if reason else None


class TelemetrySampler:
    """`with TelemetrySampler(index): ...` samples GPU `index` (NVML numbering) at `hz` from a
    background thread, once more on exit; `summary()` afterwards."""

    def __init__(self, index: int, hz: float = DEFAULT_HZ) -> None:
        if hz <= 0:
            raise ValueError(f"sampling rate must be positive, got {hz}")
        self.index, self.period_s = index, 1.0 / hz
        self.samples: list[Sample] = []
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> TelemetrySampler:
        self.reason = nvml.unavailable_reason()
        if self.reason is not None:
            return self
        try:
            h = nvml.handle(self.index)
        except Exception as exc:  # a bad index or a lost GPU: no telemetry, the row goes on
            self.reason = f"NVML has no GPU {self.index}: {exc}"
            return self
        self._thread = threading.Thread(
            target=self._run, args=(h,), name=f"telemetry-gpu{self.index}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)

    def _run(self, h: Any) -> None:
        self._take(h)
        while not self._stop.wait(self.period_s):
            self._take(h)
        self._take(h)  # a row shorter than one period still gets a first and a last reading

    def _take(self, h: Any) -> None:
        self.samples.append({"t": time.perf_counter(), **nvml.reading(h)})

    def summary(self) -> dict[str, Any]:
        return summarize(self.samples, self.reason)


def spread(values: Sequence[float], keys: Sequence[str]) -> dict[str, float | None]:
    """The named statistics (min, median, max) of `values`; None each when there are none."""
    funcs = {"min": min, "median": statistics.median, "max": max}
    return {k: (funcs[k](values) if values else None) for k in keys}


def summarize(samples: Sequence[Sample], reason: str | None = None) -> dict[str, Any]:
    """Statistics of the samples; `throttled` is None when no reading of the reasons exists."""

    def values(key: str) -> list[float]:
        return [s[key] for s in samples if s.get(key) is not None]

    readings = [s["throttle_reasons"] for s in samples if s.get("throttle_reasons") is not None]
    seen = sorted({name for reasons in readings for name in reasons})
    summary: dict[str, Any] = {
        "samples": len(samples),
        "duration_s": samples[-1]["t"] - samples[0]["t"] if samples else 0.0,
        "sm_clock_mhz": spread(values("sm_clock_mhz"), ("min", "median", "max")),
        "power_w": spread(values("power_w"), ("median", "max")),
        "temperature_c": spread(values("temperature_c"), ("median", "max")),
        "throttle_reasons": seen,
        "throttled": nvml.is_throttled(seen) if readings else None,
    }
    if reason:
        summary["reason"] = reason
    return summary
