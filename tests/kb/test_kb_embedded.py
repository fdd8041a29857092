"""The embedded knowledge base: a writable working copy in the cache; removing datasets from a KB."""

from __future__ import annotations

import hashlib

import pytest

from matchchoose import KnowledgeBaseError
from matchchoose.kb import KnowledgeBase, _embedded, embedded_kb, import_frame


def _small_kb(path):
    import pandas as pd

    kb = KnowledgeBase(path)
    rows = pd.DataFrame({"model": ["a", "b", "a", "b"], "dataset": ["x", "x", "y", "y"], "metric": "clip_fid",
                         "value": [1.0, 2.0, 3.0, 1.5]})
    import_frame(kb, rows, "results")
    import_frame(kb, rows.assign(value=rows["value"] * 2), "prescores")
    kb.store_distances([("x", "y", 4.0)], "frechet:pixels")
    kb.close()
    return path


def test_embedded_kb_is_copied_once_by_content_and_the_package_file_is_never_written(tmp_path, monkeypatch):
    source = _small_kb(tmp_path / "pkg" / "microzoo.sqlite")
    monkeypatch.setattr(_embedded, "embedded_kb_file", lambda: source)
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    copy = embedded_kb(tmp_path / "cache")
    assert copy.parent == tmp_path / "cache" and copy.name == f"microzoo-{before[:16]}.sqlite"
    KnowledgeBase(copy).store_distances([("x", "y", 5.0)], "frechet:pixels")  # the copy takes writes
    assert embedded_kb(tmp_path / "cache") == copy  # not copied again over the user's additions
    assert KnowledgeBase(copy).distances_of("x", "frechet:pixels") == {"y": 5.0}
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before


def test_missing_embedded_kb_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(_embedded, "embedded_kb_file", lambda: None)
    with pytest.raises(KnowledgeBaseError, match="lacks its embedded knowledge base.*--kb"):
        embedded_kb(tmp_path)


def test_remove_datasets_deletes_everything_about_them_in_one_transaction(tmp_path):
    kb = KnowledgeBase(_small_kb(tmp_path / "kb.sqlite"))
    with pytest.raises(KnowledgeBaseError, match="'nope' is not in"):
        kb.remove_datasets(["y", "nope"])
    assert kb.datasets() == ["x", "y"]  # nothing deleted
    deleted = kb.remove_datasets("y")
    assert deleted["results"] == 4 and deleted["distances"] == 1 and deleted["datasets"] == 1
    assert kb.datasets() == ["x"] and kb.distances_of("x", "frechet:pixels") == {}
    assert set(kb.records("clip_fid").results["dataset"]) == {"x"}
