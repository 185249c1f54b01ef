"""vipriors: fast data-efficient image classification from scratch.

Importing the package is cheap and never imports DALI; the ops need the compiled
extension (``python setup.py develop``) and are loaded by ``vipriors.ops``.
"""
__version__ = "0.1.0"
