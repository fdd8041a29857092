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
