"""Run under torchrun by tests/test_distributed.py: trains as scripts/train.py does, then
saves this rank's weights, so the test can compare the ranks."""
import os
import sys

import torch

from vipriors.cli.train import configure
from vipriors.config import build_parser
from vipriors.engine import trainer

out = sys.argv[1]
config, _ = configure(build_parser("ddp").parse_args(sys.argv[2:]))
original_fit = trainer.Trainer.fit


def fit_then_save(self):
    summary = original_fit(self)
    torch.save(self.model_core.state_dict(), os.path.join(out, f"rank{self.env.rank}.pt"))
    return summary


trainer.Trainer.fit = fit_then_save
trainer.train(config)
