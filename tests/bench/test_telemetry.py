"""bench.telemetry: GPU clocks, power, temperature and throttling sampled during a row; on a
machine without a GPU or NVML, a clear reason instead (tested for real, not mocked)."""

from __future__ import annotations

import time

import pytest
import torch

from bench import nvml
from bench.telemetry import (
    TelemetrySampler,
    summarize,
    telemetry_unavailable_reason,
    unavailable_message,
)

NO_NVML = nvml.unavailable_reason()
HAS_GPU = torch.cuda.is_available() and NO_NVML is None


def test_cpu_device_has_no_telemetry_and_says_why() -> None:
    reason = telemetry_unavailable_reason(torch.device("cpu"))
    assert reason is not None and "needs a CUDA GPU (running on cpu)" in reason
    assert unavailable_message("cpu") == f"telemetry unavailable: {reason}"


@pytest.mark.skipif(NO_NVML is None, reason="NVML is present here")
def test_without_nvml_the_sampler_records_nothing_and_says_why() -> None:
    assert "NVML unavailable" in telemetry_unavailable_reason(torch.device("cuda"))
    with TelemetrySampler(0) as sampler:
        time.sleep(0.01)
    summary = sampler.summary()
    assert summary["samples"] == 0 and summary["throttled"] is None
    assert summary["reason"] == NO_NVML and "NVML" in summary["reason"]
    assert summary["sm_clock_mhz"] == {"min": None, "median": None, "max": None}


def test_summary_statistics_and_throttling() -> None:
    samples = [
        {"t": 0.0, "sm_clock_mhz": 1980, "power_w": 300.0, "temperature_c": 60,
         "throttle_reasons": []},
        {"t": 0.1, "sm_clock_mhz": 1500, "power_w": 700.0, "temperature_c": 70,
         "throttle_reasons": ["sw_power_cap"]},
        {"t": 0.2, "sm_clock_mhz": 1700, "power_w": None, "temperature_c": 65,
         "throttle_reasons": ["gpu_idle"]},
    ]  # fmt: skip
    summary = summarize(samples)
    assert summary["samples"] == 3 and summary["duration_s"] == pytest.approx(0.2)
    assert summary["sm_clock_mhz"] == {"min": 1500, "median": 1700, "max": 1980}
    assert summary["power_w"] == {"median": 500.0, "max": 700.0}
    assert summary["temperature_c"]["max"] == 70
    assert summary["throttle_reasons"] == ["gpu_idle", "sw_power_cap"]
    assert summary["throttled"] is True and "reason" not in summary


def test_benign_reasons_are_not_throttling() -> None:
    idle = {"t": 0.0, "sm_clock_mhz": 345, "throttle_reasons": ["gpu_idle", "sync_boost"]}
    assert summarize([idle])["throttled"] is False
    assert summarize([{**idle, "throttle_reasons": None}])["throttled"] is None


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TelemetrySampler(0, hz=0)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU with NVML")
def test_sampler_reads_the_gpu_while_it_works() -> None:
    assert telemetry_unavailable_reason(torch.device("cuda")) is None
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
    with TelemetrySampler(0, hz=20) as sampler:
        deadline = time.perf_counter() + 0.5
        while time.perf_counter() < deadline:
            a @ a
            torch.cuda.synchronize()
    summary = sampler.summary()
    assert 5 <= summary["samples"] <= 20 * 0.5 * 2 + 2  # about 20 Hz over 0.5 s
    clock = summary["sm_clock_mhz"]
    assert 0 < clock["min"] <= clock["median"] <= clock["max"]
    assert summary["power_w"]["max"] > 0 and summary["temperature_c"]["max"] > 0
    assert isinstance(summary["throttled"], bool)
    assert set(summary["throttle_reasons"]) <= {
        *nvml.THROTTLE_REASONS.values(),
        *nvml.BENIGN_REASONS.values(),
    }
