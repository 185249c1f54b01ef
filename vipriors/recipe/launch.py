"""How a recipe starts its training runs: plain ``python scripts/train.py`` for one process,
``torchrun`` (``python -m torch.distributed.run``) for several processes or nodes, with the
node and rendezvous flags passed through as given.

On several nodes the recipe runs once on each node (e.g. one ``srun`` task per node), on a
file system every node sees: each node launches the same training runs in the same order,
and only node 0 predicts, votes and writes the tables.

With ``--jobs N`` (one process per training, one node) N members train side by side, each in
a Slot: its share of the CPU threads (torch's and DALI's) and, where GPUs are visible, a GPU
of its own. Small models on small images fill neither many cores nor a GPU with one
training, so independent members side by side finish sooner than one after the other.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from ..engine.cpu_share import this_process_cores
from .spec import REPO, RecipeError

PASSED_THROUGH = ("nnodes", "node_rank", "rdzv_backend", "rdzv_endpoint", "rdzv_id", "master_addr", "master_port")


@dataclass(frozen=True)
class Launch:
    nproc_per_node: int = 1
    nnodes: str = "1"  # torchrun's form: N, or MIN:MAX for elastic jobs
    node_rank: int | None = None
    rdzv_backend: str | None = None
    rdzv_endpoint: str | None = None
    rdzv_id: str | None = None
    master_addr: str | None = None
    master_port: int | None = None
    jobs: int = 1  # trainings side by side (each one process)

    def __post_init__(self):
        if self.nproc_per_node < 1:
            raise RecipeError(f"--nproc-per-node {self.nproc_per_node}: must be >= 1")
        if self.jobs < 1:
            raise RecipeError(f"--jobs {self.jobs}: must be >= 1")
        if self.jobs > 1 and self.distributed:
            raise RecipeError(f"--jobs {self.jobs}: runs single-process trainings side by side on one node; with "
                              "--nproc-per-node or --nnodes each training already spans the processes, so drop one")
        if self.multi_node and self.node_rank is None:
            raise RecipeError(f"--nnodes {self.nnodes}: give --node-rank on each node (0 on the node that predicts and "
                              "votes) and either --master-addr/--master-port or --rdzv-backend c10d --rdzv-endpoint HOST:PORT")
        if self.node_rank is not None and self.node_rank < 0:
            raise RecipeError(f"--node-rank {self.node_rank}: must be >= 0")

    @property
    def multi_node(self) -> bool:
        return str(self.nnodes) != "1"

    @property
    def distributed(self) -> bool:
        return self.nproc_per_node > 1 or self.multi_node

    @property
    def is_main_node(self) -> bool:
        return not self.multi_node or self.node_rank == 0

    def train_command(self, args: list[str]) -> list[str]:
        script = os.path.join(REPO, "scripts", "train.py")
        if not self.distributed:
            return [sys.executable, script, *args]
        runner = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={self.nproc_per_node}"]
        for key in PASSED_THROUGH:
            value = getattr(self, key)
            if value is not None:
                runner.append(f"--{key.replace('_', '-')}={value}")
        if not self.multi_node and self.rdzv_endpoint is None and self.master_port is None:
            runner.append("--standalone")  # a free port on this machine: two recipes side by side do not collide
        return [*runner, script, *args]

    def predict_command(self, args: list[str]) -> list[str]:
        return [sys.executable, os.path.join(REPO, "scripts", "predict.py"), *args]


@dataclass(frozen=True)
class Slot:
    """Where one of --jobs N side-by-side trainings runs: ``threads`` CPU threads for torch and
    for DALI, and ``gpu`` (a CUDA device id, or None on a CPU machine)."""
    threads: int
    gpu: str | None = None

    def env(self) -> dict[str, str]:
        env = {"OMP_NUM_THREADS": str(self.threads)}
        if self.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.gpu
        return env

    def train_args(self) -> list[str]:
        """Flags placed before the stage's own, so that a member's or --train-args' flags win."""
        return ["--data-threads", str(self.threads)]


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use: CUDA_VISIBLE_DEVICES where set, else all."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def slots(jobs: int, cpus: int | None = None, gpus: list[str] | None = None) -> list[Slot]:
    """``jobs`` slots sharing ``cpus`` CPU threads (default: this process's cores) evenly, at
    least one each, and ``gpus`` (default: the visible ones) round robin."""
    if cpus is None:
        cpus = len(this_process_cores())
    gpus = visible_gpus() if gpus is None else gpus
    threads = max(1, cpus // jobs)
    return [Slot(threads, gpus[i % len(gpus)] if gpus else None) for i in range(jobs)]
