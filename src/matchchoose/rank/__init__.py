"""Rank predictors (paper 4.4, 4.5, 5.7) and the Match & Choose selector."""

from ._encode import encode_features
from ._predictors import (
    PREDICTORS,
    RankClassifier,
    RankPredictor,
    ScoreRegressor,
    YetiRanker,
    make_predictor,
    rank_percentiles,
)
from ._selector import INPUTS, TRAIN_EMBEDDINGS, MatchChoose

__all__ = [
    "INPUTS",
    "MatchChoose",
    "PREDICTORS",
    "RankClassifier",
    "RankPredictor",
    "ScoreRegressor",
    "TRAIN_EMBEDDINGS",
    "YetiRanker",
    "encode_features",
    "make_predictor",
    "rank_percentiles",
]
