"""Soft-vote ensembles of prediction files, with greedy model screening.

Screening is greedy forward selection with replacement (Caruana et al., 2004): starting
from nothing, repeatedly add the model (possibly one already chosen) that most improves
the ensemble's accuracy on a labelled split; the number of times a model is picked is its
weight. Ties go to the lower negative log-likelihood, then to the earlier file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from . import submission
from .files import write_text_atomic
from .predictions import Predictions, PredictionFileError, check_compatible, top1

SELECTIONS = ("greedy", "all")


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
    history: list[float]  # ensemble accuracy after each pick (empty for an equal vote)
    accuracy: float  # the weighted vote's top-1 on the labelled split


def _labelled(files: list[Predictions]) -> np.ndarray:
    check_compatible(files)
    if not files[0].has_labels:
        raise PredictionFileError(f"{files[0].path}: a vote is scored on a labelled split (labels are -1 here); "
                                  "predict a labelled split")
    return files[0].labels


def vote(files: list[Predictions], select: str = "all", max_picks: int = 25) -> Selection:
    """The vote of ``files`` on their labelled split: every file with equal weight (``all``) or
    the greedy screening's weights (``greedy``, fitted to the split it is scored on)."""
    if select not in SELECTIONS:
        raise ValueError(f"select {select!r}: choose one of {', '.join(SELECTIONS)}")
    if select == "greedy":
        return greedy_select(files, max_picks)
    labels = _labelled(files)
    return Selection([1] * len(files), list(range(len(files))), [], top1(soft_vote(files), labels))


def greedy_select(files: list[Predictions], max_picks: int = 25, patience: int = 5) -> Selection:
    labels = _labelled(files)
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
    return Selection(weights, picks, history[:best_len], best_acc)


def write_vote(out_dir: str, val: list[Predictions], chosen: Selection, select: str,
               test: list[Predictions] | None = None) -> dict:
    """Writes out_dir/submission.csv (the weighted vote of ``test``, else of ``val``) and
    out_dir/ensemble.json (each member's accuracy and weight, the picks); returns the report."""
    target = test or val
    csv_path = os.path.join(out_dir, "submission.csv")
    submission.write(csv_path, target[0].ids, soft_vote(target, chosen.weights).argmax(1))
    members = [{"model": v.model, "file": v.path, "val_top1": round(v.accuracy(), 4), "weight": w}
               for v, w in zip(val, chosen.weights)]
    report = {"select": select, "members": members, "pick_order": [val[i].model for i in chosen.picks],
              "accuracy_after_each_pick": [round(a, 4) for a in chosen.history],
              "ensemble_val_top1": round(chosen.accuracy, 4), "submission": csv_path,
              "submission_split": "test" if test else "val"}
    write_text_atomic(os.path.join(out_dir, "ensemble.json"), json.dumps(report, indent=1))
    return report
