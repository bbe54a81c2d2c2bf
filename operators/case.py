"""A ready-to-call measurement case: a module, its inputs, and the float64 reference it is checked
against.

The runner times `step()` and knows nothing about what the module computes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from operators.config import Config

SEED = 1234  # one seed for weights and inputs, so family members see identical problems


# reference(weights, *inputs) -> output in float64: the function the case computes, written from
# its definition (operators.reference), given the module's state dict (in float64) and the inputs.
Reference = Callable[..., torch.Tensor]


@dataclass
class Case:
    """`module(*inputs)` is the measured computation; `reference(weights, *inputs)` computes the
    same function in float64 from `module`'s state dict without calling the module's code (for
    `operators.verify`)."""

    config: Config
    module: nn.Module
    inputs: tuple[torch.Tensor, ...]
    reference: Reference
    grad_output: torch.Tensor | None = None

    def forward(self) -> torch.Tensor:
        return self.module(*self.inputs)

    def leaves(self) -> list[torch.Tensor]:
        """Tensors that receive gradients in fwd_bwd mode (inputs and parameters)."""
        return [t for t in (*self.inputs, *self.module.parameters()) if t.requires_grad]

    def clear_grads(self) -> None:
        """Drop the gradients of the last step (a measurement's baseline must not hold them)."""
        for t in self.leaves():
            t.grad = None

    def backward(self, out: torch.Tensor) -> None:
        self.clear_grads()  # no accumulation: each step computes fresh gradients
        out.backward(self.grad_output)

    def step(self) -> None:
        """One timed call: forward, plus backward in fwd_bwd mode."""
        out = self.forward()
        if self.config.mode == "fwd_bwd":
            self.backward(out)


def generator(device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(SEED)


def randn(
    shape: tuple[int, ...],
    config: Config,
    device: torch.device,
    *,
    gen: torch.Generator,
    requires_grad: bool | None = None,
) -> torch.Tensor:
    """Random normal input in the config's dtype, drawn on `device` (never zeros)."""
    t = torch.randn(shape, device=device, generator=gen, dtype=torch.float32).to(config.torch_dtype)
    grad = config.mode == "fwd_bwd" if requires_grad is None else requires_grad
    return t.requires_grad_(grad)


def init_module(
    module_factory: Callable[[], nn.Module], config: Config, device: torch.device
) -> nn.Module:
    """Build weights on the CPU in float32 from the fixed seed, then move them, so every device
    and dtype starts from the same numbers."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        module = module_factory()
    module = module.to(device=device, dtype=config.torch_dtype)
    module.requires_grad_(config.mode == "fwd_bwd")
    return module


@contextlib.contextmanager
def stage(name: str, enabled: bool) -> Iterator[None]:
    """A named profiler range (and an NVTX range on CUDA) around one stage, when `enabled`."""
    if not enabled:
        yield
        return
    with torch.profiler.record_function(name):
        if torch.cuda.is_available():
            torch.cuda.nvtx.range_push(name)
            try:
                yield
            finally:
                torch.cuda.nvtx.range_pop()
        else:
            yield
