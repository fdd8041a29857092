"""Fixtures of the micro zoo tooling's tests. ``kb``, ``run_cli`` and the temporary ``MNC_CACHE_DIR`` come from
the repository's root conftest.py (shared with the library's tests; tests/conftest.py does not reach here)."""

from __future__ import annotations

import functools

import pytest


@pytest.fixture
def mnc_mz(run_cli):
    """``mnc_mz(*args)``: run ``mnc-microzoo`` in-process; return ``(exit code, stdout, stderr)``."""
    from matchchoose_microzoo.cli import main

    return functools.partial(run_cli, main)
