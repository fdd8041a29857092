"""Fixtures of the micro zoo tooling's tests (the library's tests/conftest.py does not reach here)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _cache_in_tmp(tmp_path_factory):
    """Point ``MNC_CACHE_DIR`` at a temporary folder so no test writes to ``~/.cache``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MNC_CACHE_DIR", str(tmp_path_factory.mktemp("mnc_cache")))
        yield


@pytest.fixture
def kb():
    """An empty in-memory knowledge base."""
    from matchchoose.kb import KnowledgeBase

    with KnowledgeBase(":memory:") as store:
        yield store


@pytest.fixture
def mnc_mz(capsys):
    """``mnc_mz(*args)``: run ``mnc-microzoo`` in-process; return ``(exit code, stdout, stderr)``."""
    from matchchoose_microzoo.cli import main

    def run(*args):
        try:
            main([str(arg) for arg in args])
            code = 0
        except SystemExit as exc:
            code = exc.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
