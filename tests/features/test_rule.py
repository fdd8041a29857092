"""The feature rule on a hand-made zoo (exact numbers), its absent-key policy, and the paper's counts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from matchchoose import InputError, NotFittedError
from matchchoose.features import FeatureRule, default_zoo, zoo_features, zoo_hyperparameters

NAN = math.nan


@pytest.fixture
def toy():
    """Three UNets and one transformer, as the flattener would give them (NaN = key absent)."""
    rows = {
        "unet-a": {"pipeline_class_name": "SD", "unet_block_out_channels_2": 1280, "unet_layers": 2,
                   "unet_mid_block_type": "CrossAttn", "vae_sample_size": 512, "vae_scaling": 0.18215,
                   "flag": True, "shift": None, "lambda": -math.inf, "eps": 1e-5},
        "unet-b": {"pipeline_class_name": "SDXL", "unet_block_out_channels_2": 1280, "unet_layers": 4,
                   "unet_mid_block_type": "CrossAttn", "vae_sample_size": 1024, "vae_scaling": 0.13025,
                   "flag": False, "shift": None, "lambda": -math.inf, "eps": 1e-5},
        "unet-c": {"pipeline_class_name": "SDXL", "unet_block_out_channels_2": 1280, "unet_layers": 3,
                   "unet_mid_block_type": "Plain", "vae_sample_size": 1024, "vae_scaling": 0.13025,
                   "flag": True, "shift": 1.0, "lambda": -5.0, "eps": 1e-5},
        "dit": {"pipeline_class_name": "Flux", "transformer_num_layers": 19, "vae_sample_size": 1024,
                "vae_scaling": 0.3611, "flag": True, "shift": 3.0, "eps": 1e-5},
    }
    keys = list(dict.fromkeys(k for row in rows.values() for k in row))
    return pd.DataFrame({k: pd.Series([row.get(k, NAN) for row in rows.values()], index=list(rows), dtype=object)
                         for k in keys})


def test_selection_and_types(toy):
    rule = FeatureRule().fit(toy)
    assert rule.kept_ == ["pipeline_class_name", "unet_layers", "unet_mid_block_type", "vae_sample_size",
                          "vae_scaling", "flag", "shift", "lambda"]
    assert rule.dropped_ == {"unet_block_out_channels_2": "constant", "eps": "constant",
                             "transformer_num_layers": "in one model only"}
    assert rule.kinds_ == {"pipeline_class_name": "categorical", "unet_layers": "numeric",
                           "unet_mid_block_type": "categorical", "vae_sample_size": "numeric",
                           "vae_scaling": "numeric", "flag": "numeric", "shift": "numeric", "lambda": "categorical"}
    assert rule.levels_["lambda"] == ["-5", "-inf"]  # -Infinity makes a key categorical
    assert rule.summary() == {"models": 4, "hyperparameters_seen": 11, "hyperparameters_kept": 8, "numeric": 5,
                              "categorical": 3, "dimensions": 14}


def test_encoded_values_pinned(toy):
    features = FeatureRule().fit_transform(toy)
    assert list(features.columns) == [
        "pipeline_class_name=Flux", "pipeline_class_name=SD", "pipeline_class_name=SDXL",
        "unet_layers", "unet_layers__missing", "unet_mid_block_type=CrossAttn", "unet_mid_block_type=Plain",
        "vae_sample_size", "vae_scaling", "flag", "shift", "shift__missing", "lambda=-5", "lambda=-inf"]
    expected = {
        "unet-a": [0, 1, 0, 0.0, 0, 1, 0, 0.0, (0.18215 - 0.13025) / (0.3611 - 0.13025), 1, -1, 1, 0, 1],
        "unet-b": [0, 0, 1, 1.0, 0, 1, 0, 1.0, 0.0, 0, -1, 1, 0, 1],
        "unet-c": [0, 0, 1, 0.5, 0, 0, 1, 1.0, 0.0, 1, 0.0, 0, 1, 0],
        "dit": [1, 0, 0, -1, 1, 0, 0, 1.0, 1.0, 1, 1.0, 0, 0, 0],
    }
    np.testing.assert_allclose(features.loc[list(expected)].to_numpy(), np.array(list(expected.values()), float))


def test_lambda_none_counts_as_a_value_and_shift_none_is_missing(toy):
    # 'shift' is null in two UNets: a numeric key whose null is treated like an absent key.
    features = FeatureRule(missing_value=-2.0, missing_indicator=False).fit_transform(toy)
    assert "shift__missing" not in features and features.loc["unet-a", "shift"] == -2.0
    assert features.loc["dit", "unet_layers"] == -2.0


def test_transform_new_models_uses_the_fitted_rule(toy):
    rule = FeatureRule().fit(toy.loc[["unet-a", "unet-b", "unet-c"]])
    new = FeatureRule()._check(toy.loc[["dit"]])
    out = rule.transform(toy.loc[["dit"]])
    assert list(out.columns) == rule.columns_
    assert out.loc["dit", "unet_layers"] == -1.0  # absent in the new model
    assert out.filter(like="pipeline_class_name=").to_numpy().sum() == 0  # unseen level: all zeros
    assert new.shape == (1, toy.shape[1])


def test_describe(toy):
    description = FeatureRule().fit(toy).describe()
    row = description.set_index("column").loc["vae_sample_size"]
    assert (row["encoding"], row["min"], row["max"]) == ("min-max", 512.0, 1024.0)
    assert description.set_index("column").loc["unet_layers__missing", "encoding"] == "missing"
    assert description.set_index("column").loc["lambda=-inf", "level"] == "-inf"


def test_errors(toy):
    with pytest.raises(NotFittedError, match="FeatureRule"):
        FeatureRule().transform(toy)
    with pytest.raises(InputError, match="DataFrame"):
        FeatureRule().fit({"a": 1})
    with pytest.raises(InputError, match="model 'unet-a' appears twice"):
        FeatureRule().fit(pd.concat([toy, toy.loc[["unet-a"]]]))
    with pytest.raises(InputError, match="'missing_value' parameter of FeatureRule"):
        FeatureRule(missing_value="x").fit(toy)


def _derived_dimensions(rule, hyperparameters) -> tuple[int, int]:
    """Dimensions the encoding must have, counted from the kept keys and the raw table (not from the
    encoder's output): one column per numeric key and per categorical level, plus a missing indicator
    per numeric key that some model lacks. Returns ``(with indicators, without)``."""
    numeric = [k for k, kind in rule.kinds_.items() if kind == "numeric"]
    levels = sum(len(rule.levels_[k]) for k, kind in rule.kinds_.items() if kind == "categorical")
    absent = [k for k in numeric
              if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in hyperparameters[k])]
    return len(numeric) + levels + len(absent), len(numeric) + levels


def test_paper_zoo_counts():
    """The paper's 10 models: 78 hyperparameters differ, as the paper says; 165 dimensions in the paper,
    ours 2 more (docs/model-features.md: a missing indicator per partially present numeric key)."""
    hyperparameters = zoo_hyperparameters(default_zoo("paper"))
    features, rule = zoo_features(default_zoo("paper"))
    summary = rule.summary()
    assert summary["hyperparameters_seen"] == hyperparameters.shape[1]
    assert summary["hyperparameters_kept"] == 78  # the paper's count
    assert summary["numeric"] + summary["categorical"] == 78
    with_indicators, without = _derived_dimensions(rule, hyperparameters)
    assert summary["dimensions"] == with_indicators == features.shape[1]
    assert abs(with_indicators - 165) <= 2  # the paper's 165
    assert features.shape[0] == 10 and np.isfinite(features.to_numpy()).all()
    # Table 1's names (throughput -> tflop, unet_num_params -> num_params) are among the kept keys,
    # except unet_block_out_channels_2: 1280 in every UNet of our 10 configs.
    table1 = ["tflop", "transformer_num_layers", "num_params", "transformer_attention_head_dim",
              "transformer_sample_size", "vae_sample_size", "unet_attention_head_dim_1",
              "unet_transformer_layers_per_block_2", "unet_mid_block_type"]
    assert set(table1) <= set(rule.kept_)
    assert "unet_mid_block_type=UNetMidBlock2DCrossAttn" in features.columns
    assert rule.dropped_["unet_block_out_channels_2"] == "constant"
    assert FeatureRule(missing_indicator=False).fit(hyperparameters).summary()["dimensions"] == without


def test_whole_default_zoo_counts():
    """More models never make a differing key constant: the 19-model zoo keeps every key the paper's 10 keep."""
    hyperparameters = zoo_hyperparameters(default_zoo())
    features, rule = zoo_features()
    _, paper_rule = zoo_features(default_zoo("paper"))
    assert rule.summary()["models"] == 19 == len(default_zoo())
    assert rule.summary()["hyperparameters_seen"] == hyperparameters.shape[1]
    assert set(paper_rule.kept_) <= set(rule.kept_)
    assert rule.summary()["dimensions"] == _derived_dimensions(rule, hyperparameters)[0] == features.shape[1]
