"""The challenge's submission CSV (``Image IDs,Predictions``) and strict scoring.

The official scorer silently skips ids missing from a submission; this one refuses
missing, duplicated or unknown ids and malformed predictions, with counts and examples,
unless asked to score a partial file.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass

from .errors import UserError
from .files import write_atomic

HEADER = ("Image IDs", "Predictions")


class SubmissionError(UserError):
    pass


def write(path: str, ids, predictions) -> None:
    def rows(f):
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(zip(ids, (int(p) for p in predictions)))

    write_atomic(path, rows)


def _examples(values, n: int = 5) -> str:
    values = list(values)
    return ", ".join(map(repr, values[:n])) + (f" ... ({len(values)} in all)" if len(values) > n else "")


def read(path: str, num_classes: int | None = None) -> dict[str, int]:
    """``{image id: class index}``; any malformed row is an error naming the file and rows."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except OSError as error:
        raise SubmissionError(f"{path}: {error.strerror}") from None
    except (UnicodeDecodeError, csv.Error):
        raise SubmissionError(f"{path}: not a UTF-8 text CSV; save it as UTF-8 with the header {','.join(HEADER)}") from None
    if not rows or len(rows[0]) < 2:
        raise SubmissionError(f"{path}: empty, or no header; expected the header {','.join(HEADER)}")
    if len(rows) == 1:
        raise SubmissionError(f"{path}: a header and no rows; expected one 'image id,class index' row per image")
    result, bad, duplicated, out_of_range = {}, [], [], []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            bad.append(f"line {number}: {row!r:.60}")
            continue
        image_id, value = row[0].strip(), row[1].strip()
        try:
            label = int(value)
        except ValueError:
            bad.append(f"line {number}: {value!r} is not an integer class index")
            continue
        if num_classes is not None and not 0 <= label < num_classes:
            out_of_range.append(f"line {number}: {label}")
        if image_id in result:
            duplicated.append(image_id)
        result[image_id] = label
    problems = []
    if bad:
        problems.append(f"{len(bad)} malformed rows: {_examples(bad)}")
    if out_of_range:
        problems.append(f"{len(out_of_range)} predictions outside 0..{num_classes - 1}: {_examples(out_of_range)}")
    if duplicated:
        problems.append(f"{len(duplicated)} duplicated ids: {_examples(duplicated)}")
    if problems:
        raise SubmissionError(f"{path}: " + "; ".join(problems))
    return result


@dataclass
class Score:
    top1: float
    scored: int
    missing: int
    per_class: dict[int, float]


def score(submission: dict[str, int], truth: dict[str, int], allow_partial: bool = False) -> Score:
    missing = [i for i in truth if i not in submission]
    unknown = [i for i in submission if i not in truth]
    if unknown:
        raise SubmissionError(f"{len(unknown)} ids are not in the ground truth: {_examples(unknown)}")
    if missing and not allow_partial:
        raise SubmissionError(f"{len(missing)} of {len(truth)} ids have no prediction: {_examples(missing)} "
                              "(--allow-partial scores what is there)")
    scored = [i for i in truth if i in submission]
    if not scored:
        raise SubmissionError("no id of the ground truth has a prediction")
    hits, totals = {}, {}
    for image_id in scored:
        c = truth[image_id]
        totals[c] = totals.get(c, 0) + 1
        hits[c] = hits.get(c, 0) + (submission[image_id] == c)
    top1 = sum(hits.values()) / len(scored)
    return Score(top1, len(scored), len(missing), {c: hits[c] / totals[c] for c in sorted(totals)})
