"""A third-party plugin used by the tests, discovered through the `hyena_bench.operators` entry
point (tests/plugins/*.dist-info declares it: put tests/plugins on PYTHONPATH). Besides one honest
implementation (`plugin-fft`), it holds test-only operators that fail on purpose at L >= FAIL_AT
(an injected OOM, an exception, a hard crash of the worker, a hang past the timeout, a CUDA
error that is not an OOM, the death of the whole run), a wrong one, and two kinds of regression for
the speed gates' tests: `test-planted-*`, real implementations made slower on request, and
`test-hyena-fft-quarter-again`, hyena-fft with real extra work (the long convolution computed a
second time on a quarter of the input).
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import signal
import time

import torch

from operators import counts, registry
from operators.case import Case
from operators.config import Config
from operators.hyena import build_case
from operators.longconv import fft
from operators.registry import OperatorSpec

FAIL_AT = 512  # lengths at or above this fail; shorter ones run the real FFT convolution
SLEEP_S = float(os.environ.get("HYENA_BENCH_TEST_SLEEP", "60"))
# "4.0": each test-planted-* call busy-waits 4x its own duration after the real work (5x the
# time). Read by every process that loads the plugin, so the runner and its workers agree.
SLOWDOWN_ENV = "HYENA_BENCH_TEST_SLOWDOWN"
PLANTED = ("hyena-fft", "attention-sdpa-math")  # the implementations the gate tests sweep
QUARTER = 4  # test-hyena-fft-quarter-again convolves the first 1/QUARTER of the input again


def _spec(name: str, fail: object, detail: str) -> OperatorSpec:
    def build(config: Config, device: torch.device, stages: bool = False):
        if config.seqlen >= FAIL_AT and fail is not None:
            fail()
        return build_case(fft.causal_conv, config, torch.device(device), stages)

    return OperatorSpec(
        name=name,
        family="hyena",
        build=build,
        flops=counts.hyena_flops,
        bytes=counts.hyena_bytes,
        detail=detail,
        source="hyena-bench-testops",
    )


def _oom() -> None:
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. (injected by test-oom)")


def _raise() -> None:
    raise RuntimeError("injected by test-error")


def _cuda_error() -> None:
    raise RuntimeError("CUDA error: an illegal memory access was encountered (injected)")


def _exit() -> None:
    os._exit(3)


def _segfault() -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def _hang() -> None:
    time.sleep(SLEEP_S)


def _kill_runner() -> None:
    """The whole job dies, as under a pre-emption or the host's OOM killer: the worker kills
    the runner process that spawned it, then ends itself."""
    os.kill(os.getppid(), signal.SIGKILL)
    os._exit(9)


def _wrong_conv(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return fft.causal_conv(u, h, bias) * 1.01  # 1% off: a wrong implementation


def _quarter_again_conv(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The FFT convolution, then the same convolution again on the first quarter of the input,
    its result thrown away: a correct but slower kernel, as a careless change would make."""
    y = fft.causal_conv(u, h, bias)
    quarter = max(1, u.shape[-1] // QUARTER)
    fft.causal_conv(u[..., :quarter], h[..., :quarter], bias)
    return y


def _conv_spec(name: str, conv, detail: str) -> OperatorSpec:
    """A Hyena operator with this long convolution (test-only: a wrong one, a slower one)."""

    def build(config: Config, device: torch.device, stages: bool = False):
        return build_case(conv, config, torch.device(device), stages)

    return OperatorSpec(
        name=name,
        family="hyena",
        build=build,
        flops=counts.hyena_flops,
        bytes=counts.hyena_bytes,
        detail=detail,
        source="hyena-bench-testops",
    )


@dataclasses.dataclass
class SlowedCase(Case):
    """A real case whose timed call is followed by busy-waiting `extra` times its own duration:
    measurably more work, as a real regression would be, with the same output."""

    extra: float = 0.0

    def step(self) -> None:
        t0 = time.perf_counter()
        super().step()
        if self.inputs[0].is_cuda:
            torch.cuda.synchronize(self.inputs[0].device)
        deadline = time.perf_counter() + (time.perf_counter() - t0) * self.extra
        while time.perf_counter() < deadline:
            pass


def planted_slowdown() -> float:
    return float(os.environ.get(SLOWDOWN_ENV) or 0.0)


def _planted_spec(name: str) -> OperatorSpec:
    """`name` from the table (built-ins are loaded before entry points), renamed and slowed."""
    real, extra = registry.get(name), planted_slowdown()

    def build(config: Config, device: torch.device, stages: bool = False) -> Case:
        case = real.build(config, device, stages)
        fields = {f.name: getattr(case, f.name) for f in dataclasses.fields(case)}
        return SlowedCase(**fields, extra=extra)

    return dataclasses.replace(
        real,
        name=f"test-planted-{name}",
        build=build,
        detail=f"test only: {name}, then a busy-wait of {extra:g}x its time ({SLOWDOWN_ENV})",
        source="hyena-bench-testops",
    )


def specs() -> list[OperatorSpec]:
    return [
        *(_planted_spec(name) for name in PLANTED),
        _spec("plugin-fft", None, "the FFT convolution, registered through an entry point"),
        _spec("test-oom", _oom, "test only: raises torch.cuda.OutOfMemoryError at L >= 512"),
        _spec("test-error", _raise, "test only: raises RuntimeError at L >= 512"),
        _spec("test-exit", _exit, "test only: the worker calls os._exit(3) at L >= 512"),
        _spec("test-segfault", _segfault, "test only: the worker segfaults at L >= 512"),
        _spec("test-hang", _hang, "test only: sleeps past the timeout at L >= 512"),
        _spec("test-kill-runner", _kill_runner, "test only: kills the runner at L >= 512"),
        _spec("test-cuda-error", _cuda_error, "test only: a CUDA error (not OOM) at L >= 512"),
        _conv_spec("test-wrong", _wrong_conv, "test only: 1% off the true result"),
        _conv_spec(
            "test-hyena-fft-quarter-again",
            _quarter_again_conv,
            "test only: hyena-fft, plus its long convolution again on a quarter of the input",
        ),
    ]
