"""SIA's starting classes from --stubborn-file: a JSON list of class names, or the worst
classes of a per-class accuracy file (the per_class_accuracy.json a run writes), ranked as
the stubborn-class loop ranks them."""
from __future__ import annotations

import json

from ..errors import UserError


def worst_first(table: dict, loss: dict | None = None) -> list[str]:
    """Class names from lowest accuracy up; equal accuracies go highest validation loss first
    (where ``loss`` is given), then by name: the order the stubborn-class loop ranks them in,
    so a set read from a run's file is, up to the file's rounding, the set that run's loop took."""
    loss = loss or {}
    return sorted(table, key=lambda name: (table[name], -loss.get(name, 0.0), name))


def read(path: str, classes, k: int) -> list[str]:
    """Class names from a JSON list, or the ``k`` worst of a per-class accuracy file."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as error:
        raise UserError(f"--stubborn-file {path}: cannot read it as JSON ({error})") from None
    if isinstance(data, dict):
        table = data.get("per_class_top1", data)
        k = k or max(1, len(table) // 10)
        names = worst_first(table, data.get("per_class_val_loss"))[:k]
    elif isinstance(data, list) and all(isinstance(n, str) for n in data):
        names = data
    else:
        raise UserError(f"--stubborn-file {path}: expected a list of class names or a per-class accuracy table")
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise UserError(f"--stubborn-file {path}: {len(unknown)} names are not classes of this dataset, e.g. {unknown[:3]}")
    return list(names)
