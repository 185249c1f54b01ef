"""Online label smoothing: the targets are each class's mean prediction over its correctly
classified images of the last epoch (against a per-image loop), classes not seen keep
theirs, the loss blends in the cross-entropy to them (against torch's soft-target
cross-entropy), and the step learns them from unmixed batches only."""
import pytest
import torch
import torch.nn.functional as F

from vipriors import mixing, ops
from vipriors.config import MixConfig
from vipriors.distributed import DistEnv
from vipriors.engine.losses import mixed_cross_entropy
from vipriors.engine.online_labels import OnlineLabels
from vipriors.engine.step import TrainStep

ONE_PROCESS = DistEnv(0, 1, 0, torch.device("cpu"))


def reference_table(batches, previous):
    """Row y: the mean softmax over the images of class y predicted as y; else ``previous``'s row."""
    table = previous.clone()
    for y in range(len(table)):
        rows = [torch.softmax(z.float(), 0) for logits, labels in batches for z, t in zip(logits, labels)
                if t == y and z.argmax() == y]
        if rows:
            table[y] = torch.stack(rows).mean(0)
    return table


def test_the_targets_are_the_last_epochs_mean_correct_predictions():
    g = torch.Generator().manual_seed(0)
    online = OnlineLabels(5, torch.device("cpu"))
    assert torch.equal(online.table, torch.eye(5))  # one-hot until a class is seen
    previous = online.table.clone()
    for epoch in range(2):
        # Class 4 never appears: its target stays what it was.
        batches = [(3 * torch.randn(8, 5, generator=g), torch.randint(0, 4, (8,), generator=g)) for _ in range(3)]
        for logits, labels in batches:
            online.accumulate(logits, labels)
        online.end_epoch(ONE_PROCESS)
        expected = reference_table(batches, previous)
        assert torch.allclose(online.table, expected, atol=1e-6), epoch
        assert not torch.equal(online.table[:4], torch.eye(5)[:4]) and torch.equal(online.table[4], torch.eye(5)[4])
        assert torch.allclose(online.table.sum(1), torch.ones(5))
        assert online.sums.abs().sum() == 0 and online.counts.sum() == 0  # the next epoch starts afresh
        previous = expected


def test_a_saved_state_restores_the_table_and_the_sums_of_the_epoch_so_far():
    online = OnlineLabels(3, torch.device("cpu"))
    online.accumulate(torch.tensor([[3.0, 0, 0], [0, 2.0, 0]]), torch.tensor([0, 1]))
    online.end_epoch(ONE_PROCESS)
    online.accumulate(torch.tensor([[0, 0, 4.0]]), torch.tensor([2]))
    state = online.state_dict(ONE_PROCESS)
    online.accumulate(torch.tensor([[0, 0, 4.0]]), torch.tensor([2]))  # the saved state is a copy
    other = OnlineLabels(3, torch.device("cpu"))
    other.load_state_dict(state, ONE_PROCESS)
    assert torch.equal(other.table, state["table"]) and other.counts.tolist() == [0, 0, 1]
    second_rank = OnlineLabels(3, torch.device("cpu"))  # rank 0 alone carries every rank's saved sums
    second_rank.load_state_dict(state, DistEnv(1, 2, 1, torch.device("cpu")))
    assert torch.equal(second_rank.table, state["table"]) and second_rank.counts.sum() == 0


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_the_loss_blends_in_the_cross_entropy_to_the_online_targets(smoothing):
    torch.manual_seed(0)
    logits = torch.randn(5, 7, requires_grad=True)
    plan = mixing.plan_ricap(torch.tensor([0, 1, 2, 3, 4]), 16, 16, per_sample=True)
    table = torch.softmax(torch.randn(7, 7), 1)
    hard = torch.zeros(5, 7).scatter_add_(1, plan.target_index, plan.target_weight)
    soft = sum(plan.target_weight[:, k:k + 1] * table[plan.target_index[:, k]] for k in range(plan.target_index.shape[1]))
    expected = 0.7 * F.cross_entropy(logits, hard, label_smoothing=smoothing) + 0.3 * F.cross_entropy(logits, soft)
    got = mixed_cross_entropy(logits, plan.target_index, plan.target_weight, smoothing, table, 0.3)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    # One-hot targets (before any class is seen) leave the hard-label loss unchanged.
    plain = mixed_cross_entropy(logits, plan.target_index, plan.target_weight, smoothing)
    with_eye = mixed_cross_entropy(logits, plan.target_index, plan.target_weight, smoothing, torch.eye(7), 0.3)
    assert with_eye.item() == pytest.approx(0.7 * plain.item() + 0.3 * F.cross_entropy(logits, hard).item(), rel=1e-5)


def test_the_step_learns_the_targets_from_unmixed_batches_only():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    online = OnlineLabels(4, torch.device("cpu"))
    mean, std = (ops.channel_constants(ops.IMAGENET_MEAN, "cpu", "mean"),
                 ops.channel_constants(ops.IMAGENET_STD, "cpu", "std", positive=True))
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), mean=mean, std=std, mix=MixConfig(),
                     amp=None, memory_format=torch.contiguous_format, online=online, online_weight=0.5)
    images = torch.randint(0, 256, (16, 8, 8, 3), dtype=torch.uint8)
    labels = torch.arange(16) % 4
    step(images, labels, "cutmix")
    assert online.counts.sum() == 0
    for _ in range(20):  # the linear model learns these 16 images: most are then classified correctly
        step(images, labels, "none")
    assert online.counts.sum() > 0 and online.sums.sum() == pytest.approx(online.counts.sum().item(), rel=1e-5)
