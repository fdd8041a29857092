"""matchchoose: choose which pretrained model to fine-tune on your data (Match & Choose, arXiv 2508.10993).

Data flows through one subpackage per stage::

    kb        knowledge base (SQLite): models, datasets, results, distances, features
    records   ZooRecords: the tidy tables the engine works on
    graph     matching graph, random-walk affinities, Node2Vec+ embeddings
    rank      rank predictors (CatBoost and alternates) and the M&C selector
    evaluate  leave-one-dataset-out evaluation, metrics, baselines
    cli       the ``mnc`` command

Tools built on matchchoose (``tools/microzoo``) use only public names: the error types,
:func:`require`, which imports an optional dependency or says what to install, :func:`cache_dir`,
the folder of one of matchchoose's caches (``mnc cache info`` lists them), and the parameter checks
:func:`check_int`, :func:`check_real` and :func:`check_in`, which return the value or raise an
:class:`InputError` that names the parameter, its owner and the allowed values, as matchchoose's own
components do (a probe of your own can check its ``batch_size`` the same way).
"""

from ._errors import InputError, KnowledgeBaseError, MatchChooseError, MissingDependencyError, NotFittedError, require
from ._cache import cache_dir
from ._validation import check_in, check_int, check_real
from .records import Metric, ZooRecords

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "KnowledgeBaseError",
    "MatchChooseError",
    "Metric",
    "MissingDependencyError",
    "NotFittedError",
    "ZooRecords",
    "__version__",
    "cache_dir",
    "check_in",
    "check_int",
    "check_real",
    "require",
]
