"""A run's folder: claimed for the run's life, and everything the run writes there.

``config.yaml`` (the resolved configuration), ``log.jsonl`` (one line per event),
``last.pt`` / ``best.pt`` / ``epoch_N.pt`` (checkpoints, written atomically), the per-class
files and, on request, TensorBoard scalars. Only rank 0 writes.

A folder is claimed with an exclusive lock (``.lock``, held while the run lives): a second
run into it is refused, and so is a new run into a folder that holds another run's files.
"""
from __future__ import annotations

import fcntl
import os
import time

from ..config import TrainConfig, save_yaml
from ..errors import UserError
from .. import distributed
from . import checkpoint, report
from .runlog import RunLog

LOCK = ".lock"


class RunFolderError(UserError):
    pass


def new_run_path(config: TrainConfig) -> str:
    runtime = config.runtime
    data_name = os.path.basename(os.path.normpath(config.data.root)) if config.data.root else "builtin"
    return os.path.join(runtime.output_dir, runtime.name or f"{config.model.arch}-{data_name}-{time.strftime('%Y%m%d-%H%M%S')}")


def _claim(path: str, resume: bool):
    """The open lock file of ``path`` (created if need be), or an error saying why not."""
    try:
        os.makedirs(path, exist_ok=True)
        lock = open(os.path.join(path, LOCK), "a+")
    except (FileExistsError, NotADirectoryError):
        raise RunFolderError(f"{path}: a file is in the way of the run folder; pick another --name or --output-dir") from None
    except PermissionError:
        raise RunFolderError(f"{path}: no permission to write the run folder there; pick another --output-dir") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        owner = lock.read().strip() or "?"
        lock.close()
        raise RunFolderError(f"{path} is in use by another run (process {owner}); wait for it to end or pick another --name") from None
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    if not resume:
        content = sorted(e for e in os.listdir(path) if e != LOCK)
        if content:
            lock.close()
            if "last.pt" in content:
                raise RunFolderError(f"{path} already holds a run; continue it with --resume {path} or pick another --name")
            raise RunFolderError(f"{path} holds the files of a run that stopped before its first checkpoint "
                                 f"({', '.join(content[:3])}); continue it with --resume {path}, or remove the folder")
    return lock


class RunFolder:
    def __init__(self, path: str, env: distributed.DistEnv, resume: bool):
        """Claims ``path`` (a new run's, or the one of a run to resume); every rank gets the same answer."""
        self.path, self.env, self.resuming = path, env, resume
        self.created = not os.path.exists(path)
        self._lock, problem = None, None
        if env.is_main:
            try:
                self._lock = _claim(path, resume)
            except RunFolderError as error:
                problem = str(error)
        problem = distributed.broadcast_object(problem, env)
        if problem:
            raise RunFolderError(problem)
        self.log = RunLog(path, env.is_main)
        self.tensorboard = None

    def start(self, config: TrainConfig) -> None:
        """Writes the configuration this run trains with, and opens TensorBoard if asked for."""
        if self.env.is_main:
            save_yaml(config, os.path.join(self.path, "config.yaml"))
            if config.runtime.tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError:
                    raise RunFolderError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
                self.tensorboard = SummaryWriter(os.path.join(self.path, "tensorboard"))

    def release(self, succeeded: bool) -> None:
        """Ends the claim; a folder this run created and never wrote to is removed again."""
        if self.tensorboard:
            self.tensorboard.close()
        if self._lock is None:
            return
        self._lock.close()
        self._lock = None
        if not succeeded and self.created and os.listdir(self.path) == [LOCK]:
            os.unlink(os.path.join(self.path, LOCK))
            os.rmdir(self.path)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def has_checkpoint(self) -> bool:
        return os.path.isfile(self.file("last.pt"))

    def load_last(self) -> dict:
        return checkpoint.load(self.file("last.pt"))

    def save(self, state: dict, best: dict | None = None, keep_as: str | None = None) -> None:
        """``last.pt``; ``best.pt`` when ``best`` is given; a copy named ``keep_as`` when given."""
        if not self.env.is_main:
            return
        checkpoint.save(state, self.file("last.pt"))
        if keep_as:
            checkpoint.save(state, self.file(keep_as))
        if best is not None:
            checkpoint.save(best, self.file("best.pt"))

    def write_per_class(self, classes, words, evaluation: dict, epoch: int) -> None:
        if self.env.is_main:
            report.write_per_class(self.path, classes, evaluation["per_class"], evaluation["class_counts"], epoch, words,
                                  loss=evaluation["per_class_loss"])

    def scalars(self, values: dict, epoch: int) -> None:
        if self.tensorboard:
            for key, value in values.items():
                self.tensorboard.add_scalar(key, value, epoch)
