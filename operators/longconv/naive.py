"""Direct causal convolution with O(L²) work: a grouped conv1d whose kernel is the full filter.

The baseline that needs no transform: exact in the input dtype's arithmetic, quadratic in L.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from operators import counts
from operators.hyena import register_longconv


def causal_conv(u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Left-pad by L-1 and cross-correlate with the flipped filter: y[t] = sum_s h[s]·u[t-s]."""
    d, n = h.shape
    weight = h.flip(-1).unsqueeze(1)  # (D, 1, L): conv1d cross-correlates, so flip for convolution
    y = F.conv1d(F.pad(u, (n - 1, 0)), weight, groups=d)
    return y + bias[:, None] * u


register_longconv(
    "naive",
    causal_conv,
    "direct causal convolution: grouped conv1d with the full-length filter, O(L²) work, "
    "in the input dtype",
    issued=counts.direct_conv_issued,
)
