"""Run a recipe folder end to end: data, members, predictions, vote, final models, submission.

    python scripts/recipe.py recipes/tiny200-50                      # the recipe
    python scripts/recipe.py recipes/tiny200-50 --ablation ablation.yaml   # an ablation chain instead
    python scripts/recipe.py recipes/tiny200-50 --predict DIR        # the final models' vote on any folder
    python scripts/recipe.py recipes/vipriors --nproc-per-node 8     # each member on 8 GPUs (torchrun)

A recipe folder holds recipe.yaml (the data and how it is split, the run folder, the TTA,
the final stage and submission), the members file(s) and their YAML configs. Finished runs
are kept, interrupted ones resume: run the same command again after a stop. On several
nodes, run it once per node with --nnodes, --node-rank and the rendezvous flags (they go to
torchrun as given); docs/cluster.md has a SLURM batch file. docs/recipes.md describes the
recipe files.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shlex

from ..recipe import runner, spec
from ..recipe.launch import Launch
from . import guarded


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", help="a recipe folder, e.g. recipes/tiny200-50")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--members", metavar="FILE", help="members file of the recipe folder (default: the recipe's)")
    which.add_argument("--ablation", metavar="FILE", help="train this chain of the recipe folder instead: each row "
                                                          "predicted and tabled, no vote, no final stage")
    parser.add_argument("--predict", metavar="FOLDER", help="vote the final models (of --members FILE where given) on "
                                                            "FOLDER (any folder of images, or an ImageFolder with the "
                                                            "same classes, which is scored)")
    parser.add_argument("--out", help="--predict: output folder (default: RUNS/predict-<folder name>, then -<members "
                                      "file name> for a --members FILE other than the recipe's)")
    parser.add_argument("--only", help="comma-separated member names: run these members only")
    parser.add_argument("--validate", action="store_true",
                        help="train the members on the train split only, predict and vote them on val, no final stage: "
                             "the accuracy estimate of a recipe whose final stage is direct")
    parser.add_argument("--source", help="the ImageFolder the recipe splits (default: the recipe's source)")
    parser.add_argument("--data", help="the data root (default: the recipe's data)")
    parser.add_argument("--runs", help="the folder of the run folders (default: the recipe's runs)")
    parser.add_argument("--class-names", help="names file, folder<TAB>words (default: the recipe's class_names)")
    parser.add_argument("--train-args", default="", help="extra train.py flags for every training run, in one quoted "
                                                         "string (e.g. \"--data-threads 8\"); they win over the recipe's")
    parser.add_argument("--jobs", type=int, metavar="N",
                        help="train N members at a time on this machine, each one process with 1/N of the CPU threads "
                             "(torch's and DALI's) and, where GPUs are visible, a GPU of its own; for models one "
                             "training cannot spread over every core or GPU (default: the recipe's jobs, else 1: one "
                             "after the other on everything; 1 with --nproc-per-node or --nnodes)")
    dist = parser.add_argument_group("processes and nodes (passed to torchrun)")
    dist.add_argument("--nproc-per-node", type=int, default=1, help="training processes per node (1: plain python)")
    dist.add_argument("--nnodes", default="1")
    dist.add_argument("--node-rank", type=int)
    dist.add_argument("--master-addr")
    dist.add_argument("--master-port", type=int)
    dist.add_argument("--rdzv-backend")
    dist.add_argument("--rdzv-endpoint")
    dist.add_argument("--rdzv-id")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return guarded("recipe.py", lambda: run(args))


def _with_overrides(recipe: spec.Recipe, args: argparse.Namespace) -> spec.Recipe:
    changes = {key: os.path.abspath(getattr(args, key)) for key in ("source", "data", "runs") if getattr(args, key)}
    if args.class_names:
        changes["class_names"] = os.path.abspath(args.class_names)
    return dataclasses.replace(recipe, **changes)


def run(args: argparse.Namespace) -> int:
    if args.predict and args.ablation:
        raise spec.RecipeError("--predict: it votes the final models of a members file, and an --ablation chain has no "
                               "final stage; give --members FILE (or neither)")
    recipe = _with_overrides(spec.load_recipe(args.recipe), args)
    launch = Launch(args.nproc_per_node, args.nnodes, args.node_rank, args.rdzv_backend, args.rdzv_endpoint,
                    args.rdzv_id, args.master_addr, args.master_port, 1 if args.jobs is None else args.jobs)
    if args.jobs is None and not launch.distributed:
        # The recipe's jobs suit one machine; a torchrun launch spreads each training over its processes instead.
        launch = dataclasses.replace(launch, jobs=recipe.jobs)
    flag, name = ("--ablation", args.ablation) if args.ablation else ("--members", args.members or recipe.members)
    members_file = spec.members_path(recipe, name, flag)
    options = runner.Options(launch, tuple(shlex.split(args.train_args)),
                             tuple(n for n in args.only.split(",") if n) if args.only else None, args.validate,
                             None if args.ablation else members_file)
    every = spec.load_members(members_file, recipe)
    if not args.ablation:
        runner.check_final(recipe, every)
    members = runner.selected(every, options)
    if args.out and not args.predict:
        raise spec.RecipeError("--out: only with --predict FOLDER")
    if args.predict:
        if not os.path.isdir(args.predict):
            raise spec.RecipeError(f"--predict {args.predict}: no such folder")
        finals = runner.final_rows(recipe, members)
        runner.predict_with(finals, os.path.abspath(args.predict),
                            os.path.abspath(args.out or runner.default_predict_dir(recipe, args.predict, members_file)),
                            recipe, launch)
        return 0
    chain = os.path.splitext(os.path.basename(args.ablation))[0] if args.ablation else None
    runner.run_members(recipe, members, options, chain)
    return 0
