"""bench.ab_worker's block worker, in this process: a block that fails with a CUDA error (not an
OOM) marks the worker for exit, as bench.worker's does after a row, so the side's next task runs
in a fresh process; an ordinary error or an OOM does not."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bench import ab_worker
from bench.timing import TimingOptions


@dataclasses.dataclass
class Failing:
    error: BaseException

    def step(self) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error, restarted",
    [
        (RuntimeError("CUDA error: an illegal memory access was encountered"), True),
        (RuntimeError("an ordinary bug"), False),
        (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"), False),
    ],
)
def test_a_block_that_poisons_the_context_ends_the_worker(error, restarted):
    work = ab_worker.block_worker("cpu", dataclasses.asdict(TimingOptions()), verify=False)
    work.case, work.samples, work.blocks, work.faults = Failing(error), [], [], 0
    reply = work.block(3)
    assert reply["status"] == ("oom" if isinstance(error, torch.cuda.OutOfMemoryError) else "error")
    assert reply.get("worker_restarted", False) is restarted
    assert work.exit_after_row is restarted
    assert work.case is None  # released either way
