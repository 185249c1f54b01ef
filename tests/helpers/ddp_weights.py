"""Run under torchrun by tests/test_distributed.py: trains as scripts/train.py does, then
saves this rank's weights (and online label smoothing's targets) and where its training
stopped, so the test can compare the ranks. With VIPRIORS_TEST_SIGTERM="RANK:STEP" that
rank alone is sent SIGTERM after that step."""
import json
import os
import signal
import sys

import torch

from vipriors.cli.train import configure
from vipriors.config import build_parser
from vipriors.engine import trainer
from vipriors.engine.step import TrainStep

out = sys.argv[1]
config, resume, _ = configure(build_parser("ddp").parse_args(sys.argv[2:]))
original_fit, original_step = trainer.Trainer.fit, TrainStep.__call__
rank = int(os.environ.get("RANK", 0))
signal_rank, signal_step = map(int, os.environ.get("VIPRIORS_TEST_SIGTERM", "-1:-1").split(":"))


def step_then_signal(self, images, labels, mode, stubborn=None, step=0):
    loss = original_step(self, images, labels, mode, stubborn, step)
    if rank == signal_rank and step == signal_step:
        os.kill(os.getpid(), signal.SIGTERM)
    return loss


def fit_then_save(self):
    summary = original_fit(self)
    torch.save(self.model_core.state_dict(), os.path.join(out, f"rank{self.env.rank}.pt"))
    if self.online is not None:
        torch.save(self.online.table, os.path.join(out, f"rank{self.env.rank}-online.pt"))
    with open(os.path.join(out, f"rank{self.env.rank}-{'resumed' if resume else 'first'}.json"), "w") as f:
        json.dump({"stopped": summary["stopped"], "epoch": self.epoch, "epoch_step": self.epoch_step}, f)
    return summary


TrainStep.__call__ = step_then_signal
trainer.Trainer.fit = fit_then_save
trainer.train(config, resume_dir=resume)
