"""``mnc version``: the environment, for bug reports."""

from __future__ import annotations

import importlib.metadata as md
import json
import platform

import click

from ._common import console

_PACKAGES = ["matchchoose", "numpy", "pandas", "scipy", "scikit-learn", "catboost", "pecanpy", "numba",
             "gensim", "xgboost-cpu", "torch", "transformers", "diffusers", "peft", "ray"]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON ({package: version or null}, python, platform).")
def version(as_json):
    """Print matchchoose's version and its environment, for bug reports.

    Example: mnc version
    """
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    if as_json:
        click.echo(json.dumps({"python": platform.python_version(), "platform": platform.platform(),
                               "packages": versions}, indent=1))
        return
    console.print(f"python {platform.python_version()} ({platform.platform()})", highlight=False)
    for name, value in versions.items():
        console.print(f"{name} {value or '(not installed)'}", highlight=False)
