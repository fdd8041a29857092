"""The Match & Choose selector on a tiny synthetic zoo with a latent structure.

5 datasets (d0..d4) x 8 models (m0..m7), plus "m8" (in the zoo, never evaluated). Each model has a
latent vector ``z`` and each dataset ``w`` (2-d); accuracy is ``0.5 + 0.1 * z.w``. Dataset features
and distances come from ``w``, model features from ``z`` (and an architecture label), so every
input carries signal. d0 is the held-out target: ``records.without_results("d0")`` is the training view.
"""

import numpy as np
import pandas as pd
import pytest

from matchchoose import InputError, Metric, NotFittedError, ZooRecords
from matchchoose.rank import INPUTS, MatchChoose

EMBEDDING = {"dim": 8, "walk_length": 10, "num_walks": 5}
FAST_RF = {"predictor": "random_forest", "predictor_params": {"params": {"n_estimators": 20}}}
MODELS = [f"m{i}" for i in range(9)]


def toy_records(features=True, distances=True) -> ZooRecords:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(9, 2))
    w = rng.normal(size=(5, 2))
    acc = 0.5 + 0.1 * w @ z[:8].T
    rows = [(f"m{m}", f"d{d}", float(acc[d, m])) for d in range(5) for m in range(8)]
    kw = {}
    if features:
        kw["model_features"] = pd.DataFrame(
            {"size": z[:, 0] * 3, "arch": ["unet", "dit"] * 4 + ["unet"]}, index=MODELS)
        kw["dataset_features"] = pd.DataFrame({"f1": w[:, 0], "f2": w[:, 1]}, index=[f"d{d}" for d in range(5)])
    if distances:
        d = np.linalg.norm(w[:, None] - w[None], axis=2)
        names = [f"d{i}" for i in range(5)]
        kw["distances"] = pd.DataFrame(d, index=names, columns=names)
    return ZooRecords(pd.DataFrame(rows, columns=["model", "dataset", "value"]), Metric("accuracy", True),
                      models=MODELS, **kw)


def selector(**kw) -> MatchChoose:
    params = {"embedding": EMBEDDING, "cache": False, "random_state": 0, **FAST_RF}
    params.update(kw)
    return MatchChoose(**params)


@pytest.fixture(scope="module")
def train():
    return toy_records().without_results("d0")


def test_predict_scores_every_model(train, fresh_embedding_memory):
    mc = selector().fit(train)
    pred = mc.predict("d0")
    assert isinstance(pred, pd.Series) and pred.name == "d0"
    assert pred.index.tolist() == MODELS  # the never-evaluated m8 too
    assert pred.dtype == float and np.isfinite(pred.to_numpy()).all()
    assert mc.n_train_rows_ == 32  # 4 training datasets x 8 evaluated models
    assert mc.models_ == MODELS
    assert set(mc.timings_) == {"embedding", "training"}
    # Training datasets can be scored too.
    assert mc.predict("d1").index.tolist() == MODELS


def test_bit_identical_across_fits_with_same_seed(train, fresh_embedding_memory):
    # The paper's default predictor (CatBoost); the embedding is recomputed, not read from the cache.
    a = selector(predictor="catboost", predictor_params={"params": {"iterations": 50}}).fit(train).predict("d0")
    fresh_embedding_memory.clear()
    b = selector(predictor="catboost", predictor_params={"params": {"iterations": 50}}).fit(train).predict("d0")
    assert a.to_numpy().tobytes() == b.to_numpy().tobytes()
    fresh_embedding_memory.clear()
    c = selector(predictor="catboost", predictor_params={"params": {"iterations": 50}},
                 random_state=1).fit(train).predict("d0")
    assert c.to_numpy().tobytes() != a.to_numpy().tobytes()


@pytest.mark.parametrize("inputs", INPUTS)
def test_inputs_ablation(train, inputs, fresh_embedding_memory):
    mc = selector(inputs=inputs).fit(train)
    names = mc.feature_names_
    has_features = any(n.startswith(("model.", "dataset.")) for n in names)
    has_edges = any(n.startswith("edge.hadamard_") for n in names)
    assert (has_features, has_edges) == {"both": (True, True), "features": (True, False),
                                         "graph": (False, True)}[inputs]
    assert (mc.embedding_ is None) == (inputs == "features")
    if inputs != "features":
        assert sum(n.startswith("edge.") for n in names) == 8
    if inputs != "graph":
        assert {"model.size", "model.arch=dit", "model.arch=unet", "dataset.f1", "dataset.f2"} <= set(names)
    assert np.isfinite(mc.predict("d0").to_numpy()).all()


def test_concat_operator_doubles_edge_columns(train, fresh_embedding_memory):
    mc = selector(inputs="graph", edge_operator="concat", priors=False).fit(train)
    assert mc.feature_names_ == [f"edge.concat_{i}" for i in range(16)]


def test_holdout_training_embedding(train, fresh_embedding_memory):
    mc = selector(train_embedding="holdout", holdout_groups=2).fit(train)
    pred = mc.predict("d0")
    assert pred.index.tolist() == MODELS and np.isfinite(pred.to_numpy()).all()
    assert not pred.equals(selector().fit(train).predict("d0"))
    # The fold graph is still the one without d0's results.
    assert not any(u == "d:d0" and v.startswith("m:") for u, v, _ in mc.graph_.edges)


def test_held_out_model_edges_absent_distance_edges_present(train, fresh_embedding_memory):
    mc = selector().fit(train)
    edges = {(u, v) for u, v, _ in mc.graph_.edges}
    assert not any(u == "d:d0" and v.startswith("m:") for u, v in edges)
    assert {("d:d0", f"d:d{i}") for i in range(1, 5)} <= edges
    assert {("d:d1", f"m:m{i}") for i in range(8)} <= edges
    assert "m:m8" in mc.graph_.nodes and not any("m:m8" in e for e in edges)
    assert mc.embedding_.index.tolist() == list(mc.graph_.nodes)


def test_predict_before_fit():
    with pytest.raises(NotFittedError, match="This MatchChoose instance is not fitted yet"):
        selector().predict("d0")


def test_predict_unknown_dataset(train, fresh_embedding_memory):
    mc = selector(inputs="features").fit(train)
    with pytest.raises(InputError, match="Dataset 'nope' is not in the knowledge base MatchChoose was fitted on"):
        mc.predict("nope")


def test_features_only_without_features_is_an_error(fresh_embedding_memory):
    train = toy_records(features=False).without_results("d0")
    with pytest.raises(InputError, match=r"MatchChoose\(inputs='features'\) has no input columns"):
        selector(inputs="features", priors=False).fit(train)
    # The graph alone still works without any feature.
    assert np.isfinite(selector(inputs="both").fit(train).predict("d0").to_numpy()).all()


def test_no_results_is_an_error():
    empty = toy_records().without_results([f"d{i}" for i in range(5)])
    with pytest.raises(InputError, match=r"MatchChoose.fit got no 'accuracy' results to learn from"):
        selector().fit(empty)


@pytest.mark.parametrize(("param", "value"), [("inputs", "edges"), ("predictor", "lightgbm"),
                                               ("edge_operator", "sum"), ("train_embedding", "partial"),
                                               ("holdout_groups", 1), ("random_state", -1),
                                               ("graph_learner", "sage")])
def test_parameter_errors_name_the_parameter(train, param, value):
    with pytest.raises(InputError, match=f"The '{param}' parameter of MatchChoose must be"):
        selector(**{param: value}).fit(train)


@pytest.mark.parametrize("learner", ["graphsage", "gat"])
def test_graph_learner_chooses_the_embedder(train, learner, fresh_embedding_memory):
    pytest.importorskip("torch")
    from sklearn.base import clone

    from matchchoose.graph import EMBEDDERS

    kw = {"graph_learner": learner, "embedding": {"dim": 8, "epochs": 30}}
    mc = selector(**kw)
    assert isinstance(mc._embedder(), EMBEDDERS[learner])
    assert clone(mc).get_params()["graph_learner"] == learner
    pred = mc.fit(train).predict("d0")
    assert pred.index.tolist() == MODELS and np.isfinite(pred.to_numpy()).all()
    assert mc.embedding_.shape == (14, 8) and sum(n.startswith("edge.") for n in mc.feature_names_) == 8
    fresh_embedding_memory.clear()
    again = selector(**kw).fit(train).predict("d0")
    assert again.to_numpy().tobytes() == pred.to_numpy().tobytes()


def test_graph_learner_default_and_foreign_embedding_parameters(train):
    from matchchoose.graph import Node2VecPlus

    assert MatchChoose().graph_learner == "node2vec+" and type(selector()._embedder()) is Node2VecPlus
    with pytest.raises(InputError, match=r"The graph learner 'gat' of MatchChoose \(GAT\) takes no parameter "
                                         r"'num_walks', 'walk_length'"):
        selector(graph_learner="gat").fit(train)


def test_init_stores_parameters_unchanged():
    mc = MatchChoose(predictor="nope", embedding={"dim": 3}, inputs="x")
    assert (mc.predictor, mc.embedding, mc.inputs) == ("nope", {"dim": 3}, "x")
