"""Fixtures shared across the test suite (keep this file small)."""

from __future__ import annotations

import pytest

from matchchoose.kb import KnowledgeBase


@pytest.fixture
def kb():
    """An empty in-memory knowledge base."""
    with KnowledgeBase(":memory:") as store:
        yield store


@pytest.fixture
def write_csv(tmp_path):
    """``write_csv(name, text)``: write ``text`` (dedented, stripped) to ``tmp_path / name``; return the path."""
    import textwrap

    def write(name: str, text: str):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).strip() + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True, scope="session")
def _embedding_cache_in_tmp(tmp_path_factory):
    """Point ``MNC_CACHE_DIR`` at a temporary folder so no test writes embeddings to ``~/.cache``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MNC_CACHE_DIR", str(tmp_path_factory.mktemp("mnc_cache")))
        yield


@pytest.fixture
def fresh_embedding_memory():
    """Empty the in-process Node2Vec+ embedding cache before and after the test."""
    from matchchoose.graph import _node2vec

    _node2vec._MEMORY.clear()
    yield _node2vec._MEMORY
    _node2vec._MEMORY.clear()
