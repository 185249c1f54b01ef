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


def test_progressive_sizes_rise_in_steps_and_end_at_full_size():
    from vipriors.engine.schedule import progressive_sizes

    sizes = progressive_sizes(20, 32, 16, (0.2, 0.8), 8)
    assert sizes[:8] == [16] * 8 and sizes[16:] == [32] * 4
    assert sizes == sorted(sizes) and set(sizes) == {16, 24, 32}
    assert progressive_sizes(5, 32, 0, (0.2, 0.8), 8) == [32] * 5, "0 is off"
    assert progressive_sizes(5, 32, 32, (0.2, 0.8), 8) == [32] * 5
    # 224 px as FFCV: 160 rising to 224 in steps of 32, the last quarter at full size.
    big = progressive_sizes(100, 224, 160, (0.1, 0.75), 32)
    assert set(big) == {160, 192, 224} and big[:10] == [160] * 10 and big[75:] == [224] * 25
    # Rounded to the step, never outside [minimum, full], and the last epoch at full size.
    assert progressive_sizes(4, 30, 20, (0.0, 1.0), 8) == [20, 24, 24, 30]
