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


@pytest.mark.gpu
def test_cuda_peak_forward_and_backward():
    x = torch.randn(1024, 1024, device="cuda", requires_grad=True)

    def forward():
        return (x @ x).sum()

    peak = measure_peak(forward, lambda out: out.backward(), torch.device("cuda"))
    assert peak.fwd_bytes >= 4 * MIB  # the 1024x1024 fp32 product
    assert peak.bwd_bytes >= 4 * MIB and peak.total_bytes >= peak.fwd_bytes
