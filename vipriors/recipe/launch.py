"""How a recipe starts its training runs: plain ``python scripts/train.py`` for one process,
``torchrun`` (``python -m torch.distributed.run``) for several processes or nodes, with the
node and rendezvous flags passed through as given.

On several nodes the recipe runs once on each node (e.g. one ``srun`` task per node), on a
file system every node sees: each node launches the same training runs in the same order,
and only node 0 predicts, votes and writes the tables.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

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

    def __post_init__(self):
        if self.nproc_per_node < 1:
            raise RecipeError(f"--nproc-per-node {self.nproc_per_node}: must be >= 1")
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
