"""Feature importance of a fitted M&C predictor: the paper's Table 1 analogue, as a table and a chart.

Table 1 reports "the random forest's change in prediction value for the different model features"
(top 10, then "Remaining"). :func:`feature_importance` reads the fitted estimator's own importances
(scikit-learn and XGBoost ``feature_importances_``, CatBoost ``PredictionValuesChange``), normalises
them to shares summing to 1 over the model features (or, ``scope="all"``, over every input of the
predictor: model and dataset features, priors, edge embedding) and, by default, sums the one-hot
columns of one hyperparameter (``model.unet_mid_block_type=UNetMidBlock2DCrossAttn`` ->
``model.unet_mid_block_type``) and the missing-value indicators (``__missing``, of the feature rule
or of the engine's encoder) into their hyperparameter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._errors import InputError, NotFittedError
from .._validation import check_int

__all__ = ["feature_importance", "plot_importance", "importance_group"]


def importance_group(name: str) -> str:
    """The hyperparameter an input column encodes (``key=level`` and ``key__missing`` -> ``key``).

    Examples
    --------
    >>> importance_group("model.unet_mid_block_type=UNetMidBlock2D")
    'model.unet_mid_block_type'
    """
    name = name.split("=", 1)[0]
    return name[: -len("__missing")] if name.endswith("__missing") else name


def _raw_importances(mc) -> np.ndarray:
    predictor = getattr(mc, "predictor_", None)
    if predictor is None:
        raise NotFittedError(mc)
    model = getattr(predictor, "model_", None)
    if model is None:
        raise InputError(f"The {mc.predictor!r} predictor learned a constant (one rank class): it has no feature "
                         "importances; fit it on results with more than one rank.")
    if hasattr(model, "steps"):  # scikit-learn Pipeline (svc, mlp)
        model = model.steps[-1][1]
    try:
        values = getattr(model, "feature_importances_", None)
    except Exception as exc:  # noqa: BLE001 - CatBoost ranking losses want data for their importances
        raise InputError(f"The {mc.predictor!r} predictor ({type(model).__name__}) cannot give feature importances "
                         f"without data ({exc}); use predictor='random_forest' (paper Table 1) or 'catboost'.") from exc
    if values is None:
        raise InputError(f"The {mc.predictor!r} predictor ({type(model).__name__}) has no feature importances; use "
                         "predictor='random_forest' (paper Table 1), 'catboost' or 'xgboost'.")
    values = np.asarray(values, dtype=float)
    if values.shape != (len(mc.feature_names_),):
        raise InputError(f"{type(model).__name__} gives {values.size} importances for {len(mc.feature_names_)} "
                         "inputs: cannot name them.")
    return values


def feature_importance(mc, *, group: bool = True, scope: str = "model", top: int | None = None) -> pd.DataFrame:
    """Share of the predictor's importance per input (paper Table 1).

    Parameters
    ----------
    mc : MatchChoose
        Fitted (``predictor_``, ``feature_names_``).
    group : bool, default=True
        Sum the one-hot (``=level``) and ``__missing`` columns of one hyperparameter.
    scope : {"model", "all"}, default="model"
        Shares over the model features only (Table 1 lists model features), or over every input
        (model and dataset features, priors, edge embedding).
    top : int, optional
        Keep the ``top`` largest and add a ``Remaining`` row with the rest (as Table 1 does).

    Returns
    -------
    DataFrame
        Columns ``feature`` (without the ``model.`` prefix for model features), ``importance``
        (share in [0, 1]), ``block`` (``model``, ``dataset``, ``edge``, ``prior`` or ``remaining``),
        ``columns`` (input columns summed); sorted by decreasing importance.

    Examples
    --------
    >>> mc = MatchChoose(predictor="random_forest").fit(kb.records("clip_fid"))  # doctest: +SKIP
    >>> feature_importance(mc, top=10)                                            # doctest: +SKIP
    """
    if scope not in ("all", "model"):
        raise InputError(f"The 'scope' parameter of feature_importance must be one of ['all', 'model']. "
                         f"Got {scope!r} instead.")
    values = _raw_importances(mc)
    names = list(mc.feature_names_)
    blocks = [name.split(".", 1)[0] if "." in name else "other" for name in names]
    frame = pd.DataFrame({"name": names, "value": np.clip(values, 0.0, None), "block": blocks})
    if scope == "model":
        frame = frame[frame["block"] == "model"]
        if frame.empty:
            raise InputError("The predictor has no model-feature inputs (inputs='graph', or no model features in "
                             "the knowledge base: run 'mnc zoo features --store').")
    total = frame["value"].sum()
    frame["value"] = frame["value"] / total if total > 0 else 0.0
    frame["feature"] = [importance_group(n) if group else n for n in frame["name"]]
    out = frame.groupby(["feature", "block"], sort=False).agg(importance=("value", "sum"), columns=("name", "size"))
    out = out.reset_index().sort_values(["importance", "feature"], ascending=[False, True], kind="mergesort")
    out["feature"] = [f[len("model."):] if b == "model" else f for f, b in zip(out["feature"], out["block"])]
    out = out[["feature", "importance", "block", "columns"]].reset_index(drop=True)
    if top is not None:
        check_int("top", top, low=1, owner="feature_importance")
        if len(out) > top:
            rest = out.iloc[top:]
            remaining = pd.DataFrame([{"feature": "Remaining", "importance": float(rest["importance"].sum()),
                                       "block": "remaining", "columns": int(rest["columns"].sum())}])
            out = pd.concat([out.iloc[:top], remaining], ignore_index=True)
    return out


def plot_importance(importance: pd.DataFrame, path, *, title: str | None = None) -> None:
    """Horizontal bar chart of :func:`feature_importance` (percent), saved as PNG to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"model": "#4c72b0", "dataset": "#dd8452", "edge": "#55a868", "prior": "#8172b3",
               "remaining": "#b0b0b0", "other": "#937860"}
    frame = importance.iloc[::-1]
    height = 1.4 + 0.32 * len(frame)
    fig, ax = plt.subplots(figsize=(8.5, height))
    bars = ax.barh(range(len(frame)), 100 * frame["importance"], color=[colours.get(b, "#937860")
                                                                        for b in frame["block"]])
    ax.set_yticks(range(len(frame)), frame["feature"], fontsize=8)
    for bar, value in zip(bars, frame["importance"]):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {100 * value:.1f} %", va="center",
                fontsize=7)
    ax.set_xlabel("share of the predictor's importance (%)")
    ax.set_xlim(0, 100 * frame["importance"].max() * 1.15 + 1e-9)
    ax.set_title(title or "Feature importance (paper Table 1 analogue)", fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[b]) for b in colours if b in set(frame["block"])]
    ax.legend(handles, [b for b in colours if b in set(frame["block"])], fontsize=7, loc="upper center",
              bbox_to_anchor=(0.5, -0.5 / height - 0.08), ncol=len(handles), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
