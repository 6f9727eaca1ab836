"""Training on several processes: ``torchrun --standalone --nproc_per_node N -m facefix train ...``.

torchrun starts N copies of the command and tells each its rank through the environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``). Every process builds the same model, takes its own slice of each global
batch (see :meth:`facefix.train.loop.Trainer._batches`), and averages gradients with the others before
each optimiser step, so all copies stay identical; only rank 0 logs, validates and writes checkpoints.
Processes talk over NCCL on CUDA and gloo on the CPU.

Gradients are averaged here rather than by wrapping the generator in ``DistributedDataParallel``: the
recipes call their networks directly (``self.network(x)``), and a DDP wrapper only syncs gradients for
calls that go through it (and renames every parameter ``module.*``). The average is the one DDP computes;
what this gives up is DDP's overlap of communication with the backward pass.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from facefix.device import resolve_device
from facefix.errors import FacefixError

#: gradients are summed in flat buckets of about this many bytes (one collective call each)
BUCKET_BYTES = 25 * 2**20


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the job; the default is a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def context_from_environment() -> DistributedContext:
    """The context torchrun describes in the environment (a single process when it is not set)."""
    try:
        return DistributedContext(rank=int(os.environ.get("RANK", 0)),
                                  world_size=int(os.environ.get("WORLD_SIZE", 1)),
                                  local_rank=int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise FacefixError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them)") from None


def start(device_name: str = "auto") -> tuple[DistributedContext, torch.device]:
    """Join torchrun's process group if there is one; returns the context and this process's device."""
    context = context_from_environment()
    device = resolve_device(device_name)
    if not context.active:
        return context, device
    if device.type == "cuda":
        if context.local_rank >= torch.cuda.device_count():
            raise FacefixError(f"LOCAL_RANK {context.local_rank}: only {torch.cuda.device_count()} CUDA device(s) "
                               "here (use --nproc_per_node up to that)")
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise FacefixError(f"--device {device_name}: training on several processes needs cuda or cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=context.rank, world_size=context.world_size)
    return context, device


def stop(context: DistributedContext) -> None:
    if context.active and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    if context.active:
        dist.barrier()


@torch.no_grad()
def broadcast_module(module: nn.Module | None, context: DistributedContext) -> None:
    """Give every process rank 0's parameters and buffers (DDP does the same when it wraps a model)."""
    if module is None or not context.active:
        return
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)


def shard(order: list[int], *, start: int, stop: int, batch_size: int, context: DistributedContext) -> list[int]:
    """This process's part of ``order[start:stop]``: the ``rank``-th ``batch_size`` slice of each global
    batch (``batch_size x world_size`` consecutive entries), so the processes together see each entry once."""
    step = batch_size * context.world_size
    low = context.rank * batch_size
    return [index for first in range(start, stop, step)
            for index in order[first + low: min(first + low + batch_size, stop)]]


def _buckets(tensors: list[torch.Tensor]) -> Iterable[list[torch.Tensor]]:
    bucket: list[torch.Tensor] = []
    size = 0
    for tensor in tensors:
        if bucket and (size + tensor.numel() * tensor.element_size() > BUCKET_BYTES
                       or tensor.dtype != bucket[0].dtype or tensor.device != bucket[0].device):
            yield bucket
            bucket, size = [], 0
        bucket.append(tensor)
        size += tensor.numel() * tensor.element_size()
    if bucket:
        yield bucket


@torch.no_grad()
def average_gradients(parameters: list[nn.Parameter], context: DistributedContext) -> None:
    """Replace each gradient by its mean over the processes."""
    if not context.active:
        return
    # A parameter that got no gradient on this process (an unused branch) still takes part, as zeros:
    # every process must hand the collective the same tensors in the same order.
    for parameter in parameters:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
    for bucket in _buckets([p.grad for p in parameters]):
        flat = torch.cat([g.reshape(-1) for g in bucket])
        dist.all_reduce(flat)
        flat /= context.world_size
        offset = 0
        for grad in bucket:
            grad.copy_(flat[offset: offset + grad.numel()].view_as(grad))
            offset += grad.numel()


def average_logs(logs: dict[str, float], context: DistributedContext, device: torch.device) -> dict[str, float]:
    """The mean of each logged value over the processes (so rank 0 logs the whole batch's losses)."""
    if not context.active or not logs:
        return logs
    names = sorted(logs)
    values = torch.tensor([logs[n] for n in names], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    means = dict(zip(names, (values / context.world_size).tolist()))
    return {name: means[name] for name in logs}


def any_process(flag: bool, context: DistributedContext, device: torch.device) -> bool:
    """Whether ``flag`` holds in any process (so that all of them take the same branch)."""
    if not context.active:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def gather(value: object, context: DistributedContext) -> list[object]:
    """``value`` from every process, in rank order (every process calls this)."""
    if not context.active:
        return [value]
    values: list[object] = [None] * context.world_size
    dist.all_gather_object(values, value)
    return values
