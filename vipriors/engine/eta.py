"""How long the rest of a run will take, projected from the epochs it has timed so far.

An epoch's time depends on its image size (progressive resizing changes it within a run), so
each size is projected on its own: a size already trained from its latest whole epoch (which
carries whatever that epoch did beside training, such as an evaluation), a size not trained
yet from a straight line in pixels per image (a fixed cost per image plus one per pixel)
fitted through the timed sizes. One timed size cannot place that line: an untimed larger size
then costs between that size's time (the fixed cost alone) and that time scaled by the
pixels (the cost per pixel alone), and the projection is that range.
"""
from __future__ import annotations

import numpy as np


def _line_through(timed: dict[int, float]) -> tuple[float, float]:
    """Least-squares (fixed, per pixel) seconds of an epoch over the timed sizes (two or more)."""
    per_pixel, fixed = np.polyfit([size * size for size in timed], list(timed.values()), 1)
    return float(fixed), float(per_pixel)


def remaining_seconds(timed: dict[int, float], remaining: list[int]) -> tuple[float, float] | None:
    """(low, high) seconds of the epochs at the sizes in ``remaining``, from ``timed`` (image
    size -> seconds of its latest whole epoch); low == high where nothing is guessed. None
    while no epoch is timed."""
    if not timed:
        return None
    line = _line_through(timed) if len(timed) > 1 else None
    low = high = 0.0
    for size in remaining:
        if size in timed:
            low, high = low + timed[size], high + timed[size]
        elif line is not None:
            # never below a smaller timed size's epoch: the line is a fit, the order is not
            floor = max((t for known, t in timed.items() if known < size), default=0.0)
            projected = max(line[0] + line[1] * size * size, floor)
            low, high = low + projected, high + projected
        else:
            (known, seconds), = timed.items()
            scaled = seconds * (size / known) ** 2
            low, high = low + min(seconds, scaled), high + max(seconds, scaled)
    return low, high


def describe(span: tuple[float, float] | None) -> str:
    """``span`` for the epoch line: "~27 min left", "~20-45 min left", "~40 s left"; "" for None."""
    if span is None:
        return ""
    low, high = span
    if high < 90:
        return f"~{low:.0f} s left" if round(low) == round(high) else f"~{low:.0f}-{high:.0f} s left"
    low_min, high_min = round(low / 60), round(high / 60)
    return f"~{low_min} min left" if low_min == high_min else f"~{low_min}-{high_min} min left"
