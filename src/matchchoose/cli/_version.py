"""``mnc version``: the environment, for bug reports."""

from __future__ import annotations

import importlib.metadata as md
import platform

import click

from ._common import console

_PACKAGES = ["matchchoose", "numpy", "pandas", "scipy", "scikit-learn", "catboost", "pecanpy", "numba",
             "gensim", "xgboost-cpu", "torch", "transformers", "diffusers", "peft", "ray"]


@click.command()
def version():
    """Print matchchoose's version and its environment, for bug reports.

    Example: mnc version
    """
    console.print(f"python {platform.python_version()} ({platform.platform()})", highlight=False)
    for name in _PACKAGES:
        try:
            console.print(f"{name} {md.version(name)}", highlight=False)
        except md.PackageNotFoundError:
            console.print(f"{name} (not installed)", highlight=False)
