"""Process-group set-up from torchrun's environment; a plain `python` run is world size 1."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def rank() -> int:
    """This process's rank as torchrun set it (0 without torchrun), known before any set-up."""
    return int(os.environ.get("RANK", 0))


def init(device_type: str = "cpu") -> DistEnv:
    """Joins the process group (a resolved device type: "cpu" or "cuda")."""
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank % torch.cuda.device_count()) if device_type == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
        if device.type == "cpu":  # share the cores instead of oversubscribing them
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                device_id=device if device.type == "cuda" else None)
    return DistEnv(rank(), world_size, local_rank, device)


def barrier(env: DistEnv) -> None:
    if env.enabled:
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor, env: DistEnv) -> torch.Tensor:
    if env.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_object(value, env: DistEnv):
    if not env.enabled:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def gather_objects(value, env: DistEnv) -> list:
    """Every rank's ``value``, indexed by rank (on every rank)."""
    if not env.enabled:
        return [value]
    gathered = [None] * env.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def shutdown(env: DistEnv) -> None:
    if env.enabled and dist.is_initialized():
        dist.destroy_process_group()


class StopVote:
    """The ranks' agreement to stop at one step, taken every step without waiting on the device
    or on each other: each call posts this rank's flag in an asynchronous all-reduce on a CPU
    (gloo) group of its own and reads the result posted by the previous call, which has long
    arrived. Every rank sees the same answer at the same call, one step after the first rank
    was asked to stop. With one process the answer is the flag itself."""

    def __init__(self, env: DistEnv):
        self.group = dist.new_group(backend="gloo") if env.enabled else None
        self.pending = None  # (work, flag tensor) of the last call

    def poll(self, requested: bool) -> bool:
        if self.group is None:
            return requested
        agreed = self._collect()
        flag = torch.tensor([float(requested)])
        self.pending = (dist.all_reduce(flag, group=self.group, async_op=True), flag)
        return agreed

    def _collect(self) -> bool:
        if self.pending is None:
            return False
        work, flag = self.pending
        work.wait()
        self.pending = None
        return bool(flag.item() > 0)

    def close(self) -> None:
        """Waits for the last posted vote (every rank calls it at the same point)."""
        self._collect()
