"""Multi-process training under torchrun: the process group, and the few collective steps training needs.

gloo serves CPU training, nccl CUDA training. Rank 0 alone projects prototypes and writes files; the other
ranks receive its prototypes by broadcast, so every rank holds the same model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistributedContext", "process_group"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    """This process's place among the training processes (world_size 1: no process group)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DistributedContext:
        """Read torchrun's RANK, WORLD_SIZE and LOCAL_RANK (absent: a single process)."""
        return cls(
            rank=int(env.get("RANK", 0)),
            world_size=int(env.get("WORLD_SIZE", 1)),
            local_rank=int(env.get("LOCAL_RANK", 0)),
        )

    def device(self, requested: str) -> torch.device:
        """The device this rank trains on: the requested one, with CUDA ranks spread over the local GPUs."""
        device = torch.device(requested)
        if device.type == "cuda" and device.index is None and self.enabled:
            return torch.device("cuda", self.local_rank % torch.cuda.device_count())
        return device

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Sum of ``values`` over all ranks (the values themselves for a single process)."""
        if self.enabled:
            values = values.clone()
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def broadcast(self, tensor: torch.Tensor) -> None:
        """Overwrite ``tensor`` on every rank with rank 0's, in place."""
        if self.enabled:
            dist.broadcast(tensor, src=0)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


@contextmanager
def process_group(context: DistributedContext, device: torch.device) -> Iterator[None]:
    """Join the process group for the duration of training (nothing to do for a single process)."""
    if not context.enabled:
        yield
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=context.rank, world_size=context.world_size)
    logger.info("rank %d of %d joined the %s process group", context.rank, context.world_size, backend)
    try:
        yield
    finally:
        dist.destroy_process_group()
