"""choose end to end on a tiny real knowledge base (coloured images, recorded results, pixels probe)."""

from __future__ import annotations

import pytest

from matchchoose import KnowledgeBaseError
from matchchoose.choose import choose
from matchchoose.kb import KnowledgeBase, import_table
from matchchoose.profile import profile_dataset

KNOWN = ["red", "green", "blue", "yellow", "cyan", "magenta"]


@pytest.fixture
def zoo_kb(color_zoo):
    root, folders, results = color_zoo
    kb = KnowledgeBase(root / "kb.sqlite")
    import_table(kb, results, "results")
    for name in KNOWN:
        profile_dataset(kb, folders[name], probe="pixels")
    return kb, folders


def test_choose_ranks_every_model_for_a_new_folder_and_caches_the_predictor(zoo_kb, tmp_path):
    kb, folders = zoo_kb
    first = choose(kb, folders["orange"], top=2, cache=tmp_path / "cache")
    assert first.dataset == "orange" and not first.known_results and not first.cache_hit
    assert sorted(first.ranking["model"]) == ["m0", "m1", "m2", "m3"]
    assert first.ranking["rank"].tolist() == [1, 2, 3, 4]
    assert first.ranking["score"].is_monotonic_decreasing
    assert first.shortlist == first.ranking["model"].head(2).tolist()
    assert len(first.nearest) == 3 and set(first.nearest["dataset"]) <= set(KNOWN)
    assert first.nearest["distance"].is_monotonic_increasing
    second = choose(kb, folders["orange"], top=2, cache=tmp_path / "cache")
    assert second.cache_hit and second.profile_reused
    assert second.ranking.equals(first.ranking)
    payload = second.to_dict()
    assert payload["shortlist"] == second.shortlist and payload["metric"] == "clip_fid"


def test_cache_is_invalidated_when_the_knowledge_base_changes(zoo_kb, tmp_path):
    kb, folders = zoo_kb
    choose(kb, folders["orange"], cache=tmp_path / "cache")
    kb.store_distances([("red", "blue", 1.0)], "frechet:pixels")  # any change to what the predictor sees
    assert not choose(kb, folders["orange"], cache=tmp_path / "cache").cache_hit


def test_a_known_dataset_is_ranked_without_its_own_results(zoo_kb, tmp_path):
    kb, folders = zoo_kb
    choice = choose(kb, folders["blue"], cache=False)
    assert choice.dataset == "blue" and choice.known_results
    assert choice.n_train_datasets == 5
    truth = choice.ranking.set_index("model")["true_rank"]
    assert truth.min() == 1 and truth.notna().all()
    # The pixel statistics make the blue specialist's domain easy to recognise.
    assert choice.ranking["model"].iloc[0] in {"m2", "m3"}


def test_same_seed_same_ranking_bit_for_bit(zoo_kb):
    kb, folders = zoo_kb
    a = choose(kb, folders["orange"], cache=False, random_state=3)
    b = choose(kb, folders["orange"], cache=False, random_state=3)
    assert a.ranking["score"].tolist() == b.ranking["score"].tolist()


def test_clear_errors_for_an_empty_kb_and_for_a_kb_without_profiles(color_zoo, tmp_path):
    root, folders, results = color_zoo
    empty = KnowledgeBase(tmp_path / "empty.sqlite")
    empty.declare_metric("bleu", True)
    with pytest.raises(KnowledgeBaseError, match="no recorded results"):
        choose(empty, folders["orange"], probe="pixels")
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    import_table(kb, results, "results")
    with pytest.raises(KnowledgeBaseError, match="no dataset profiles"):
        choose(kb, folders["orange"])
    # Profiles exist, but only of datasets without results: nothing links the new one to the results.
    profile_dataset(kb, folders["orange"], name="elsewhere", probe="pixels")
    with pytest.raises(KnowledgeBaseError, match=r"No dataset with 'clip_fid' results .* has a 'pixels' profile"):
        choose(kb, folders["red"], name="new", probe="pixels")


def test_default_metric_picks_among_several(zoo_kb):
    from matchchoose.kb import import_frame
    import pandas as pd

    kb, folders = zoo_kb
    kb.declare_metric("kid", higher_is_better=False)
    import_frame(kb, pd.DataFrame({"model": ["m0"], "dataset": ["red"], "metric": "kid", "value": [1.0]}), "results")
    with pytest.raises(KnowledgeBaseError, match="several metrics"):
        choose(kb, dataset="red", cache=False)
    with pytest.raises(KnowledgeBaseError):
        kb.set_default_metric("nope")
    kb.set_default_metric("clip_fid")
    assert kb.default_metric == "clip_fid"
    assert choose(kb, dataset="red", cache=False).metric.name == "clip_fid"


def test_graph_learner_reaches_match_and_choose(zoo_kb, tmp_path, mnc):
    pytest.importorskip("torch")
    from matchchoose import InputError

    kb, folders = zoo_kb
    fast = {"dataset": "blue", "selector": "mnc", "predictor": "random_forest", "cache": tmp_path / "cache"}
    base = choose(kb, **fast)
    gat = choose(kb, graph_learner="gat", **fast)
    assert not gat.cache_hit  # another predictor: its own cache entry
    assert gat.ranking["score"].tolist() != base.ranking["score"].tolist()
    assert choose(kb, graph_learner="gat", **fast).cache_hit
    with pytest.raises(InputError, match="The 'graph_learner' parameter must be one of"):
        choose(kb, dataset="blue", selector="mnc", graph_learner="sage")
    code, out, err = mnc("choose", "--dataset", "blue", "--selector", "mnc", "--predictor", "random_forest",
                         "--graph-learner", "graphsage", "--kb", kb.path)
    assert code == 0 and "Shortlist:" in out, err
