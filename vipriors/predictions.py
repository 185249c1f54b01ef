"""The prediction file: what scripts/predict.py writes and the ensemble reads.

One ``.npz`` per model and split:
  ids      str [N]          image ids (file names for a test folder, "class/file" otherwise)
  probs    float32 [N, C]   class probabilities (softmax), rows sum to 1: kept at the precision
                            they were computed in, so a file's top-1 and votes are the model's
                            to the image (half precision swaps near-tied classes)
  labels   int64 [N]        true class index, -1 where unknown (a test split)
  classes  str [C]          class names in index order (sorted folder names)
  model    str              a name for the model (the run folder by default)
  config   str              the run's resolved configuration, as JSON
  class_words  str [C]      optional: each class's words from the run's names file ("" where none)
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass

import numpy as np

from .errors import UserError
from .files import write_atomic

SUM_TOLERANCE = 1e-2  # files stored in float16 (older ones, or made elsewhere): 1000 entries of ~1e-3 round to about 1e-3


def top1(scores, labels) -> float:
    """The share of rows whose highest score is at the row's label (numpy arrays or tensors)."""
    hits = scores.argmax(1) == labels
    return float(hits.sum()) / max(1, len(labels))


class PredictionFileError(UserError):
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
    class_words: np.ndarray | None = None  # [C] words of each class, "" where none

    def __post_init__(self):
        if self.class_words is None:
            self.class_words = np.full(len(self.classes) if np.ndim(self.classes) else 0, "", dtype=str)

    @property
    def has_labels(self) -> bool:
        return bool((self.labels >= 0).all())

    def accuracy(self) -> float:
        return top1(self.probs, self.labels)


def save(path: str, ids, probs, labels, classes, model: str, config: dict, class_words=None) -> None:
    words = {} if class_words is None or not any(class_words) else {"class_words": np.asarray(class_words, dtype=str)}
    write_atomic(path, lambda f: np.savez_compressed(
        f, ids=np.asarray(ids, dtype=str), probs=np.asarray(probs, dtype=np.float32),
        labels=np.asarray(labels, dtype=np.int64), classes=np.asarray(classes, dtype=str),
        model=np.asarray(model), config=np.asarray(json.dumps(config)), **words), binary=True)


def load(path: str) -> Predictions:
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = {"ids", "probs", "labels", "classes", "model", "config"} - set(f.files)
            if missing:
                raise PredictionFileError(f"{path}: not a vipriors prediction file (no {', '.join(sorted(missing))}); "
                                          "make one with scripts/predict.py")
            p = Predictions(f["ids"], f["probs"].astype(np.float32), f["labels"], f["classes"], str(f["model"]),
                            json.loads(str(f["config"])), path, f["class_words"] if "class_words" in f.files else None)
    except PredictionFileError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise PredictionFileError(f"{path}: cannot read it as a prediction file ({error or type(error).__name__}); "
                                  "predict again with scripts/predict.py") from None
    n, c = p.probs.shape if p.probs.ndim == 2 else (-1, -1)
    if n < 0 or len(p.ids) != n or len(p.labels) != n or len(p.classes) != c or len(p.class_words) != c:
        raise PredictionFileError(f"{path}: inconsistent shapes: ids {p.ids.shape}, probs {p.probs.shape}, "
                                  f"labels {p.labels.shape}, classes {p.classes.shape}, class_words {p.class_words.shape}")
    if n == 0 or c == 0:
        raise PredictionFileError(f"{path}: holds no predictions ({n} images, {c} classes); predict a split with images")
    if not np.isfinite(p.probs).all():
        raise PredictionFileError(f"{path}: probabilities contain NaN or infinity")
    worst = float(np.abs(p.probs.sum(1) - 1).max())
    if worst > SUM_TOLERANCE:
        raise PredictionFileError(f"{path}: rows must sum to 1 (probabilities, not logits); worst is off by {worst:.3g}")
    labelled = p.labels >= 0
    if labelled.any() and not labelled.all() or (p.labels < -1).any() or (p.labels >= c).any():
        raise PredictionFileError(f"{path}: labels must all be class indices in 0..{c - 1}, or all -1 (unlabelled); "
                                  f"found {sorted(set(p.labels.tolist()))[:5]}...")
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
