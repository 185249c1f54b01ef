"""The cosine head (--cosine-head) and the cosine loss (--loss cosine): the loss against its
definition on dense label vectors, the head's outputs and weights, the training step's sum,
and a run whose predictions go through the same head."""
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vipriors import config as cfg
from vipriors import predictions
from vipriors.cli import predict
from vipriors.config import MixConfig
from vipriors.engine import checkpoint
from vipriors.engine.losses import mixed_cosine_loss, mixed_cross_entropy
from vipriors.engine.step import TrainStep
from vipriors.engine.trainer import train
from vipriors.models import create_model, normalize_logits


def dense_targets(index, weight, classes):
    target = torch.zeros(len(index), classes)
    for row, (classes_k, weights_k) in enumerate(zip(index.tolist(), weight.tolist())):
        for c, w in zip(classes_k, weights_k):
            target[row, c] += w
    return target


def test_the_loss_is_one_minus_the_cosine_with_the_label_vector():
    torch.manual_seed(0)
    outputs = torch.randn(6, 10, dtype=torch.float64)
    index = torch.tensor([[1, 1], [2, 7], [0, 3], [9, 9], [4, 5], [6, 2]])  # rows 0 and 3: one class twice
    weight = torch.tensor([[0.7, 0.3], [0.5, 0.5], [0.9, 0.1], [1.0, 0.0], [0.2, 0.8], [0.6, 0.4]], dtype=torch.float64)
    unit = F.normalize(outputs.clone().requires_grad_(), dim=1)
    expected = (1 - F.cosine_similarity(outputs, dense_targets(index, weight, 10).double(), dim=1)).mean()
    loss = mixed_cosine_loss(unit, index, weight)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert mixed_cosine_loss(F.one_hot(index[:, 0], 10).double(), index, torch.tensor([[1.0, 0.0]] * 6)).item() == 0


def test_the_loss_gradient_is_the_definitions():
    torch.manual_seed(1)
    outputs = torch.randn(4, 8, requires_grad=True)
    index, weight = torch.tensor([[0, 3], [5, 5], [7, 1], [2, 6]]), torch.tensor([[0.6, 0.4], [0.5, 0.5], [1.0, 0.0], [0.3, 0.7]])
    mixed_cosine_loss(F.normalize(outputs, dim=1), index, weight).backward()
    reference = outputs.detach().clone().requires_grad_()
    (1 - F.cosine_similarity(reference, dense_targets(index, weight, 8), dim=1)).mean().backward()
    assert torch.allclose(outputs.grad, reference.grad, atol=1e-6)


def test_the_head_scales_unit_outputs_and_keeps_the_weights_and_their_names():
    torch.manual_seed(0)
    plain = create_model("resnet9s_cifar", 20).eval()
    head = normalize_logits(create_model("resnet9s_cifar", 20), 16.0).eval()
    head.load_state_dict(plain.state_dict())
    assert list(head.state_dict()) == list(plain.state_dict())
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        logits, raw = head(x), plain(x)
    assert torch.allclose(logits.norm(dim=1), torch.full((3,), 16.0), atol=1e-4)
    assert torch.allclose(logits, 16 * F.normalize(raw, dim=1), atol=1e-5)
    assert logits.dtype == torch.float32
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert head(x).dtype == torch.float32  # a bf16 logit at 16 would be rounded to a sixteenth
    assert normalize_logits(plain, 0.0) is plain and not plain._forward_hooks


def test_the_step_adds_the_weighted_cross_entropy_to_the_cosine_loss():
    torch.manual_seed(0)
    model = normalize_logits(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 5)), 16.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the weights stay, the loss is comparable
    step = TrainStep(model, optimizer, mean=torch.zeros(3), std=torch.ones(3), mix=MixConfig(cutmix=0.0), amp=None,
                     memory_format=torch.contiguous_format, label_smoothing=0.1, cosine_scale=16.0, xent_weight=0.25)
    images = torch.randint(0, 256, (4, 8, 8, 3), dtype=torch.uint8)
    labels = torch.tensor([0, 3, 1, 4])
    loss = step(images, labels, "none")
    x, index, weight = step.inputs(images, labels, "none", None)
    logits = model(x)
    expected = mixed_cosine_loss(logits / 16, index, weight) + 0.25 * mixed_cross_entropy(logits, index, weight, 0.1)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.slow
def test_a_cosine_run_learns_and_predicts_through_its_head(builtin_cache, tmp_path, capsys):
    argv = ["--arch", "resnet10t", "--image-size", "32", "--epochs", "3", "--log-every", "5", "--cosine-head", "16",
            "--loss", "cosine", "--output-dir", str(tmp_path), "--name", "cos"]
    result = train(cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(argv))))
    assert "cosine head x16, cosine loss + 0.1 x cross-entropy" in capsys.readouterr().out
    assert result["best_top1"] > 0.2  # ten built-in classes: chance is 10%
    best = os.path.join(result["run_dir"], "best.pt")
    out = str(tmp_path / "val.npz")
    assert predict.main(["--checkpoint", best, "--split", "val", "--out", out]) == 0
    val = predictions.load(out)
    assert val.accuracy() == pytest.approx(result["best_top1"], abs=0.01)
    # The same weights with the head's setting removed: the same ranking, other probabilities,
    # so prediction applies the head the run trained with.
    state = checkpoint.load(best)
    state["config"]["model"]["cosine_head"] = 0.0
    checkpoint.save(state, str(tmp_path / "headless.pt"))
    headless_out = str(tmp_path / "headless.npz")
    assert predict.main(["--checkpoint", str(tmp_path / "headless.pt"), "--split", "val", "--out", headless_out]) == 0
    headless = predictions.load(headless_out)
    assert (headless.probs.argmax(1) == val.probs.argmax(1)).mean() > 0.99
    assert np.abs(headless.probs.astype(np.float32) - val.probs.astype(np.float32)).max() > 0.05
