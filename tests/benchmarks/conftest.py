"""Shared by the tests of the scripts in ``benchmarks/``: loading a script as a module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    """The module ``benchmarks/<name>.py`` (the folder goes on ``sys.path`` first, for the scripts that import
    their neighbours)."""
    path = BENCHMARKS / f"{name}.py"
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def load_script():
    """``load_script(name)``: the module ``benchmarks/<name>.py``."""
    return _load
