"""The knowledge base that ships with the package (docs/microzoo.md): complete, self-contained, usable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matchchoose.kb import KnowledgeBase, embedded_kb, embedded_kb_file, latest_version

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
METRIC = "fd_dinov2"


@pytest.fixture(scope="module")
def shipped():
    path = embedded_kb_file()
    assert path is not None, "matchchoose/kb/default/microzoo.sqlite is missing"
    return path


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    """The working copy (opening the packaged file itself with KnowledgeBase would write to it)."""
    return embedded_kb(tmp_path_factory.mktemp("embedded"))


def test_shipped_file_is_one_self_contained_sqlite_file(shipped, copy):
    with sqlite3.connect(f"file:{shipped}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM grid_cells").fetchone()[0] == 0  # no local run bookkeeping
    assert KnowledgeBase(copy).schema_version == latest_version()
    assert shipped.stat().st_size < 20e6
    assert not shipped.with_name(shipped.name + "-wal").exists()


def test_shipped_kb_holds_a_full_grid_with_prescores_profiles_distances_and_configs(copy):
    kb = KnowledgeBase(copy)
    records = kb.records(METRIC, prescore_metric=METRIC, distance_metric="frechet:dinov2")
    matrix = records.score_matrix()
    assert matrix.shape[0] >= 24 and matrix.shape[1] >= 8  # datasets x models (micro zoo v2)
    assert not matrix.isna().any().any() and (matrix.to_numpy() > 0).all()
    assert len(set(matrix.idxmin(axis=1))) >= 2  # the best model differs across domains
    prescores = records.prescores
    assert set(zip(prescores["model"], prescores["dataset"])) == {(m, d) for d in matrix.index for m in matrix.columns}
    profiles = kb.profiles()
    keys = set(profiles["probe"])
    assert len(keys) == 1 and next(iter(keys)).startswith("dinov2")
    assert set(matrix.index) <= set(profiles["dataset"])
    for dataset in matrix.index:
        assert set(kb.distances_of(dataset, f"frechet:{next(iter(keys))}")) >= set(matrix.index) - {dataset}
    assert set(kb.model_configs()["model"]) >= set(matrix.columns)
    assert not {"openmoji", "tabler_icons"} & set(kb.datasets())  # the examples stay out


def test_shipped_kb_has_learning_curves_and_two_sampling_seeds_per_final_score(copy):
    kb = KnowledgeBase(copy)
    rows = kb.curves(METRIC, per_row=True)
    assert rows.groupby(["model", "dataset"])["fidelity"].nunique().min() >= 3
    target = rows[rows["fidelity"] == rows.groupby("dataset")["fidelity"].transform("max")]
    seeds = target.assign(seed=[p.get("sample_seed") for p in target["provenance"]])
    assert seeds.groupby(["model", "dataset"])["seed"].nunique().min() >= 2
    assert kb.resolve_aggregate(METRIC) == "mean"  # the final score is the mean over the sampling seeds
    assert "kid_dinov2" in kb.summary()["results"]  # KID beside FD


@pytest.mark.parametrize("example", ["openmoji", "tabler_icons"])
def test_example_truth_names_every_model(copy, example):
    truth = pd.read_csv(EXAMPLES / example / "results.csv")
    assert set(truth["model"]) == set(KnowledgeBase(copy).records(METRIC).score_matrix().columns)
    assert np.isfinite(truth[METRIC]).all()
    assert len(list((EXAMPLES / example / "images").glob("*.png"))) >= 32


def test_choose_ranks_a_shipped_dataset_from_a_working_copy(copy):
    from matchchoose.choose import choose

    kb = KnowledgeBase(copy)
    dataset = kb.records(METRIC).score_matrix().index[0]
    choice = choose(kb, dataset=dataset, cache=False)
    assert choice.known_results and choice.ranking["true_rank"].min() == 1
    assert sorted(choice.ranking["model"]) == sorted(kb.records(METRIC).models)


def test_opening_the_packaged_file_by_path_reads_its_working_copy(tmp_path, monkeypatch):
    """The shipped file is never written: KnowledgeBase(<its path>) answers from the working copy instead."""
    import hashlib

    monkeypatch.setenv("MNC_CACHE_DIR", str(tmp_path))
    shipped = embedded_kb_file()
    before = hashlib.sha256(shipped.read_bytes()).hexdigest()
    kb = KnowledgeBase(shipped)
    assert kb.path != shipped and kb.path.parent == tmp_path / "default-kb"
    assert kb.schema_version == latest_version() and kb.datasets()
    kb.close()
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == before
    assert not shipped.with_name(shipped.name + "-wal").exists()
