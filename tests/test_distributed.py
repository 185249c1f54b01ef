"""Two processes under real torchrun (gloo), one run shared by every test here: a signal to
one rank stops every rank at one step, the ranks stay identical through the resume, split the
validation set exactly, and a bad flag stops every rank with one line."""
import json
import os
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--arch", "resnet10t", "--log-every", "5", "--image-size", "32", "--epochs", "1", "--batch-size", "32",
        "--cutmix", "0.5", "--online-smoothing", "0.5"]


def torchrun(script, *args, timeout=300, env=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           script, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def two_ranks(builtin_cache, tmp_path_factory):
    """One run of 2 processes: rank 1 alone gets SIGTERM after its 8th step (step 7); the run
    is then resumed to its end."""
    out = tmp_path_factory.mktemp("ddp")
    helper = os.path.join(REPO, "tests", "helpers", "ddp_weights.py")
    stopped = torchrun(helper, str(out), *FAST, "--output-dir", str(out), "--name", "ddp",
                       env={"VIPRIORS_TEST_SIGTERM": "1:7"})
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    result = torchrun(helper, str(out), "--resume", str(out / "ddp"))
    assert result.returncode == 0, result.stderr[-3000:]
    return out, stopped.stdout + result.stdout


def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step(two_ranks):
    out, _ = two_ranks
    first = [json.loads((out / f"rank{r}-first.json").read_text()) for r in (0, 1)]
    # Step 7's signal is seen by the vote after step 8 (0-based 7): all ranks stop after 9.
    assert first[0] == first[1] == {"stopped": True, "epoch": 0, "epoch_step": 9}
    resumed = [json.loads((out / f"rank{r}-resumed.json").read_text()) for r in (0, 1)]
    assert resumed[0] == resumed[1] == {"stopped": False, "epoch": 1, "epoch_step": 0}


def test_ranks_stay_identical(two_ranks):
    out, _ = two_ranks
    rank0, rank1 = (torch.load(out / f"rank{r}.pt") for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    # Online label smoothing's targets come from both ranks' images: each rank's alone would differ.
    table0, table1 = (torch.load(out / f"rank{r}-online.pt") for r in (0, 1))
    assert torch.equal(table0, table1) and not torch.equal(table0, torch.eye(10))


def test_each_validation_image_counts_once_across_ranks(two_ranks):
    out, result = two_ranks
    with open(out / "ddp" / "log.jsonl") as f:
        log = [json.loads(line) for line in f]
    assert log[0]["world_size"] == 2 and "x2" in result
    assert [e for e in log if e["event"] == "epoch"][0]["val_images"] == 500


def test_a_bad_flag_stops_every_rank_with_one_line(builtin_cache, tmp_path):
    result = torchrun(os.path.join(REPO, "scripts", "train.py"), *FAST, "--amp", "bf61", "--output-dir", str(tmp_path))
    assert result.returncode != 0
    assert result.stderr.count("train.py: --amp bf61: choose one of auto, bf16, fp16, off") == 1
    # Rank 0 exits 2 (rank 1 waits, and torchrun ends it then); the one traceback is torchrun's
    # own report of the failed children.
    assert result.stderr.count("Traceback") == 1 and "ChildFailedError" in result.stderr
    assert "exitcode  : 2" in result.stderr and "(rank 1)" not in result.stderr and not os.listdir(tmp_path)
