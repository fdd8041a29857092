"""The knowledge base: a model zoo's recorded fine-tuning results, in one SQLite file.

Import results, prescores, model and dataset features and dataset distances from CSV or Parquet
(:func:`import_table`), then read what the selection engine needs as a
:class:`~matchchoose.ZooRecords` (:meth:`KnowledgeBase.records`).

Examples
--------
>>> import pandas as pd
>>> from matchchoose.kb import KnowledgeBase, import_frame
>>> kb = KnowledgeBase(":memory:")
>>> runs = pd.DataFrame({"model": ["a", "a", "b"], "dataset": "x", "metric": "clip_fid",
...                      "value": [12.0, 10.0, 11.0], "seed": [0, 1, 0]})
>>> import_frame(kb, runs, "results").inserted
3
>>> kb.records("clip_fid", aggregate="best").results["value"].tolist()
[10.0, 11.0]
"""

from ._embedded import EMBEDDED_KB_NAME, embedded_kb, embedded_kb_file
from ._import import KINDS, ImportSummary, export_frame, export_table, import_frame, import_table
from ._metrics import BUILTIN_METRICS
from ._profiles import Profile, distance_metric_name
from ._schema import latest_version
from ._store import KnowledgeBase, default_kb_path

__all__ = [
    "BUILTIN_METRICS",
    "EMBEDDED_KB_NAME",
    "KINDS",
    "ImportSummary",
    "KnowledgeBase",
    "embedded_kb",
    "embedded_kb_file",
    "Profile",
    "default_kb_path",
    "distance_metric_name",
    "export_frame",
    "export_table",
    "import_frame",
    "import_table",
    "latest_version",
]
