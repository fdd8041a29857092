"""One estimator contract and one registry: every selector and rank predictor clones, round-trips its
parameters and is built by name."""

from pathlib import Path

import pandas as pd
import pytest
from sklearn.base import clone

from matchchoose import InputError, Metric, NotFittedError, ZooRecords
from matchchoose.evaluate import BASELINES, SELECTORS, BlendSelector, MethodSpec, describe_selectors, make_selector
from matchchoose.graph import EMBEDDERS
from matchchoose.rank import PREDICTORS, MatchChoose, make_predictor

DOCS = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def toy() -> ZooRecords:
    res = pd.DataFrame({"model": list("abab"), "dataset": list("xxyy"), "value": [1.0, 2.0, 4.0, 3.0]})
    dist = pd.DataFrame([[0.0, 1.0], [1.0, 0.0]], index=list("xy"), columns=list("xy"))
    return ZooRecords(res, Metric("acc", True), distances=dist)


def selector(name):
    return make_selector(name, full_records=toy()) if name == "oracle" else make_selector(name)


def test_registry_names_mnc_and_every_baseline():
    assert list(SELECTORS) == ["mnc", "blend", *BASELINES]
    assert SELECTORS["mnc"] is MatchChoose
    assert SELECTORS["blend"] is BlendSelector
    assert all(isinstance(text, str) and text for text in describe_selectors().values())


@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_clone_every_selector(name):
    original = selector(name)
    copy = clone(original)
    assert type(copy) is type(original) and copy is not original
    assert copy.get_params(deep=False).keys() == original.get_params(deep=False).keys()
    assert repr(copy) == repr(original)


@pytest.mark.parametrize("name", sorted(PREDICTORS))
def test_clone_every_predictor(name):
    original = make_predictor(name, random_state=3)
    copy = clone(original)
    assert type(copy) is type(original) and repr(copy) == repr(original)


@pytest.mark.parametrize("make", [*(lambda n=n: selector(n) for n in sorted(SELECTORS)),
                                  *(lambda n=n: make_predictor(n) for n in sorted(PREDICTORS))])
def test_get_params_deep_round_trip(make):
    est = make()
    params = est.get_params(deep=True)
    rebuilt = type(est)().set_params(**params)
    assert rebuilt.get_params(deep=True).keys() == params.keys()
    assert all(rebuilt.get_params(deep=True)[k] is v for k, v in params.items())


def test_set_params_changes_and_rejects():
    mc = MatchChoose().set_params(predictor="random_forest", knn=5)
    assert (mc.predictor, mc.knn) == ("random_forest", 5)
    assert MatchChoose(knn=5).get_params()["knn"] == 5
    with pytest.raises(InputError, match="Invalid parameter 'depth' for MatchChoose"):
        mc.set_params(depth=3)


def test_clone_of_a_fitted_selector_is_unfitted():
    fitted = make_selector("overall").fit(toy())
    assert fitted.predict("x").tolist() == [0.5, 0.5]
    with pytest.raises(NotFittedError, match="OverallSelector"):
        clone(fitted).predict("x")


def test_make_selector_gives_the_seed_only_to_those_that_take_one():
    assert make_selector("mnc", random_state=4, predictor="svc").get_params()["random_state"] == 4
    assert make_selector("direct", random_state=4).random_state == 4
    assert "random_state" not in make_selector("overall", random_state=4).get_params()
    assert make_selector("oracle", full_records=toy()).full_records is not None
    with pytest.raises(InputError, match="'name'.*'best'"):
        make_selector("best")


def test_method_spec_builds_from_the_registry():
    full = toy()
    built = MethodSpec("m", "mnc", {"predictor": "mlp", "random_state": 9}).build(2, full)
    assert isinstance(built, MatchChoose) and (built.predictor, built.random_state) == ("mlp", 2)
    assert MethodSpec("o", "oracle").build(0, full).full_records is full


def test_applies_to_reads_what_each_baseline_needs():
    records = toy()
    assert {n for n, cls in BASELINES.items() if cls.applies_to(records)} == {"random", "overall", "nearest",
                                                                             "oracle"}
    with_features = ZooRecords(records.results, records.metric,
                               dataset_features=pd.DataFrame({"f": [0.0, 1.0]}, index=list("xy")))
    assert SELECTORS["direct"].applies_to(with_features) and SELECTORS["nearest"].applies_to(with_features)


def test_docs_list_every_selector_predictor_and_graph_learner():
    text = DOCS.read_text(encoding="utf-8")
    for name in [*SELECTORS, *PREDICTORS, *EMBEDDERS]:
        assert f"`{name}`" in text, name
