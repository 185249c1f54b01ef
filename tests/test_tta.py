import pytest
import torch

from vipriors import tta


def test_weights_sum_to_one_and_views_keep_shape():
    x = torch.rand(2, 3, 8, 6)
    for mode in tta.MODES:
        pairs = tta.views(x, mode, shift=2)
        assert sum(w for w, _ in pairs) == pytest.approx(1.0)
        assert all(v.shape == x.shape for _, v in pairs)
    assert len(tta.views(x, "flip-shift")) == 6


def test_shift_moves_content_and_reflects_the_border():
    x = torch.arange(25.0).view(1, 1, 5, 5)
    down_right = tta._shifted(x, 1, 1)
    assert torch.equal(down_right[..., 1:, 1:], x[..., :-1, :-1])
    assert torch.equal(down_right[..., 0, 1:], x[..., 1, :-1])  # row -1 reflects row 1
    up_left = tta._shifted(x, -2, -2)
    assert torch.equal(up_left[..., :-2, :-2], x[..., 2:, 2:])


def test_probabilities_average_the_views():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    x = torch.rand(3, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    for mode in tta.MODES:
        expected = sum(w * model(v).softmax(1) for w, v in tta.views(x, mode))
        got = tta.probabilities(model, x, mode, memory_format=torch.channels_last)
        torch.testing.assert_close(got, expected)
        torch.testing.assert_close(got.sum(1), torch.ones(3))
    assert not torch.allclose(tta.probabilities(model, x, "flip-shift"), tta.probabilities(model, x, "none"))


def test_bad_mode_or_shift_is_refused():
    x = torch.rand(1, 3, 4, 4)
    with pytest.raises(ValueError, match="unknown TTA mode"):
        tta.views(x, "multi")
    for bad in (0, 4):
        with pytest.raises(ValueError, match="must be between 1 and the image side - 1 \\(3\\)"):
            tta.views(x, "flip-shift", shift=bad)
