"""Our own DALI operators (csrc/dali), built by setup.py into vipriors/_dali_plugin*.so.

VipriorsResize resizes HWC uint8 images to one size with torch's antialiased bilinear
filter (torch.nn.functional.interpolate(antialias=True), bit for bit; its SIMD uint8
kernel), about ten times cheaper on the CPU than DALI's fn.resize.
It runs in the CPU pipeline only; the GPU pipeline resizes with DALI.
"""
from __future__ import annotations

import importlib.util
import warnings
from functools import lru_cache

from ..config import ConfigError



@lru_cache(maxsize=None)
def load() -> bool:
    """Registers our operators with DALI (once per process); False where the build has none
    or has one that no longer loads (built against another DALI or torch), with a warning."""
    spec = importlib.util.find_spec("vipriors._dali_plugin")
    if spec is None or spec.origin is None:
        return False
    import torch  # noqa: F401  (the plugin links against the torch libraries loaded here)
    from nvidia.dali import plugin_manager

    try:
        plugin_manager.load_library(spec.origin)
    except Exception as error:  # DALI raises RuntimeError; a broken file can raise others
        warnings.warn(f"vipriors: could not load the DALI plugin {spec.origin} ({error}); DALI's resize is used "
                      f"instead. Rebuild it against this environment with `python setup.py develop`.")
        return False
    return True


def resolve_resize(choice: str, on_gpu: bool) -> str:
    """The training resize to run, "torch" or "dali", for the --train-resize ``choice`` ("auto" too)."""
    if choice == "auto":
        return "dali" if on_gpu or not load() else "torch"
    if choice == "torch" and on_gpu:
        raise ConfigError("--train-resize torch runs in the CPU pipeline only; on the GPU use auto or dali")
    if choice == "torch" and not load():
        raise ConfigError("--train-resize torch needs vipriors' DALI plugin, which this build lacks (setup.py builds it "
                         "where DALI and the CUDA headers are found: see its output); rebuild with `python setup.py "
                         "develop`, or pass --train-resize dali")
    return choice
