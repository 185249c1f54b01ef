"""Data: the built-in synthetic dataset, folder scanning, DALI pipelines and their loader.

Nothing here imports DALI at package import time; vipriors.data.pipeline does.
"""
