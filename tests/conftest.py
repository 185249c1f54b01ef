import os

import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (none visible to torch)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


# Mixing regions (src, y0, x0, y1, x1, oy, ox) for two 6 x 7 images that a random draw
# rarely produces, one list per sample pair.
EDGE_BOXES = [
    [[1, 0, 0, 6, 7, 0, 0], [0, 0, 0, 6, 7, 0, 0]],  # full-image boxes
    [[1, 0, 0, 0, 0, 0, 0], [0, 3, 3, 3, 5, 0, 0]],  # zero-area boxes
    [[1, 0, 5, 6, 7, 0, 0], [0, 5, 0, 6, 2, 0, 0]],  # touching the right and bottom borders
    [[1, -4, -4, 2, 3, 0, 0], [0, 4, 5, 99, 99, 0, 0]],  # beyond the borders: clipped
    [[1, 0, 0, 6, 7, 50, -50], [-1, 1, 1, 3, 3, 0, 0]],  # offsets out of the source: clamped; a fill
    [[7, 0, 0, 3, 3, 0, 0], [-9, 2, 2, 4, 4, 1, 1]],  # source index out of the batch: clamped
    [[1, 0, 0, 6, 7, 0, 1], [0, 0, 0, 6, 7, 0, 0]],  # shifted by one pixel: unaligned reads
]


@pytest.fixture(params=EDGE_BOXES)
def edge_boxes(request):
    return request.param


@pytest.fixture(scope="session")
def builtin_cache(tmp_path_factory):
    """A private cache for the built-in dataset, generated once per test session."""
    from vipriors.data import synthetic

    cache = tmp_path_factory.mktemp("vipriors-cache")
    previous = os.environ.get("VIPRIORS_CACHE")
    os.environ["VIPRIORS_CACHE"] = str(cache)
    synthetic.ensure_dataset()
    yield cache
    if previous is None:
        os.environ.pop("VIPRIORS_CACHE", None)
    else:
        os.environ["VIPRIORS_CACHE"] = previous
