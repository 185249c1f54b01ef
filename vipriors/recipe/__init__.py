"""Recipes: a folder of YAML files that says how to go from images to a submission (the data
and its split, the members and their stages, the TTA, the final models), and the runner that
carries it out step by step, keeping what is already done. ``scripts/recipe.py`` is its
command line; docs/recipes.md describes the files.
"""
