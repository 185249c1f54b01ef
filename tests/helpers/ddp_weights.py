"""Run under torchrun by tests/test_trainer_runs.py: train briefly, save this rank's weights."""
import os
import sys

import torch

from vipriors.engine import config as cfg
from vipriors.engine import distributed
from vipriors.engine.trainer import Trainer

out = sys.argv[1]
config = cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(sys.argv[2:])))
env = distributed.init("cpu")
trainer = Trainer(config, env)
trainer.fit()
torch.save(trainer.model_core.state_dict(), os.path.join(out, f"rank{env.rank}.pt"))
distributed.shutdown(env)
