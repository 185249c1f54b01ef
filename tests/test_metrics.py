"""vipriors.engine.metrics.ClassAccuracy: exact per-class counts and losses, summed over
batches, reduced into the figures the trainer logs."""
import pytest
import torch

from vipriors.distributed import DistEnv
from vipriors.engine.metrics import ClassAccuracy

ONE_PROCESS = DistEnv(0, 1, 0, torch.device("cpu"))


def test_counts_and_losses_per_class_over_batches():
    meter = ClassAccuracy(3, torch.device("cpu"))
    # batch 1: class 0 right, class 1 wrong; batch 2: class 1 right, class 0 wrong, class 0 right
    meter.update(torch.tensor([[5.0, 0, 0], [4.0, 1, 0]]), torch.tensor([0, 1]), torch.tensor([0.5, 2.0]))
    meter.update(torch.tensor([[0, 3.0, 0], [0, 0, 1.0], [2.0, 0, 0]]), torch.tensor([1, 0, 0]),
                 torch.tensor([1.0, 3.0, 0.25]))
    counts = meter.reduce(ONE_PROCESS)
    assert counts["class_counts"] == [3, 2, 0] and counts["images"] == 5
    assert counts["per_class"] == pytest.approx([2 / 3, 1 / 2, 0.0])
    assert counts["top1"] == pytest.approx(3 / 5)
    assert counts["per_class_loss"] == pytest.approx([(0.5 + 3.0 + 0.25) / 3, 1.5, 0.0])
    assert counts["loss"] == pytest.approx((0.5 + 2.0 + 1.0 + 3.0 + 0.25) / 5)


def test_reading_leaves_the_counts_to_go_on():
    meter = ClassAccuracy(2, torch.device("cpu"))
    meter.update(torch.tensor([[1.0, 0]]), torch.tensor([0]), torch.tensor([1.0]))
    meter.reduce(ONE_PROCESS)
    meter.update(torch.tensor([[1.0, 0]]), torch.tensor([1]), torch.tensor([1.0]))
    assert meter.reduce(ONE_PROCESS)["class_counts"] == [1, 1]
