"""Profiles in the knowledge base: exact round trip, compact embeddings, lookups, migration."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from matchchoose import KnowledgeBaseError
from matchchoose.kb import KnowledgeBase, Profile, _schema, latest_version


def _profile(dataset="d", probe="pixels", content="h1", n=5, dim=3, seed=0, embeddings=True):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, dim)).astype(np.float32)
    return Profile(dataset=dataset, probe=probe, preprocess="mode-a", content_hash=content, n=n,
                   mean=emb.mean(0).astype(np.float64), cov=np.cov(emb.astype(np.float64), rowvar=False),
                   embeddings=emb if embeddings else None, probe_info={"name": probe}, report={"n_ok": n})


def test_profile_round_trip_is_exact_for_statistics_and_float16_for_embeddings(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    p = _profile()
    kb.store_profile(p, source="folder")
    got = KnowledgeBase(tmp_path / "kb.sqlite").profile("d", "pixels", embeddings=True)
    assert got.mean.tobytes() == p.mean.tobytes() and got.cov.tobytes() == p.cov.tobytes()
    np.testing.assert_allclose(got.embeddings, p.embeddings, rtol=1e-3, atol=1e-3)
    assert got.embeddings.dtype == np.float32 and got.dim == 3 and got.n == 5
    assert got.probe_info == {"name": "pixels"} and got.report == {"n_ok": 5}
    assert "d" in kb.datasets()
    assert kb.profile("d", "pixels").embeddings is None  # not decoded unless asked


def test_embeddings_are_stored_compactly(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    kb.store_profile(_profile(n=400, dim=64))
    with sqlite3.connect(tmp_path / "kb.sqlite") as conn:
        size = conn.execute("SELECT length(embeddings) FROM profiles").fetchone()[0]
    assert size < 400 * 64 * 2 * 1.01  # float16 (zlib cannot shrink random mantissas much)


def test_find_profile_by_content_and_replace(kb):
    kb.store_profile(_profile(dataset="a", content="same"))
    assert kb.find_profile("same", "pixels", "mode-a").dataset == "a"
    assert kb.find_profile("same", "clip", "mode-a") is None
    assert kb.find_profile("other", "pixels", "mode-a") is None
    kb.store_profile(_profile(dataset="a", content="new", seed=1))
    assert len(kb.profiles()) == 1 and kb.profiles()["content_hash"].tolist() == ["new"]


def test_missing_profile_error_says_how_to_make_one(kb):
    kb.store_profile(_profile(dataset="a"))
    with pytest.raises(KnowledgeBaseError, match=r"no profile for probe 'clip'.*mnc profile DIR --name a --probe clip"):
        kb.profile("a", "clip")


def test_bad_statistics_are_refused_and_nothing_is_written(kb):
    bad = _profile()
    bad.cov = np.full((3, 3), np.nan)
    with pytest.raises(KnowledgeBaseError, match="non-finite"):
        kb.store_profile(bad)
    assert kb.profiles().empty and kb.datasets() == []


def test_profile_means_are_dataset_features_in_records(kb):
    from matchchoose.kb import import_frame
    import pandas as pd

    import_frame(kb, pd.DataFrame({"model": ["m", "m"], "dataset": ["a", "b"], "metric": "clip_fid",
                                   "value": [1.0, 2.0]}), "results")
    kb.store_profile(_profile(dataset="a"))
    kb.store_profile(_profile(dataset="t", seed=3))  # a target: profiled, no results
    records = kb.records("clip_fid", profile_probe="pixels")
    assert records.datasets == ["a", "b", "t"]
    feats = records.dataset_features
    assert list(feats.columns) == ["pixels.0", "pixels.1", "pixels.2"]
    np.testing.assert_array_equal(feats.loc["a"].to_numpy(), _profile(dataset="a").mean)
    assert feats.loc["b"].isna().all()


def test_version_2_knowledge_base_migrates_to_profiles(tmp_path, monkeypatch):
    path = tmp_path / "kb.sqlite"
    monkeypatch.setattr(_schema, "MIGRATIONS", _schema.MIGRATIONS[:2])
    KnowledgeBase(path).declare_metric("bleu", True)
    monkeypatch.undo()
    kb = KnowledgeBase(path)
    assert kb.schema_version == latest_version() >= 3
    kb.store_profile(_profile())
    assert kb.metric("bleu").higher_is_better


def _exact_profile(n, dim, seed=0):
    from matchchoose.profile import gaussian_stats

    emb = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    mean, cov = gaussian_stats(emb.astype(np.float64))
    return Profile(dataset="d", probe="dinov2", preprocess="m", content_hash="h", n=n, mean=mean, cov=cov,
                   embeddings=emb)


def test_few_images_keep_float32_embeddings_instead_of_the_covariance_bit_for_bit(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    p = _exact_profile(n=50, dim=32)
    kb.store_profile(p)
    with sqlite3.connect(tmp_path / "kb.sqlite") as conn:
        cov_size, emb_size = conn.execute("SELECT length(cov), length(embeddings) FROM profiles").fetchone()
    assert cov_size == 0 and emb_size < 32 * 32 * 8  # smaller than the covariance alone
    for embeddings in (False, True):
        got = KnowledgeBase(tmp_path / "kb.sqlite").profile("d", "dinov2", embeddings=embeddings)
        assert got.cov.tobytes() == p.cov.tobytes() and got.mean.tobytes() == p.mean.tobytes()
        assert (got.embeddings is not None) == embeddings
    assert kb.profile("d", "dinov2", embeddings=True).embeddings.tobytes() == p.embeddings.tobytes()
    assert kb.profiles()["embeddings"].tolist() == [True]


def test_covariance_is_stored_when_embeddings_would_not_give_it_back(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    many = _exact_profile(n=200, dim=8)  # n >= 4 dim: the covariance is smaller
    rounded = _exact_profile(n=50, dim=32, seed=1)
    rounded.embeddings = rounded.embeddings.astype(np.float16).astype(np.float32)  # e.g. a reused profile
    for name, p in (("many", many), ("rounded", rounded)):
        p.dataset = name
        kb.store_profile(p)
        assert kb.profile(name, "dinov2").cov.tobytes() == p.cov.tobytes()
    with sqlite3.connect(tmp_path / "kb.sqlite") as conn:
        assert conn.execute("SELECT min(length(cov)) FROM profiles").fetchone()[0] > 0


def test_no_module_outside_kb_reaches_a_private_name_of_kb():
    """The knowledge base's seams are public: no ``kb._x`` call and no ``kb._module`` import outside kb/,
    and kb/ never imports the profiling stage (no import loop between them)."""
    import re
    from pathlib import Path

    import matchchoose

    root = Path(matchchoose.__file__).parent
    private = re.compile(r"\b(kb|store)\._[a-z]\w*\(|from \.\.kb\._|from matchchoose\.kb\._")
    offenders = [f"{path.relative_to(root)}:{i}" for path in root.rglob("*.py") if "kb" not in path.parts
                 for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if private.search(line)]
    assert offenders == []
    assert not [p for p in (root / "kb").glob("*.py") if "..profile" in p.read_text(encoding="utf-8")]
