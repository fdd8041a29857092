"""run_evaluation: fold isolation (with a spy selector), output layout, parallel and seed behaviour.

Toy: lower-is-better FID, 4 models x 4 datasets, every value distinct within a dataset.

    FID   a   b   c   d      mean utility: a -25, b -25, c -20, d -30 -> reference model c
    w    10  20  30  40
    x    40  10  20  30
    y    20  30  10  40
    z    30  40  20  10

Random ranking, per dataset (utilities -10, -20, -30, -40 in some order): osr 1/4, o2o = -10 - (-25)
= 15, o2b = u(c) + 25 = -5, 5, 15, 5 (mean 5), rel@1 = mean(10/10, 10/20, 10/30, 10/40) = 0.520833,
rel@3 = 1/4 * 1/2 + 3/4 * 1 = 0.875. Oracle: osr 1, tau_w 1, o2o 0, o2b = u(c) - best = -20, -10, 0,
-10 (mean -10), rel@k 1.
"""

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from matchchoose import Metric, ZooRecords
from matchchoose.evaluate import MethodSpec, default_methods, run_evaluation

FID = {
    "w": {"a": 10, "b": 20, "c": 30, "d": 40},
    "x": {"a": 40, "b": 10, "c": 20, "d": 30},
    "y": {"a": 20, "b": 30, "c": 10, "d": 40},
    "z": {"a": 30, "b": 40, "c": 20, "d": 10},
}
MODELS = list("abcd")
DATASETS = list("wxyz")
MNC = MethodSpec("mnc", "mnc", {"embedding": {"dim": 8, "walk_length": 10, "num_walks": 5}, "cache": False,
                                "predictor": "random_forest", "predictor_params": {"params": {"n_estimators": 20}}})
KEYS = {"osr", "tau_w", "o2b", "o2o", "rel_at_1", "rel_at_3"}


def toy(prescores=False) -> ZooRecords:
    rows = [(m, d, float(v)) for d, vals in FID.items() for m, v in vals.items()]
    kw = {}
    if prescores:
        kw["prescores"] = pd.DataFrame({"model": MODELS * 2, "dataset": ["w"] * 4 + ["x"] * 4,
                                        "value": [1.0, 2.0, 3.0, 4.0, 4.0, 3.0, 2.0, 1.0]})
        kw["prescore_metric"] = Metric("zero_shot_fid", False)
    dist = pd.DataFrame([[0, 1, 2, 3], [1, 0, 4, 5], [2, 4, 0, 6], [3, 5, 6, 0]], index=DATASETS, columns=DATASETS)
    feats = pd.DataFrame({"f": [0.1, 0.5, 0.2, 0.9], "kind": ["p", "a", "p", "a"]}, index=DATASETS)
    return ZooRecords(pd.DataFrame(rows, columns=["model", "dataset", "value"]), Metric("clip_fid", False),
                      distances=dist.astype(float), dataset_features=feats, **kw)


# ----------------------------------------------------------------------------- spy
class SpySelector:
    """Records what it is trained on; scores models in name order (no knowledge of the truth)."""

    def __init__(self, log, seed):
        self.log = log
        self.seed = seed

    def fit(self, records):
        self.records_ = records
        return self

    def predict(self, dataset):
        self.log.append({"dataset": dataset, "seed": self.seed, "train": self.records_})
        models = self.records_.models
        return pd.Series(-np.arange(len(models), dtype=float), index=models)


@dataclass(frozen=True, eq=False)
class SpySpec(MethodSpec):
    log: list = field(default_factory=list)

    def build(self, seed, full_records):
        return SpySelector(self.log, seed)


def _rows(records) -> set:
    return set(records.results.itertuples(index=False, name=None))


def check_isolation(full: ZooRecords, log: list):
    for entry in log:
        held_out, train = entry["dataset"], entry["train"]
        # No result of the held-out dataset reaches training ...
        assert held_out not in set(train.results["dataset"])
        assert _rows(train) <= _rows(full)
        # ... while what is known before fine-tuning stays.
        assert train.models == full.models and train.datasets == full.datasets
        pd.testing.assert_frame_equal(train.distances, full.distances)
        pd.testing.assert_frame_equal(train.dataset_features, full.dataset_features)
        pd.testing.assert_frame_equal(train.model_features, full.model_features)
        if full.prescores is not None:
            pd.testing.assert_frame_equal(train.prescores, full.prescores)


def test_isolation_every_fold():
    full = toy(prescores=True)
    spy = SpySpec("spy", "spy")
    result = run_evaluation(full, [spy])
    assert sorted(e["dataset"] for e in spy.log) == DATASETS
    check_isolation(full, spy.log)
    for entry in spy.log:
        # Without sparsity the training view is exactly everything else.
        assert _rows(entry["train"]) == {r for r in _rows(full) if r[1] != entry["dataset"]}
    assert result["methods"]["spy"]["n_datasets"] == 4


def test_isolation_with_sparsity():
    full = toy(prescores=True)
    spy = SpySpec("spy", "spy")
    run_evaluation(full, [spy], seeds=(0, 1), sparsity=0.5)
    assert sorted((e["seed"], e["dataset"]) for e in spy.log) == [(s, d) for s in (0, 1) for d in DATASETS]
    check_isolation(full, spy.log)
    kept = {}
    for entry in spy.log:
        others = {r for r in _rows(full) if r[1] != entry["dataset"]}
        assert _rows(entry["train"]) < others  # some training results were dropped
        kept.setdefault(entry["seed"], set()).update(_rows(entry["train"]))
    # One random drop per seed, shared by its folds; the seed changes it.
    assert len(kept[0]) == len(kept[1]) == 8 and kept[0] != kept[1]


def test_isolation_with_restricted_datasets():
    spy = SpySpec("spy", "spy")
    result = run_evaluation(toy(), [spy], datasets=["x", "z"])
    assert sorted(e["dataset"] for e in spy.log) == ["x", "z"]
    check_isolation(toy(), spy.log)
    assert sorted(result["methods"]["spy"]["per_dataset"]) == ["x", "z"]


# ----------------------------------------------------------------------------- output
@pytest.fixture(scope="module")
def result():
    methods = [MNC] + [MethodSpec(n, n) for n in ("oracle", "random", "overall", "nearest")]
    return run_evaluation(toy(), methods)


def test_output_layout_is_json_ready(result):
    assert set(result) >= {"methods", "reference_model", "seeds", "timings"}
    assert result["reference_model"] == "c" and result["seeds"] == [0]
    assert list(result["methods"]) == ["mnc", "oracle", "random", "overall", "nearest"]
    for name, entry in result["methods"].items():
        assert KEYS <= set(entry) and {f"{k}_std" for k in KEYS} <= set(entry)
        assert entry["n_datasets"] == 4 and entry["params"]["kind"] == name
        assert sorted(entry["per_dataset"]) == DATASETS
        for item in entry["per_dataset"].values():
            assert KEYS <= set(item)
            assert sorted(item["predicted_scores"]) == MODELS
            assert all(isinstance(v, float) and np.isfinite(v) for v in item["predicted_scores"].values())
        assert all(entry[f"{k}_std"] == 0.0 for k in KEYS)  # one seed
    json.dumps(result.to_dict(), allow_nan=False, sort_keys=True)
    assert result["methods"]["mnc"]["params"]["predictor"] == "random_forest"
    assert {"total", "prediction", "embedding", "training"} <= set(result["timings"]["mnc"])


def test_oracle_is_perfect(result):
    oracle = result["methods"]["oracle"]
    assert (oracle["osr"], oracle["tau_w"], oracle["o2o"], oracle["o2b"]) == (1.0, pytest.approx(1.0), 0.0, -10.0)
    assert (oracle["rel_at_1"], oracle["rel_at_3"]) == (1.0, 1.0)
    assert oracle["per_dataset"]["w"]["predicted_scores"] == {"a": -10.0, "b": -20.0, "c": -30.0, "d": -40.0}


def test_random_gets_its_expected_values(result):
    random = result["methods"]["random"]
    assert random["osr"] == 0.25 and random["tau_w"] == 0.0 and random["o2o"] == 15.0 and random["o2b"] == 5.0
    assert random["rel_at_1"] == pytest.approx(0.520833, abs=1e-6) and random["rel_at_3"] == pytest.approx(0.875)
    assert [random["per_dataset"][d]["o2b"] for d in DATASETS] == [-5.0, 5.0, 15.0, 5.0]
    assert set(random["per_dataset"]["x"]["predicted_scores"].values()) == {0.0}


def test_overall_by_hand(result):
    # Holding out w, the normalised scores are x (0, 1, 2/3, 1/3), y (2/3, 1/3, 1, 0), z (1/3, 0, 2/3, 1);
    # their means a 1/3, b 4/9, c 7/9, d 4/9 pick c, FID 30 on w against the best 10 and the reference c.
    w = result["methods"]["overall"]["per_dataset"]["w"]
    assert w["predicted_scores"] == pytest.approx({"a": 1 / 3, "b": 4 / 9, "c": 7 / 9, "d": 4 / 9})
    assert (w["osr"], w["o2o"], w["o2b"]) == (0.0, 20.0, 0.0)


def test_initial_only_with_prescores():
    assert "initial" not in [m.name for m in default_methods(toy())]
    assert "initial" in [m.name for m in default_methods(toy(prescores=True))]
    out = run_evaluation(toy(prescores=True), [MethodSpec("initial", "initial"), MethodSpec("oracle", "oracle")])
    initial = out["methods"]["initial"]
    # Only w and x have prescores: the other folds have no "initial" entry.
    assert sorted(initial["per_dataset"]) == ["w", "x"] and initial["n_datasets"] == 2
    assert initial["per_dataset"]["w"]["osr"] == 1.0 and initial["per_dataset"]["x"]["osr"] == 0.0
    assert "initial" not in run_evaluation(toy(), [MethodSpec("initial", "initial")])["methods"]


def test_several_seeds_give_std():
    methods = [MNC, MethodSpec("oracle", "oracle"), MethodSpec("random", "random")]
    out = run_evaluation(toy(), methods, seeds=(0, 1, 2), sparsity=0.25)
    assert out["seeds"] == [0, 1, 2]
    for entry in out["methods"].values():
        assert all(entry[f"{k}_std"] is not None and entry[f"{k}_std"] >= 0 for k in KEYS)
    assert out["methods"]["oracle"]["osr_std"] == 0.0  # the truth never comes from the sparse records
    assert out["methods"]["random"]["o2o"] == 15.0
    mnc = out["methods"]["mnc"]
    assert any(mnc[f"{k}_std"] > 0 for k in KEYS)  # the seed reaches the walks, the drop and the predictor


def test_progress_callback():
    calls = []
    run_evaluation(toy(), [MethodSpec("random", "random")], progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.slow
def test_parallel_folds_give_identical_results():
    methods = [MNC, MethodSpec("overall", "overall"), MethodSpec("nearest", "nearest")]
    serial = run_evaluation(toy(), methods, seeds=(0, 1), sparsity=0.25, n_jobs=1)
    parallel = run_evaluation(toy(), methods, seeds=(0, 1), sparsity=0.25, n_jobs=2)
    assert json.dumps(parallel["methods"], sort_keys=True) == json.dumps(serial["methods"], sort_keys=True)


def test_initial_is_judged_on_the_models_it_scored():
    records = toy(prescores=True)
    # Drop the prescores of two models on w: the baseline knows nothing about them there.
    pre = records.prescores
    keep = ~((pre["dataset"] == "w") & pre["model"].isin(MODELS[2:]))
    from dataclasses import replace

    partial = replace(records, prescores=pre[keep].reset_index(drop=True))
    out = run_evaluation(partial, [MethodSpec("initial", "initial"), MethodSpec("overall", "overall")])
    w = out["methods"]["initial"]["per_dataset"]["w"]
    assert w["coverage"] == 0.5
    assert out["methods"]["initial"]["per_dataset"]["x"]["coverage"] == 1.0
    assert out["methods"]["overall"]["per_dataset"]["w"]["coverage"] == 1.0
    assert w["o2b"] is not None  # the reference model is judged from the full truth
