"""What this machine can run: CUDA, compute capability, Triton, dtypes.

Each check returns a reason string when a capability is missing (None when present), so that
`hyena-bench list` and skipped rows can say exactly why.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import torch

INTERPRET_ENV = "TRITON_INTERPRET"


def resolve_device(device: torch.device | str | None = None) -> torch.device:
    """`None`/"auto" means CUDA when present, else CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cuda_reason(device: torch.device) -> str | None:
    if not torch.cuda.is_available():
        return "needs a CUDA GPU (none found here)"
    if device.type != "cuda":
        return f"needs a CUDA GPU (running on {device.type})"
    return None


def compute_capability(device: torch.device) -> tuple[int, int] | None:
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_capability(device)


def sm_reason(device: torch.device, major: int, minor: int = 0) -> str | None:
    reason = cuda_reason(device)
    if reason:
        return reason
    cc = compute_capability(device)
    if cc is not None and cc < (major, minor):
        return f"needs compute capability >= {major}.{minor} (this GPU is {cc[0]}.{cc[1]})"
    return None


def triton_interpreting() -> bool:
    return os.environ.get(INTERPRET_ENV, "0") not in ("", "0")


@functools.cache
def triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def triton_reason(device: torch.device) -> str | None:
    """Triton kernels run on CUDA tensors, or on CPU tensors under TRITON_INTERPRET=1 (tests)."""
    if not triton_installed():
        return "needs Triton (not installed)"
    if device.type == "cuda":
        return cuda_reason(device)
    if triton_interpreting():
        return None
    return "Triton kernels need a CUDA GPU (TRITON_INTERPRET=1 runs them on the CPU, for tests)"


def missing(requirement: str, device: torch.device) -> str | None:
    """Reason `requirement` is not met on `device`, or None. Known: cuda, triton, smXY."""
    if requirement == "cuda":
        return cuda_reason(device)
    if requirement == "triton":
        return triton_reason(device)
    if requirement.startswith("sm") and requirement[2:].isdigit():
        digits = requirement[2:]
        return sm_reason(device, int(digits[:-1]), int(digits[-1]))
    raise ValueError(f"unknown requirement {requirement!r}")


def dtype_runs(dtype: str, device: torch.device) -> bool:
    """Whether plain tensor math in `dtype` runs on `device` (bf16 needs sm80 on CUDA)."""
    if device.type == "cuda" and dtype == "bf16":
        return sm_reason(device, 8, 0) is None
    return True
