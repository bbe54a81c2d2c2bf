"""Thin access to NVIDIA's management library (nvidia-ml-py): clocks, power, temperature,
throttle reasons and the energy counter. Without a GPU every call says why it has no answer.
"""

from __future__ import annotations

import functools
from typing import Any

# Clock-event ("throttle") reasons that mean the GPU ran slower than it could.
THROTTLE_REASONS = {
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
}
# Reasons that are informational (idle, application clocks, sync boost), not throttling.
BENIGN_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x10: "sync_boost",
    0x100: "display_clock_setting",
}


@functools.cache
def _init() -> tuple[Any, str | None]:
    """The pynvml module, initialised, or None and the reason."""
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return None, f"NVML unavailable: {exc.__class__.__name__} ({exc})"
    return pynvml, None


def unavailable_reason() -> str | None:
    return _init()[1]


def handle(index: int) -> Any:
    nvml, reason = _init()
    if nvml is None:
        raise RuntimeError(reason)
    return nvml.nvmlDeviceGetHandleByIndex(index)


def _call(fn: str, *args: Any) -> Any:
    nvml, _ = _init()
    try:
        return getattr(nvml, fn)(*args)
    except (nvml.NVMLError, AttributeError):
        return None


def throttle_reasons(h: Any) -> list[str] | None:
    nvml, _ = _init()
    getter = (
        "nvmlDeviceGetCurrentClocksEventReasons"
        if hasattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons")
        else "nvmlDeviceGetCurrentClocksThrottleReasons"
    )
    mask = _call(getter, h)
    if mask is None:
        return None
    names = {**THROTTLE_REASONS, **BENIGN_REASONS}
    return [name for bit, name in names.items() if mask & bit]


def is_throttled(reasons: list[str] | None) -> bool | None:
    if reasons is None:
        return None
    return any(r in THROTTLE_REASONS.values() for r in reasons)


def snapshot(index: int) -> dict[str, Any]:
    """Clocks, power, temperature and throttle reasons of GPU `index` now."""
    nvml, reason = _init()
    if nvml is None:
        return {"reason": reason}
    h = handle(index)
    power = _call("nvmlDeviceGetPowerUsage", h)
    limit = _call("nvmlDeviceGetEnforcedPowerLimit", h)
    reasons = throttle_reasons(h)
    return {
        "sm_clock_mhz": _call("nvmlDeviceGetClockInfo", h, nvml.NVML_CLOCK_SM),
        "mem_clock_mhz": _call("nvmlDeviceGetClockInfo", h, nvml.NVML_CLOCK_MEM),
        "max_sm_clock_mhz": _call("nvmlDeviceGetMaxClockInfo", h, nvml.NVML_CLOCK_SM),
        "power_w": power / 1000 if power is not None else None,
        "power_limit_w": limit / 1000 if limit is not None else None,
        "temperature_c": _call("nvmlDeviceGetTemperature", h, nvml.NVML_TEMPERATURE_GPU),
        "throttle_reasons": reasons,
        "throttled": is_throttled(reasons),
    }


def driver_version() -> str | None:
    nvml, _ = _init()
    if nvml is None:
        return None
    version = _call("nvmlSystemGetDriverVersion")
    return version.decode() if isinstance(version, bytes) else version


def energy_mj(index: int) -> int | None:
    """The GPU's total-energy counter in millijoules (Volta and later), or None."""
    nvml, _ = _init()
    if nvml is None:
        return None
    return _call("nvmlDeviceGetTotalEnergyConsumption", handle(index))


def reading(h: Any) -> dict[str, Any]:
    """The few values a telemetry sampler polls, from a device handle (`handle(index)`): SM clock,
    power, temperature and clock-event reasons; a value NVML cannot give is None."""
    nvml, _ = _init()
    power = _call("nvmlDeviceGetPowerUsage", h)
    return {
        "sm_clock_mhz": _call("nvmlDeviceGetClockInfo", h, nvml.NVML_CLOCK_SM),
        "power_w": power / 1000 if power is not None else None,
        "temperature_c": _call("nvmlDeviceGetTemperature", h, nvml.NVML_TEMPERATURE_GPU),
        "throttle_reasons": throttle_reasons(h),
    }
