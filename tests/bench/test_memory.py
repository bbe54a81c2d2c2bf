"""Peak memory above the starting allocation, forward and backward."""

import pytest
import torch

from bench.memory import measure_peak

MIB = 1 << 20


def test_cpu_peak_sees_a_large_temporary():
    def forward():
        tmp = torch.ones(64 * MIB // 4)  # 64 MiB, freed before returning
        return tmp.sum()

    peak = measure_peak(forward, None, torch.device("cpu"))
    assert peak.fwd_bytes is not None and peak.fwd_bytes >= 60 * MIB
    assert peak.bwd_bytes is None and peak.total_bytes == peak.fwd_bytes


def test_gradients_of_the_last_step_are_not_in_the_baseline():
    """fwd_bwd: a timed step leaves gradients behind; dropped before the baseline (`before`), the
    backward's new gradient (64 MiB) is seen; left in, it would be freed inside the window and
    the backward's peak would hide under it."""
    x = torch.ones(16 * MIB, requires_grad=True)  # 64 MiB of fp32

    def forward():
        return (x * 2.0).sum()

    def backward(out):
        x.grad = None  # as Case.backward: no accumulation
        out.backward()

    backward(forward())  # the "timed step": leaves a 64 MiB gradient
    assert x.grad is not None

    def drop():
        x.grad = None

    peak = measure_peak(forward, backward, torch.device("cpu"), before=drop)
    assert peak.bwd_bytes >= 60 * MIB


@pytest.mark.gpu
def test_cuda_peak_forward_and_backward():
    x = torch.randn(1024, 1024, device="cuda", requires_grad=True)

    def forward():
        return (x @ x).sum()

    peak = measure_peak(forward, lambda out: out.backward(), torch.device("cuda"))
    assert peak.fwd_bytes >= 4 * MIB  # the 1024x1024 fp32 product
    assert peak.bwd_bytes >= 4 * MIB and peak.total_bytes >= peak.fwd_bytes
