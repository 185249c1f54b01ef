"""A recipe from data to submission, in order:

1. the data: ``split`` images per class carved from ``source`` (build_dataset.py subset), or
   ``data`` as prepared beforehand;
2. each member: its cross-entropy stage, optionally the label-smoothing stage from its weights,
   each stage predicting the validation split with the recipe's TTA;
3. the vote: the members' last stages soft-voted with equal weights (no weight fitted to the
   validation split; with ``checkpoint: best`` each member's epoch is still picked on it),
   and greedily screened on it (weights fitted to the split they are scored on: optimistic);
4. the final stage, when the recipe has one: every member trained again, stage by stage, on
   train+val for the same epochs, its SIA classes fixed to the member's last stubborn set;
5. the submission, when the recipe names a split: the final models predict it and vote.
``--predict FOLDER`` repeats step 5 for any folder. Every step prints its command; the table
at the end gives each stage's accuracy and minutes (training epochs + prediction). With
``--jobs N`` the members of steps 2 and 4 train N at a time, each member's stages in order.
"""
from __future__ import annotations

import json
import math
import os
import queue
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .. import ensemble, predictions, submission
from .. import config as cfg
from ..data import splits
from ..errors import UserError
from ..files import write_text_atomic
from . import stages
from .launch import Launch, Slot, slots
from .spec import Member, Recipe, RecipeError, members_path

VOTE = "vote (equal weights)"


@dataclass
class Row:
    name: str
    run_dir: str
    predictions: str | None  # validation predictions (None on a node that does not predict)
    seconds: float  # the member's wall time so far: every stage's training epochs and predictions

    def accuracy(self) -> float:
        return predictions.load(self.predictions).accuracy()


@dataclass
class Options:
    launch: Launch
    train_args: tuple[str, ...] = ()  # appended to every training command (they win over the recipe's)
    only: tuple[str, ...] | None = None  # members to run (None: all)
    validate: bool = False  # the members on train only and their vote; no final stage
    members_file: str | None = None  # the members file run (None: the recipe's own, or an ablation chain)


def prepare_data(recipe: Recipe) -> None:
    if recipe.split:
        if not os.path.isdir(recipe.source):
            raise RecipeError(f"{recipe.name}: source {recipe.source}: no such folder; give --source with the "
                              "ImageFolder the recipe splits")
        split = recipe.split
        report = splits.build_subset(recipe.source, recipe.data, split.train, split.val, split.test, progress=False)
        print(f"{recipe.data}: {report.created} files linked, {report.kept} already in place", flush=True)
    elif not os.path.isdir(recipe.data):
        how = f" ({recipe.prepare})" if recipe.prepare else ""
        raise RecipeError(f"{recipe.name}: data {recipe.data}: no such folder; prepare it first{how}, or give --data")
    if recipe.class_names and not os.path.isfile(recipe.class_names):
        raise RecipeError(f"{recipe.name}: class_names {recipe.class_names}: no such file; give --class-names or drop it")


def _common_args(recipe: Recipe, member: Member) -> list[str]:
    names = ["--class-names", recipe.class_names] if recipe.class_names else []
    return ["--data", recipe.data, "--config", member.config, *names, *member.args]


def _ls_args(member: Member, init_from: str) -> list[str]:
    return ["--init-from", init_from, "--label-smoothing", str(member.ls), "--epochs", str(member.ls_epochs),
            *member.ls_args]


def side_by_side(work, items: list, launch: Launch) -> list:
    """``work(item, slot)`` for every item, results in the items' order: one after the other
    (slot None), or with --jobs N up to N at a time, each call in a Slot no other running call
    holds. When one fails, the calls already running finish (their stages are kept for the
    next run of the same command), those not started are dropped, and the first error in the
    items' order is raised."""
    if launch.jobs == 1 or len(items) <= 1:
        return [work(item, None) for item in items]
    free: queue.SimpleQueue[Slot] = queue.SimpleQueue()
    for slot in slots(min(launch.jobs, len(items))):
        free.put(slot)

    def in_a_slot(item):
        slot = free.get()
        try:
            return work(item, slot)
        finally:
            free.put(slot)

    with ThreadPoolExecutor(max_workers=launch.jobs) as pool:
        futures = [pool.submit(in_a_slot, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def train_member(recipe: Recipe, member: Member, options: Options, slot: Slot | None = None) -> list[Row]:
    """The member's train-only stages, each predicting the validation split; each row's minutes
    are the member's so far."""
    launch, extra = options.launch, list(options.train_args)
    stage = stages.train(member.name, _common_args(recipe, member) + extra, recipe.runs, launch, slot)
    rows = [_predicted(recipe, member.name, stage, stage.seconds, launch, slot)]
    if member.ls_epochs:
        start = os.path.join(stage.run_dir, f"{recipe.checkpoint}.pt")
        ls_stage = stages.train(member.name + "-ls", _common_args(recipe, member) + _ls_args(member, start) + extra,
                                recipe.runs, launch, slot)
        rows.append(_predicted(recipe, member.name + " + LS stage", ls_stage, rows[0].seconds + ls_stage.seconds,
                               launch, slot))
    return rows


def _predicted(recipe: Recipe, label: str, stage: stages.Stage, seconds: float, launch: Launch,
               slot: Slot | None = None) -> Row:
    """The stage's row, with its validation predictions (made on the main node only)."""
    if not launch.is_main_node:
        return Row(label, stage.run_dir, None, seconds)
    out = os.path.join(stage.run_dir, f"val-{recipe.tta}.npz")
    seconds += stages.predict(os.path.join(stage.run_dir, f"{recipe.checkpoint}.pt"), "val", out, recipe.tta, launch,
                              slot=slot)
    return Row(label, stage.run_dir, out, seconds)


def check_commands(recipe: Recipe, members: list[Member], options: Options) -> None:
    """Every stage's train.py flags, checked as train.py checks them, before any work: a typo in
    the last member's args (a flag, an architecture, a file it names) is found before the
    first member trains for an hour. The recipe's data and a previous stage's checkpoint are
    made by the recipe, so they are not looked for yet."""
    from ..engine.autos import check_names

    extra = list(options.train_args)
    for member in members:
        common = _common_args(recipe, member)
        stage_args = [(common + extra, ("--data",))]
        if member.ls_epochs:
            stage_args.append((common + _ls_args(member, "CE.pt") + extra, ("--data", "--init-from")))
        for args, later in stage_args:
            try:
                check_names(cfg.from_argv(args), later)
            except UserError as error:  # a ConfigError (a bad flag or value), an unknown architecture, a missing file
                raise RecipeError(f"member {member.name}: {error}") from None


def check_final(recipe: Recipe, members: list[Member]) -> None:
    if recipe.final and recipe.final.members:
        unknown = sorted(set(recipe.final.members) - {m.name for m in members})
        if unknown:
            raise RecipeError(f"{recipe.folder}/recipe.yaml: final.members names {unknown}, which are not members "
                              f"({', '.join(m.name for m in members)})")


def _saved_setting(run_dir: str, section: str, key: str):
    return cfg.load_yaml(os.path.join(run_dir, "config.yaml"), "run config").get(section, {}).get(key)


def train_final(recipe: Recipe, member: Member, options: Options, slot: Slot | None = None) -> Row:
    """The member trained again on the final split: the same stages and epochs, evaluated only once
    (its validation images are now training images), SIA on the member's last stubborn classes."""
    launch, extra = options.launch, list(options.train_args)
    ce_dir = os.path.join(recipe.runs, member.name)
    fixed = ["--train-split", recipe.final.train_split]
    stubborn = stages.last_stubborn(ce_dir)
    if stubborn:
        path = os.path.join(ce_dir, "stubborn_classes.json")
        write_text_atomic(path, json.dumps(stubborn))
        fixed += ["--stubborn-file", path, "--stubborn-classes", "0"]
    if recipe.final.direct:  # no member run to read: the epochs its flags set
        epochs = cfg.from_argv(_common_args(recipe, member) + extra).optim.epochs
    else:
        epochs = _saved_setting(ce_dir, "optim", "epochs")
    stage = stages.train(member.name + "-final", _common_args(recipe, member) + fixed +
                         ["--eval-every", str(epochs)] + extra, recipe.runs, launch, slot)
    seconds = stage.seconds
    if member.ls_epochs:
        start = os.path.join(stage.run_dir, "last.pt")
        stage = stages.train(member.name + "-ls-final", _common_args(recipe, member) + _ls_args(member, start) + fixed +
                             ["--eval-every", str(member.ls_epochs)] + extra, recipe.runs, launch, slot)
        seconds += stage.seconds
    return Row(member.name + " (final: " + recipe.final.train_split + ")", stage.run_dir, None, seconds)


def vote(files: list[predictions.Predictions], out_dir: str, select: str) -> float:
    """Soft-votes the members' validation predictions into ``out_dir`` (ensemble.json,
    submission.csv); returns its top-1."""
    chosen = ensemble.vote(files, select)
    ensemble.write_vote(out_dir, files, chosen, select)
    print(f"{out_dir}: the {'equal' if select == 'all' else 'greedy'} vote of {len(files)}: top-1 "
          f"{100 * chosen.accuracy:.2f}%", flush=True)
    return chosen.accuracy


def remove_stale_votes(runs: str, suffix: str) -> None:
    """A call with one member writes no vote, so a vote folder of the same members file left by
    an earlier call with more members would sit beside this call's estimate as if it were its
    vote: it is removed (the members' runs and predictions stay; a call with them votes again)."""
    for name in ("ensemble", "ensemble-greedy"):
        path = os.path.join(runs, name + suffix)
        if os.path.isdir(path):
            shutil.rmtree(path)
            print(f"{path}: removed, an earlier call's vote; this call has one member", flush=True)


def predict_with(finals: list[Row], split: str, out_dir: str, recipe: Recipe, launch: Launch) -> tuple[str, float]:
    """Every final model predicts ``split`` (a split name of the data, or any folder), with --jobs N
    N at a time; the equal-weight vote goes to out_dir/submission.csv and out_dir/vote.npz.
    Returns the CSV and the wall time."""
    start = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)

    def predicted(row: Row, slot: Slot | None) -> predictions.Predictions:
        out = os.path.join(out_dir, f"{os.path.basename(row.run_dir)}-{recipe.tta}.npz")
        stages.predict(os.path.join(row.run_dir, "last.pt"), split, out, recipe.tta, launch, data=recipe.data, slot=slot)
        return predictions.load(out)

    files = side_by_side(predicted, finals, launch)
    predictions.check_compatible(files)
    probs = ensemble.soft_vote(files)
    first = files[0]
    csv_path = os.path.join(out_dir, "submission.csv")
    submission.write(csv_path, first.ids, probs.argmax(1))
    predictions.save(os.path.join(out_dir, "vote.npz"), first.ids, probs, first.labels, first.classes,
                     f"vote of {len(files)}", {"members": [f.model for f in files]}, first.class_words)
    source = "the final model's prediction" if len(files) == 1 else f"the equal-weight vote of {len(files)} final models"
    message = f"wrote {csv_path}: {len(first.ids)} images, {source}"
    if first.has_labels:
        accuracy = predictions.top1(probs, first.labels)
        message += f"; top-1 {100 * accuracy:.2f}% +- {100 * standard_error(accuracy, len(first.ids)):.2f}"
    print(message, flush=True)
    return csv_path, time.perf_counter() - start


def standard_error(accuracy: float, images: int) -> float:
    """The binomial standard error of a top-1 measured on ``images`` images."""
    return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / max(images, 1))


def print_table(rows: list[Row], recipe: Recipe) -> list[dict]:
    table = []
    print(f"\n{'model':44s} {'val top-1 (' + recipe.tta + ')':>22s} {'minutes':>8s}  (training epochs + prediction)")
    for row in rows:
        accuracy = row.accuracy() if row.predictions else None
        table.append({"name": row.name, "run": row.run_dir, "val_top1": accuracy, "minutes": round(row.seconds / 60, 2)})
        shown = f"{100 * accuracy:21.2f}%" if accuracy is not None else f"{'-':>22s}"
        print(f"{row.name:44s} {shown} {row.seconds / 60:8.1f}")
    return table


def selected(members: list[Member], options: Options, flag: str = "--only") -> list[Member]:
    if options.only is None:
        return members
    unknown = sorted(set(options.only) - {m.name for m in members})
    if unknown:
        raise RecipeError(f"{flag} {','.join(unknown)}: not members here; the members are "
                          f"{', '.join(m.name for m in members)}")
    return [m for m in members if m.name in options.only]


def run_members(recipe: Recipe, members: list[Member], options: Options, chain: str | None = None) -> dict:
    """The recipe (members, vote, final stage, submission) or, given the ``chain``'s name, an
    ablation chain (members only). Returns the summary it also writes to RUNS/summary.json
    (summary-validate.json with --validate, summary-<chain>.json for a chain; a members file
    other than the recipe's adds its outputs_suffix, as it does to its vote folders and submission)."""
    started = time.perf_counter()
    check_commands(recipe, members, options)
    prepare_data(recipe)
    final = recipe.final if not chain and not options.validate else None
    direct = final is not None and final.direct
    launch = options.launch
    stages_of = [] if direct else side_by_side(lambda m, slot: train_member(recipe, m, options, slot), members, launch)
    finals, finals_started = [], time.perf_counter()
    if final:
        chosen = final.members or [m.name for m in members]
        finals = side_by_side(lambda m, slot: train_final(recipe, m, options, slot),
                              [m for m in members if m.name in chosen], launch)
    finals_wall = time.perf_counter() - finals_started
    if not options.launch.is_main_node:
        return {}
    suffix = outputs_suffix(recipe, options.members_file)
    rows = [r for rs in stages_of for r in rs]
    summary = {"recipe": recipe.name, "tta": recipe.tta, "rows": print_table(rows, recipe)}
    if options.members_file:
        summary["members"] = os.path.basename(options.members_file)
    last = [rs[-1] for rs in stages_of]
    if not chain and not direct:
        vote_started = time.perf_counter()
        files = [predictions.load(r.predictions) for r in last]
        if len(files) == 1:  # the estimate is the member's own top-1: no vote to write
            equal, greedy, label = files[0].accuracy(), None, "the estimate (one member: its own top-1)"
            remove_stale_votes(recipe.runs, suffix)
        else:
            equal = vote(files, os.path.join(recipe.runs, "ensemble" + suffix), "all")
            greedy = vote(files, os.path.join(recipe.runs, "ensemble-greedy" + suffix), "greedy")
            label = VOTE
        images = len(files[0].ids)
        minutes = (sum(r.seconds for r in last) + time.perf_counter() - vote_started) / 60
        print(f"{label:44s} {100 * equal:21.2f}% {minutes:8.1f}  ({'every member; ' if greedy is not None else ''}+- "
              f"{100 * standard_error(equal, images):.2f} on {images} images)")
        summary.update(vote_top1=equal, val_images=images, members_minutes=round(minutes, 2))
        if greedy is not None:
            print(f"{'vote (greedy on val: optimistic)':44s} {100 * greedy:21.2f}%")
            summary["vote_greedy_top1"] = greedy
    if finals:
        final_minutes = sum(r.seconds for r in finals) / 60
        for row in finals:
            print(f"{row.name:44s} {'(trained on val)':>22s} {row.seconds / 60:8.1f}")
        summary["final"] = [{"name": r.name, "run": r.run_dir, "minutes": round(r.seconds / 60, 2)} for r in finals]
        summary["final_minutes"] = round(final_minutes, 2)
        if launch.jobs > 1 and len(finals) > 1:
            side = f"final models, {min(launch.jobs, len(finals))} side by side"
            print(f"{side:44s} {'wall time':>22s} "
                  f"{finals_wall / 60:8.1f}")
            summary["final_wall_minutes"] = round(finals_wall / 60, 2)
        if recipe.submission:
            csv_path, seconds = predict_with(finals, recipe.submission,
                                             os.path.join(recipe.runs, "submission" + suffix), recipe, options.launch)
            summary.update(submission=csv_path, submission_minutes=round(seconds / 60, 2))
    summary["wall_minutes"] = round((time.perf_counter() - started) / 60, 2)
    print(f"this call took {summary['wall_minutes']:.1f} minutes", flush=True)
    name = f"summary-{chain}.json" if chain else f"summary{'-validate' if options.validate else ''}{suffix}.json"
    write_text_atomic(os.path.join(recipe.runs, name), json.dumps(summary, indent=1))
    return summary


def final_rows(recipe: Recipe, members: list[Member]) -> list[Row]:
    """The final models of a recipe that has trained them; refused, naming the command, otherwise."""
    if not recipe.final:
        raise RecipeError(f"--predict: {recipe.name} has no final stage; predict a member's run with scripts/predict.py")
    chosen = recipe.final.members or [m.name for m in members]
    rows = []
    for m in members:
        if m.name not in chosen:
            continue
        run_dir = os.path.join(recipe.runs, m.name + ("-ls-final" if m.ls_epochs else "-final"))
        if not stages.finished(run_dir):
            raise RecipeError(f"--predict: the final model {run_dir} is not trained; run the recipe first "
                              f"(python scripts/recipe.py {os.path.relpath(recipe.folder)})")
        rows.append(Row(m.name, run_dir, None, 0.0))
    return rows


def outputs_suffix(recipe: Recipe, members_file: str | None) -> str:
    """What the names of a members file's outputs under RUNS (its votes, summaries, submission
    and predictions) end with: nothing for the recipe's own members file (however its path is
    written), -<file name> for any other, so that two members files never share an output."""
    if members_file is None or os.path.samefile(members_file, members_path(recipe, recipe.members, "members")):
        return ""
    return "-" + os.path.splitext(os.path.basename(members_file))[0]


def default_predict_dir(recipe: Recipe, folder: str, members_file: str) -> str:
    """RUNS/predict-<folder name>, then the members file's outputs_suffix."""
    name = os.path.basename(os.path.normpath(folder)) or "folder"
    return os.path.join(recipe.runs, f"predict-{name}{outputs_suffix(recipe, members_file)}")
