"""Soft-vote ensembles of prediction files, with greedy model screening.

Screening is greedy forward selection with replacement (Caruana et al., 2004): starting
from nothing, repeatedly add the model (possibly one already chosen) that most improves
the ensemble's accuracy on a labelled split; the number of times a model is picked is its
weight. Ties go to the lower negative log-likelihood, then to the earlier file.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engine.metrics import top1
from .predictions import Predictions, PredictionFileError, check_compatible


def soft_vote(files: list[Predictions], weights=None) -> np.ndarray:
    """The weighted mean of the members' class probabilities."""
    weights = np.ones(len(files)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(weights) != len(files) or weights.sum() <= 0 or (weights < 0).any():
        raise ValueError(f"need one non-negative weight per file, with a positive sum; got {list(weights)}")
    total = sum(w * f.probs.astype(np.float64) for w, f in zip(weights, files) if w > 0)
    return total / weights.sum()


def _nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())


@dataclass
class Selection:
    weights: list[int]  # times each file was picked
    picks: list[int]  # file index of each pick, in order
    history: list[float]  # ensemble accuracy after each pick
    member_accuracy: list[float]
    accuracy: float


def greedy_select(files: list[Predictions], max_picks: int = 25, patience: int = 5) -> Selection:
    check_compatible(files)
    labels = files[0].labels
    if not files[0].has_labels:
        raise PredictionFileError(f"{files[0].path}: screening needs a labelled split (labels are -1 here)")
    member = [top1(f.probs, labels) for f in files]
    running = np.zeros_like(files[0].probs, dtype=np.float64)
    picks, history, best_len, best_acc, best_nll = [], [], 0, -1.0, np.inf
    for step in range(1, max_picks + 1):
        scored = []
        for i, f in enumerate(files):
            candidate = (running + f.probs) / step
            scored.append((-top1(candidate, labels), _nll(candidate, labels), i))
        neg_acc, nll, choice = min(scored)
        running += files[choice].probs
        picks.append(choice)
        history.append(-neg_acc)
        if (-neg_acc, -nll) > (best_acc, -best_nll):
            best_len, best_acc, best_nll = step, -neg_acc, nll
        elif step - best_len >= patience:
            break
    picks = picks[:best_len]
    weights = [picks.count(i) for i in range(len(files))]
    return Selection(weights, picks, history[:best_len], member, best_acc)
