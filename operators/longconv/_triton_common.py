"""Helpers for the Triton causal long convolutions: where a kernel can run, input checks, dtypes.

A Triton kernel is built either for the GPU or, when TRITON_INTERPRET=1 is set before the kernel's
module is imported, for Triton's CPU interpreter; the checks below follow how the kernel was built.
"""

from __future__ import annotations

import torch

try:
    import triton  # noqa: F401

    TRITON_IMPORT_ERROR: str | None = None
except ImportError as exc:  # the registry reports the reason; nothing falls back
    TRITON_IMPORT_ERROR = f"triton is not importable: {exc}"


def _interpreter_problem() -> str:
    """Triton 3.6's interpreter turns loop bounds into ints with int(array of shape (1,)), which
    NumPy 2.4 refuses (3.7 squeezes first); compiled kernels are unaffected."""
    try:
        import numpy
        import triton
    except ImportError:
        return ""
    version = lambda text: tuple(int(p) for p in text.split(".")[:2] if p.isdigit())  # noqa: E731
    if version(triton.__version__) < (3, 7) and version(numpy.__version__) >= (2, 4):
        return (
            f"triton {triton.__version__}'s interpreter cannot run with numpy "
            f"{numpy.__version__} (needs numpy < 2.4, or triton >= 3.7)"
        )
    return ""


INTERPRETER_PROBLEM = _interpreter_problem()

# The input dtypes the kernels accept; each is also the dtype of their tensor-core operands.
SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}

# fp32 operands: "ieee" keeps fp32 results exact-ish (the default "tf32" rounds operands to 10
# mantissa bits, about 1e-3 relative error); fp32 is the checking dtype here, not the fast path.
# fp16/bf16 operands ignore the setting; "tf32" is triton's own default, so nothing changes there.
FP32_DOT_PRECISION = "ieee"

# Persistent kernels: 2 programs per SM hide some latency, and their scratch slots (2M elements
# each: 64 KiB in fp16 at L=16k) stay within the H200's 50 MB L2 (264 x 64 KiB = 17 MB).
PROGRAMS_PER_SM = 2
# In the interpreter: few enough to be quick, more than one so that tests cover a program doing
# several rows and several slots side by side.
INTERPRETER_PROGRAMS = 3


def triton_available() -> tuple[bool, str]:
    """(True, "") when triton imports, else (False, why)."""
    if TRITON_IMPORT_ERROR is not None:
        return False, TRITON_IMPORT_ERROR
    return True, ""


def is_interpreted(kernel) -> bool:
    """Whether `kernel` was built for Triton's CPU interpreter (TRITON_INTERPRET=1 at import)."""
    return type(kernel).__name__ == "InterpretedFunction"


def runnable_reason(kernel, *tensors: torch.Tensor) -> str:
    """Empty when `kernel` can run on `tensors`, else the reason it cannot."""
    ok, why = triton_available()
    if not ok:
        return why
    if is_interpreted(kernel):
        if INTERPRETER_PROBLEM:
            return INTERPRETER_PROBLEM
        if any(t.device.type != "cpu" for t in tensors):
            return (
                "triton kernels were built for the interpreter (TRITON_INTERPRET=1): "
                "pass CPU tensors"
            )
        return ""
    if not torch.cuda.is_available():
        return "triton needs CUDA (or TRITON_INTERPRET=1 set before import, with CPU tensors)"
    if any(t.device.type != "cuda" for t in tensors):
        return "triton kernels were built for the GPU: pass CUDA tensors"
    return ""


def require_runnable(kernel, *tensors: torch.Tensor) -> None:
    """Raise RuntimeError saying why the Triton path cannot run here; never fall back."""
    why = runnable_reason(kernel, *tensors)
    if why:
        raise RuntimeError(why)


def check_inputs(
    u: torch.Tensor, h: torch.Tensor, bias: torch.Tensor, *gates: torch.Tensor | None
) -> None:
    """u (B, D, L), h (D, L), bias (D,), gates like u (or None), floating dtypes the kernels
    support, one device."""
    if u.dim() != 3 or h.dim() != 2 or bias.dim() != 1:
        raise ValueError(
            f"want u (B, D, L), h (D, L), bias (D,); got {tuple(u.shape)}, "
            f"{tuple(h.shape)}, {tuple(bias.shape)}"
        )
    B, D, L = u.shape
    if tuple(h.shape) != (D, L) or tuple(bias.shape) != (D,):
        raise ValueError(
            f"h must be {(D, L)} and bias {(D,)}; got {tuple(h.shape)}, {tuple(bias.shape)}"
        )
    for name, t in (("u", u), ("h", h), ("bias", bias)):
        if t.dtype not in SUPPORTED_DTYPES:
            raise TypeError(f"{name} has dtype {t.dtype}; supported: {SUPPORTED_DTYPES}")
    for gate in gates:
        if gate is not None and (tuple(gate.shape) != (B, D, L) or gate.dtype != u.dtype):
            raise ValueError(
                f"a gate must be {(B, D, L)} in {u.dtype}; got {tuple(gate.shape)} {gate.dtype}"
            )
    if any(t.device != u.device for t in (h, bias, *(g for g in gates if g is not None))):
        raise ValueError("u, h, bias and the gates must be on one device")
    if B == 0 or D == 0 or L == 0:
        raise ValueError(f"empty input {tuple(u.shape)}")


def dot_precision(dtype: torch.dtype) -> str:
    """The `input_precision` passed to tl.dot for operands of `dtype`."""
    return FP32_DOT_PRECISION if dtype == torch.float32 else "tf32"


def scratch_programs(device: torch.device, work_items: int) -> int:
    """Programs of a persistent kernel: PROGRAMS_PER_SM per SM on a GPU (their scratch slots
    then stay in L2), INTERPRETER_PROGRAMS in the interpreter; never more than the work."""
    if device.type == "cuda":
        sms = torch.cuda.get_device_properties(device).multi_processor_count
        return max(1, min(work_items, sms * PROGRAMS_PER_SM))
    return max(1, min(work_items, INTERPRETER_PROGRAMS))


def next_power_of_2(n: int) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())
