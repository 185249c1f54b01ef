"""Our DALI operators (csrc/dali) against their PyTorch reference, and the resize choice."""
import importlib.util

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("nvidia.dali")
from nvidia.dali import fn, pipeline_def  # noqa: E402

from vipriors.data import dali_plugin  # noqa: E402

needs_plugin = pytest.mark.skipif(not dali_plugin.load(), reason="this build has no DALI plugin (see setup.py's output)")


def run(graph, batch, threads=2):
    @pipeline_def(batch_size=len(batch), num_threads=threads, device_id=None, seed=1)
    def pipe():
        return graph(fn.external_source(source=lambda: batch, batch=True, layout="HWC"))

    p = pipe()
    p.build()
    return [np.array(x) for x in p.run()[0]]


def reference(image: np.ndarray, height: int, width: int) -> np.ndarray:
    x = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()
    out = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return out[0].permute(1, 2, 0).numpy()


@needs_plugin
@pytest.mark.parametrize("channels", [3, 1])
def test_resize_is_torch_antialiased_bilinear_bit_for_bit(channels):
    rng = np.random.default_rng(0)
    # Down (by up to 7x), up, one axis each way, 1-px sides; every sample its own size.
    sizes = [(375, 500), (100, 90), (37, 300), (300, 37), (1, 64), (64, 1), (56, 56)]
    batch = [(rng.random((h, w, channels)) * 255).astype(np.uint8) for h, w in sizes]
    out = run(lambda x: fn.vipriors_resize(x, height=56, width=48), batch)
    for got, image in zip(out, batch):
        assert got.shape == (56, 48, channels) and got.dtype == np.uint8
        assert np.array_equal(got, reference(image, 56, 48))


@needs_plugin
def test_resize_stays_close_to_dalis_own():
    rng = np.random.default_rng(1)
    smooth = [np.clip(np.cumsum(rng.normal(0, 6, (h, w, 3)), axis=1), 0, 255).astype(np.uint8) for h, w in [(300, 200), (90, 120)]]
    ours = run(lambda x: fn.vipriors_resize(x, height=64, width=64), smooth)
    theirs = run(lambda x: fn.resize(x, size=[64, 64], antialias=True), smooth)
    for a, b in zip(ours, theirs):
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 1.0


def test_a_plugin_that_does_not_load_is_reported_and_left_out(tmp_path, monkeypatch):
    broken = tmp_path / "_dali_plugin.so"
    broken.write_bytes(b"not a shared library")
    spec = importlib.util.spec_from_file_location("vipriors._dali_plugin", broken)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: spec if name == "vipriors._dali_plugin" else None)
    dali_plugin.load.cache_clear()
    try:
        with pytest.warns(UserWarning, match="could not load the DALI plugin .*python setup.py develop"):
            assert dali_plugin.load() is False
    finally:
        dali_plugin.load.cache_clear()  # the next caller loads the real one again


def test_resize_choice():
    assert dali_plugin.resolve_resize("dali", on_gpu=False) == "dali"
    assert dali_plugin.resolve_resize("auto", on_gpu=True) == "dali"
    assert dali_plugin.resolve_resize("auto", on_gpu=False) == ("torch" if dali_plugin.load() else "dali")
    with pytest.raises(ValueError, match="--train-resize torch runs in the CPU pipeline only"):
        dali_plugin.resolve_resize("torch", on_gpu=True)
