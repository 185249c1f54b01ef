"""The time-left projection of the trainer's epoch lines (vipriors/engine/eta.py)."""
import pytest

from vipriors.engine.eta import describe, remaining_seconds


def test_nothing_timed_projects_nothing():
    assert remaining_seconds({}, [16, 32]) is None
    assert describe(None) == ""


def test_timed_sizes_count_their_latest_epoch():
    assert remaining_seconds({16: 10.0, 32: 40.0}, [16, 32, 32]) == (90.0, 90.0)
    assert remaining_seconds({32: 40.0}, []) == (0.0, 0.0)


def test_one_timed_size_leaves_a_larger_one_between_its_time_and_its_pixels():
    # 24 px after 16 px: at least the 16 px epoch's 10 s, at most 10 s x (24/16)^2 = 22.5 s.
    assert remaining_seconds({16: 10.0}, [16, 24]) == (20.0, 32.5)


def test_an_untimed_size_is_placed_on_the_line_through_the_timed_ones():
    # 4 s per image-epoch fixed + 0.01 s per pixel: 16 px 6.56 s, 24 px 9.76 s, so 32 px 14.24 s.
    low, high = remaining_seconds({16: 4 + 0.01 * 256, 24: 4 + 0.01 * 576}, [32, 32])
    assert low == high == pytest.approx(2 * (4 + 0.01 * 1024))


def test_the_line_never_puts_a_larger_size_under_a_smaller_timed_one():
    # Timing noise can tilt the line down; the larger size still costs the slower epoch's time.
    low, high = remaining_seconds({16: 12.0, 24: 11.0}, [32])
    assert low == high == 12.0


@pytest.mark.parametrize("span, text", [((40.0, 40.0), "~40 s left"), ((20.0, 60.0), "~20-60 s left"),
                                        ((1620.0, 1640.0), "~27 min left"), ((1200.0, 2700.0), "~20-45 min left")])
def test_the_epoch_line_gives_seconds_under_a_minute_and_a_half_else_minutes(span, text):
    assert describe(span) == text
