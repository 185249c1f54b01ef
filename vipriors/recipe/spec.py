"""What a recipe folder declares: ``recipe.yaml`` (data, split, runs, prediction, final
stage) and a members file (the models to train). Both are checked whole before any work:
an unknown key names its close matches, a missing file names the key that points at it.

Relative paths in recipe.yaml are relative to the repository root (the folder holding
``scripts/``), so a recipe reads the same from any working directory; a member's
``config`` is relative to the recipe folder.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..config import BELOW_ONE, ConfigError, Range, check_choice, number, read_yaml, refuse_unknown
from ..tta import MODES as TTA_MODES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPE_FILE = "recipe.yaml"
CHECKPOINTS = ("best", "last")


class RecipeError(ConfigError):
    """A recipe folder or members file that cannot be run; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Split:
    """Images per class taken from ``source`` for each split (the first by sorted file name)."""
    train: int
    val: int = 0
    test: int = 0


@dataclass(frozen=True)
class Final:
    """The final stage: every member (or those named) trained again on ``train_split``.
    ``direct``: the recipe trains only the final models (no train-only stage and vote; the
    members' settings were chosen on the validation split beforehand, with ``--ablation``)."""
    train_split: str
    members: tuple[str, ...] | None = None
    direct: bool = False


@dataclass(frozen=True)
class Recipe:
    folder: str
    name: str
    data: str  # the data root the members train on
    runs: str  # where their run folders go
    source: str | None = None  # an ImageFolder that ``split`` carves ``data`` from
    split: Split | None = None
    prepare: str | None = None  # how to make ``data`` when the recipe does not build it
    class_names: str | None = None  # names file: folder<TAB>words
    members: str = "members.yaml"
    tta: str = "none"
    checkpoint: str = "last"  # which checkpoint of a train-only stage predicts (and starts its LS stage)
    final: Final | None = None
    submission: str | None = None  # split of ``data`` the final models predict into submission.csv
    jobs: int = 1  # the default of --jobs: trainings side by side on one machine


@dataclass(frozen=True)
class Member:
    """One model of the recipe: a cross-entropy stage (``config`` + ``args``) and optionally the
    method's label-smoothing stage from its weights (``ls_epochs`` > 0)."""
    name: str
    config: str
    args: tuple[str, ...] = ()
    ls_epochs: int = 0
    ls: float = 0.1
    ls_args: tuple[str, ...] = ()


def _refuse_unknown(where: str, given: dict, known) -> None:
    refuse_unknown(where, given, known, RecipeError, noun="key")


def _mapping(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise RecipeError(f"{where}: expected a mapping of keys, e.g. 'train: 50'")
    return value


def _count(value, where: str, minimum: int = 0) -> int:
    return number(value, int, Range(minimum), where, RecipeError)


def repo_path(path: str | None) -> str | None:
    return None if path is None else os.path.normpath(os.path.join(REPO, os.path.expanduser(str(path))))


def load_recipe(folder: str) -> Recipe:
    """The recipe of ``folder`` (a recipe folder, or its recipe.yaml)."""
    if os.path.basename(folder) == RECIPE_FILE:
        folder = os.path.dirname(folder) or "."
    path = os.path.join(folder, RECIPE_FILE)
    if not os.path.isfile(path):
        found = sorted(d for d in os.listdir(os.path.join(REPO, "recipes"))
                       if os.path.isfile(os.path.join(REPO, "recipes", d, RECIPE_FILE)))
        raise RecipeError(f"{folder}: not a recipe folder (no {RECIPE_FILE}); the recipes are "
                          f"{', '.join('recipes/' + d for d in found)}")
    values = _mapping(read_yaml(path, "recipe") or {}, path)
    fields = [f for f in Recipe.__dataclass_fields__ if f not in ("folder", "name")]
    _refuse_unknown(path, values, fields)
    for key in ("data", "runs"):
        if not values.get(key):
            raise RecipeError(f"{path}: '{key}' is required (the {'data root' if key == 'data' else 'run folders'} path)")
    split = final = None
    if "split" in values:
        given = _mapping(values["split"], f"{path}: split")
        _refuse_unknown(f"{path}: split", given, list(Split.__dataclass_fields__))
        if not values.get("source"):
            raise RecipeError(f"{path}: 'split' needs 'source', the ImageFolder it carves the splits from")
        _count(given.get("train"), f"{path}: split.train", 1)
        split = Split(**{k: _count(v, f"{path}: split.{k}") for k, v in given.items()})
    if "final" in values:
        given = _mapping(values["final"], f"{path}: final")
        _refuse_unknown(f"{path}: final", given, list(Final.__dataclass_fields__))
        if not given.get("train_split"):
            raise RecipeError(f"{path}: final.train_split is required, e.g. 'train,val'")
        members = given.get("members")
        direct = given.get("direct", False)
        if not isinstance(direct, bool):
            raise RecipeError(f"{path}: final.direct {direct!r}: give true or false")
        final = Final(str(given["train_split"]), None if members is None else tuple(str(m) for m in members), direct)
    check_choice(values.get("tta", "none"), TTA_MODES, f"{path}: tta", RecipeError)
    check_choice(values.get("checkpoint", "last"), CHECKPOINTS, f"{path}: checkpoint", RecipeError)
    if values.get("submission") and not final:
        raise RecipeError(f"{path}: 'submission' is predicted by the final models; add a 'final' stage")
    folder = os.path.abspath(folder)
    return Recipe(
        folder=folder, name=os.path.basename(folder), data=repo_path(values["data"]), runs=repo_path(values["runs"]),
        source=repo_path(values.get("source")), split=split, prepare=values.get("prepare"),
        class_names=repo_path(values.get("class_names")), members=str(values.get("members", "members.yaml")),
        tta=values.get("tta", "none"), checkpoint=values.get("checkpoint", "last"), final=final,
        submission=values.get("submission"), jobs=_count(values.get("jobs", 1), f"{path}: jobs", 1))


def members_path(recipe: Recipe, name: str, flag: str) -> str:
    """A members file of the recipe folder, or else one at the path given (the folder's wins)."""
    path = os.path.join(recipe.folder, name)
    if not os.path.isfile(path):
        path = name
    if not os.path.isfile(path):
        choices = sorted(f for f in os.listdir(recipe.folder) if f.endswith(".yaml") and f != RECIPE_FILE)
        raise RecipeError(f"{flag} {name}: no such file in {recipe.folder}; the files there are {', '.join(choices)}")
    return path


NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def load_members(path: str, recipe: Recipe) -> list[Member]:
    """The members of a members file, each checked: a unique folder-safe name, an existing config."""
    values = read_yaml(path, "members file")
    if not isinstance(values, dict) or not isinstance(values.get("members"), list) or not values["members"]:
        raise RecipeError(f"{path}: expected 'members:' and a list of members, each with a name and a config "
                          "(base.yaml holds shared settings, not members)")
    members, seen = [], set()
    for i, entry in enumerate(values["members"]):
        where = f"{path}: member {i + 1}"
        entry = _mapping(entry, where)
        _refuse_unknown(where, entry, list(Member.__dataclass_fields__))
        name = str(entry.get("name", ""))
        if not NAME.match(name):
            raise RecipeError(f"{where}: name {name!r} must be a folder name (letters, digits, '.', '_', '-')")
        if name in seen:
            raise RecipeError(f"{where}: name '{name}' is used twice; each member needs its own run folder")
        seen.add(name)
        if "config" not in entry:
            raise RecipeError(f"{where} ({name}): 'config' is required (a YAML recipe of the recipe folder)")
        config = os.path.join(recipe.folder, str(entry["config"]))
        if not os.path.isfile(config):
            raise RecipeError(f"{where} ({name}): config {entry['config']}: no such file in {recipe.folder}")
        for key in ("args", "ls_args"):
            if not isinstance(entry.get(key, []), list):
                raise RecipeError(f"{where} ({name}): '{key}' must be a list of command-line words, e.g. [--epochs, \"30\"]")
        ls = number(entry.get("ls", 0.1), float, BELOW_ONE, f"{where} ({name}): ls", RecipeError)
        members.append(Member(name, config, tuple(str(a) for a in entry.get("args", [])),
                              _count(entry.get("ls_epochs", 0), f"{where} ({name}): ls_epochs"), ls,
                              tuple(str(a) for a in entry.get("ls_args", []))))
    return members
