"""The float64 check's cost model against the reference's measured peak memory on this CPU, and
its shape: work grows with L as the reference's algorithm does."""

import pytest
import torch

from bench.memory import measure_peak
from operators import registry
from operators.check_cost import reference_cost
from operators.config import Config
from operators.verify import reference_inputs, reference_weights

# The model is meant to be right within about 2x (bench/verification.py keeps half the free
# memory as headroom); measured 0.88x..1.49x at these shapes (2026-11-29, 2-core CPU).
LOW, HIGH = 0.4, 2.5


def reference_call(op: str, config: Config):
    """The reference alone (forward, and its autograd backward in fwd_bwd), as the check runs it."""
    case = registry.get(op).build(config, "cpu")
    grad = config.mode == "fwd_bwd"

    def run() -> None:
        with torch.set_grad_enabled(grad):
            weights = reference_weights(case, requires_grad=grad)
            out = case.reference(weights, *reference_inputs(case, requires_grad=grad))
            if grad:
                out.backward(case.grad_output.double())

    return run


@pytest.mark.parametrize("mode", ["fwd", "fwd_bwd"])
@pytest.mark.parametrize("level", ["core", "layer"])
@pytest.mark.parametrize(
    "op, seqlen", [("hyena-fft", 1024), ("hyena-fft", 8192), ("attention-dense", 4096)]
)
def test_the_memory_model_is_within_its_stated_error(op, seqlen, level, mode):
    config = Config(batch=1, seqlen=seqlen, d_model=64, heads=4, level=level, mode=mode)
    peak = measure_peak(reference_call(op, config), None, torch.device("cpu")).fwd_bytes
    model = reference_cost(config, registry.get(op).family).bytes
    assert LOW * peak <= model <= HIGH * peak, (model / 2**20, peak / 2**20)


def test_work_follows_the_algorithm():
    def work(family: str, n: int, level: str = "core") -> float:
        config = Config(batch=1, seqlen=n, d_model=64, heads=4, level=level)
        return reference_cost(config, family).work

    assert work("attention", 65536) / work("attention", 32768) == pytest.approx(4, rel=0.05)
    fft = work("hyena", 1 << 20) / work("hyena", 1 << 19)  # FFT regime: L log L
    assert 2.0 < fft < 2.2
    assert work("hyena", 512) / work("hyena", 256) == pytest.approx(4)  # direct: L²
    fwd_bwd = Config(batch=1, seqlen=4096, d_model=64, heads=4, mode="fwd_bwd")
    assert (
        reference_cost(fwd_bwd, "hyena").work
        > reference_cost(fwd_bwd.replace(mode="fwd"), "hyena").work
    )
