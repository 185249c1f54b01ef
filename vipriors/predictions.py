"""The prediction file: what scripts/predict.py writes and the ensemble reads.

One ``.npz`` per model and split:
  ids      str [N]          image ids (file names for a test folder, "class/file" otherwise)
  probs    float16 [N, C]   class probabilities (softmax), rows sum to 1
  labels   int64 [N]        true class index, -1 where unknown (a test split)
  classes  str [C]          class names in index order (sorted folder names)
  model    str              a name for the model (the run folder by default)
  config   str              the run's resolved configuration, as JSON
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

SUM_TOLERANCE = 1e-2  # float16 storage: 1000 entries of ~1e-3 each round to about 1e-3 total


class PredictionFileError(ValueError):
    pass


@dataclass
class Predictions:
    ids: np.ndarray
    probs: np.ndarray
    labels: np.ndarray
    classes: np.ndarray
    model: str
    config: dict
    path: str = ""

    @property
    def has_labels(self) -> bool:
        return bool((self.labels >= 0).all())

    def accuracy(self) -> float:
        return float((self.probs.argmax(1) == self.labels).mean())


def save(path: str, ids, probs, labels, classes, model: str, config: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    tmp = f"{path}.partial.npz"
    np.savez_compressed(tmp, ids=np.asarray(ids, dtype=str), probs=np.asarray(probs, dtype=np.float16),
                        labels=np.asarray(labels, dtype=np.int64), classes=np.asarray(classes, dtype=str),
                        model=np.asarray(model), config=np.asarray(json.dumps(config)))
    os.replace(tmp, path)


def load(path: str) -> Predictions:
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = {"ids", "probs", "labels", "classes", "model", "config"} - set(f.files)
            if missing:
                raise PredictionFileError(f"{path}: not a vipriors prediction file (no {', '.join(sorted(missing))})")
            p = Predictions(f["ids"], f["probs"].astype(np.float32), f["labels"], f["classes"], str(f["model"]),
                            json.loads(str(f["config"])), path)
    except (OSError, ValueError) as error:
        if isinstance(error, PredictionFileError):
            raise
        raise PredictionFileError(f"{path}: cannot read it as a prediction file ({error})") from None
    n, c = p.probs.shape if p.probs.ndim == 2 else (-1, -1)
    if n < 0 or len(p.ids) != n or len(p.labels) != n or len(p.classes) != c:
        raise PredictionFileError(f"{path}: inconsistent shapes: ids {p.ids.shape}, probs {p.probs.shape}, "
                                  f"labels {p.labels.shape}, classes {p.classes.shape}")
    if not np.isfinite(p.probs).all():
        raise PredictionFileError(f"{path}: probabilities contain NaN or infinity")
    worst = float(np.abs(p.probs.sum(1) - 1).max()) if n else 0.0
    if worst > SUM_TOLERANCE:
        raise PredictionFileError(f"{path}: rows must sum to 1 (probabilities, not logits); worst is off by {worst:.3g}")
    return p


def check_compatible(files: list[Predictions]) -> None:
    """Same images in the same order, same classes, same labels: or say which file differs."""
    first = files[0]
    for other in files[1:]:
        where = f"{other.path} vs {first.path}"
        if len(other.classes) != len(first.classes) or (other.classes != first.classes).any():
            raise PredictionFileError(f"{where}: different class lists ({len(other.classes)} vs {len(first.classes)} classes)")
        if len(other.ids) != len(first.ids):
            raise PredictionFileError(f"{where}: {len(other.ids)} vs {len(first.ids)} images; predict the same split")
        differ = np.flatnonzero(other.ids != first.ids)
        if differ.size:
            i = differ[0]
            raise PredictionFileError(f"{where}: image ids differ at {differ.size} positions, first at row {i} "
                                      f"({other.ids[i]!r} vs {first.ids[i]!r})")
        if (other.labels != first.labels).any():
            raise PredictionFileError(f"{where}: same ids but different labels; were they made from the same data?")
