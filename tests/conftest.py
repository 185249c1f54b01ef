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
