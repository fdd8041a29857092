"""Fixtures shared by the library's tests (``tests/``) and the micro zoo tooling's (``tools/microzoo/tests/``).

pytest loads this file for both trees (``testpaths`` in pyproject.toml): it sits in the rootdir, the folder of
pyproject.toml, which is also where conftest collection stops. A conftest.py inside one tree does not reach the
other, so what both use lives here; what one tree uses lives in its own conftest.py. Test code only: nothing in
``src/`` imports it.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _cache_in_tmp(tmp_path_factory):
    """Point ``MNC_CACHE_DIR`` at a temporary folder so no test writes embeddings (or anything) to ``~/.cache``."""
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
def run_cli(capsys):
    """``run_cli(main, *args)``: run a CLI entry point ``main(argv)`` in-process; return
    ``(exit code, stdout, stderr)``. Each tree binds it to its CLI (``mnc``, ``mnc_mz``)."""

    def run(main, *args):
        try:
            main([str(arg) for arg in args])
            code = 0
        except SystemExit as exc:
            code = exc.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for the module (restored after): tiny models gain nothing from more, and OpenMP
    spin-waits make them 10-30x slower when another process shares the cores. Test modules of tiny torch
    models request it (``pytestmark = pytest.mark.usefixtures(...)``, or an autouse fixture in a conftest)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
