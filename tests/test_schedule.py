import math

import pytest

from vipriors.engine.schedule import scaled_lr, warmup_cosine


def test_warmup_then_cosine_to_zero():
    factors = [warmup_cosine(s, 10, 110) for s in range(110)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(factors[:10], factors[1:10]))
    assert factors[10] == pytest.approx(1.0)
    assert factors[60] == pytest.approx(0.5)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert warmup_cosine(110, 10, 110) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(35, 0, 70) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))


def test_linear_scaling_rule():
    assert scaled_lr(0.1, 256) == pytest.approx(0.1)
    assert scaled_lr(0.1, 128) == pytest.approx(0.05)
