"""Importing CSV/Parquet tables into a :class:`~matchchoose.kb.KnowledgeBase`, and exporting them back.

File layouts, by ``kind`` (CSV, ``.csv.gz`` or Parquet, chosen by extension):

``results``, ``prescores``
    ``model, dataset, metric, value``; any other column is kept as provenance (a JSON object of
    text values, missing cells left out). Identical rows (same kind, model, dataset, metric, value
    and provenance) are stored once, so re-importing a file changes nothing; repeated runs that
    should count separately need a distinguishing column such as ``seed``. Models and datasets
    are created as they are named. Every metric must be built in or declared (``higher_is_better``).
    An optional ``fidelity`` column gives the compute at which each score was measured (training
    steps or any measure, larger = more compute; a finite number >= 0, or missing = unknown, read
    as the target): rows of one pair at several fidelities form its learning curve, and the largest
    fidelity per pair is the target that :meth:`~matchchoose.kb.KnowledgeBase.records` reads by default.
``models``, ``datasets``
    ``model`` (or ``dataset``), then one column per feature. A column whose values all parse as
    numbers is numeric, else categorical; missing values are allowed.
    Re-importing updates the values (upsert), feature by feature.
``distances``
    ``dataset_a, dataset_b, metric, value`` (symmetric: stored once per pair; a diagonal must be 0
    or empty; never negative), or a square matrix whose first column holds the row labels and whose
    header holds the same labels, imported with ``metric=NAME``. Every dataset must already be
    known to the knowledge base (through results, prescores, features or earlier distances): a name
    seen nowhere else is most likely a typo, so it is an error unless ``add_datasets=True``.

In every kind, an empty cell or one reading NA, N/A, NaN, null or None (any case) is missing.
Names are printable text (no NUL byte, newline or other control character); numbers are finite;
results of a Fréchet distance (``fid``, ``clip_fid``, ``fd_*``) are never negative.
Every error names the file, the line (as an editor shows it: the header is line 1; Parquet files
and DataFrames give the 1-based row instead) and the column, and the import stores nothing.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pandas as pd

from .._errors import InputError, KnowledgeBaseError
from .._validation import check_in
from ._metrics import check_metric_name, check_name, is_nonnegative_metric, undeclared_metric_hint
from ._records import _feature_frame
from ._store import KnowledgeBase

__all__ = ["KINDS", "ImportSummary", "export_frame", "export_table", "import_frame", "import_table"]

KINDS = ("results", "prescores", "models", "datasets", "distances")
_SCORE_COLUMNS = ("model", "dataset", "metric", "value")
_DISTANCE_COLUMNS = ("dataset_a", "dataset_b", "metric", "value")
_FIDELITY = "fidelity"
_MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})


@dataclass(frozen=True)
class ImportSummary:
    """What one import did.

    Attributes
    ----------
    source : str
        The file (or frame name) imported.
    kind : str
        One of :data:`KINDS`.
    rows_read : int
        Data rows in the file.
    inserted, updated : int
        Values stored for the first time / changed (feature and distance upserts).
    skipped : int
        Values that changed nothing: duplicates of stored rows, unchanged upserts, and the diagonal
        and mirrored half of a distance matrix.
    new_models, new_datasets : int
        Models and datasets the import created.
    """

    source: str
    kind: str
    rows_read: int
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    new_models: int = 0
    new_datasets: int = 0

    def __str__(self) -> str:
        return (
            f"{self.source}: {self.rows_read} rows read, {self.inserted} inserted, {self.updated} updated, "
            f"{self.skipped} skipped as duplicates or unchanged; "
            f"{self.new_models} new models, {self.new_datasets} new datasets."
        )


@dataclass
class _Table:
    """A file's header and cells (str, number or ``None`` for missing), with where each row came from."""

    name: str
    columns: list
    rows: list
    numbers: list  # line (CSV) or row (Parquet, DataFrame) number of each row, 1-based
    unit: str = "line"

    def __post_init__(self):
        self.position = {column: j for j, column in enumerate(self.columns)}

    def at(self, i: int, column: str) -> str:
        label = repr(column) if column else str(self.position[column] + 1)
        return f"{self.name}, {self.unit} {self.numbers[i]}, column {label}"

    def header(self, column: str | None = None) -> str:
        where = f"{self.name}, line 1" if self.unit == "line" else self.name
        return where if column is None else f"{where}, column {column!r}"

    def cell(self, i: int, column: str):
        return self.rows[i][self.position[column]]


def _fail(where: str, message: str) -> NoReturn:
    raise InputError(f"{where}: {message}.")


# ------------------------------------------------------------------ reading
def _clean(text: str):
    text = text.strip()
    return None if text.lower() in _MISSING else text


def _first_bad_utf8(path: Path) -> tuple[int, str]:
    """Line number and offending byte of the first non-UTF-8 line of ``path``."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        for lineno, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return lineno, f"0x{line[exc.start]:02x}"
    return 1, "?"


def _read_csv(path: Path, name: str) -> _Table:
    opener = gzip.open if path.name.endswith(".gz") else open
    rows, numbers = [], []
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            # strict: a quote left open is an error at its line, not a cell-count error further on
            reader = csv.reader(handle, strict=True)
            header = next(reader, None)
            if header is None:
                _fail(f"{name}, line 1", "empty file: expected a header line")
            while True:
                start = reader.line_num + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    if "unexpected end of data" in str(exc) or reader.line_num > start:
                        _fail(f"{name}, line {start}", 'a quote (") opens a cell that is never closed: close it, '
                              'or double a quote meant inside a quoted cell ("")')
                    _fail(f"{name}, line {start}", f"malformed CSV ({exc})")
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(header):
                    _fail(f"{name}, line {start}", f"{len(cells)} cells where the header has {len(header)}")
                rows.append([_clean(cell) for cell in cells])
                numbers.append(start)
    except UnicodeDecodeError:
        lineno, byte = _first_bad_utf8(path)
        _fail(f"{name}, line {lineno}", f"byte {byte} is not UTF-8: save the file as UTF-8")
    except (OSError, EOFError) as exc:
        _fail(name, f"cannot be read as CSV ({exc})")
    return _Table(name, [cell.strip() for cell in header], rows, numbers)


def _python_cell(value):
    if value is None or (pd.api.types.is_scalar(value) and not isinstance(value, str) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _clean(str(value))
    return value


def _frame_table(frame: pd.DataFrame, name: str) -> _Table:
    rows = [[_python_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    return _Table(name, [str(c).strip() for c in frame.columns], rows, list(range(1, len(rows) + 1)), "row")


def _read(path, kind: str) -> tuple[_Table, str]:
    name = os.fspath(path)
    path = Path(path)
    if not path.exists():
        _fail(name, f"no such file (the {kind} file to import)")
    if path.is_dir():
        _fail(name, "is a directory, not a file")
    suffix = path.name.lower()
    if suffix.endswith((".csv", ".csv.gz")):
        table = _read_csv(path, name)
    elif suffix.endswith((".parquet", ".pq")):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            _fail(name, f"cannot be read as Parquet ({exc})")
        table = _frame_table(frame, name)
    else:
        _fail(name, "unsupported file type: expected .csv, .csv.gz or .parquet")
    return table, str(path.resolve())


# ------------------------------------------------------------------ cells
def _as_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_number(value) -> float | None:
    """``value`` as a float, or ``None`` when it is not a number."""
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _name(table: _Table, i: int, column: str) -> str:
    value = table.cell(i, column)
    if value is None:
        _fail(table.at(i, column), "empty name")
    name = _as_text(value)
    bad = check_name(name)
    if bad:
        _fail(table.at(i, column), bad)
    return name


def _value(table: _Table, i: int, column: str = "value") -> float:
    raw = table.cell(i, column)
    if raw is None:
        _fail(table.at(i, column), "missing value (empty, NA or NaN): every row needs a finite number")
    value = _as_number(raw)
    if value is None or not math.isfinite(value):
        _fail(table.at(i, column), f"{raw!r} is not a finite number")
    return value


def _fidelity(table: _Table, i: int) -> float | None:
    """The row's optional fidelity: a finite number >= 0, or ``None`` (column absent or cell missing)."""
    if _FIDELITY not in table.position:
        return None
    raw = table.cell(i, _FIDELITY)
    if raw is None:
        return None
    value = _as_number(raw)
    if value is None or not math.isfinite(value) or value < 0:
        _fail(table.at(i, _FIDELITY), f"{raw!r} is not a fidelity: expected a finite number >= 0 (training steps "
              "or another compute measure), or an empty cell for the target")
    return value


def _check_header(table: _Table, *, first_may_be_empty: bool = False) -> None:
    seen = set()
    for j, column in enumerate(table.columns):
        if not column and not (first_may_be_empty and j == 0):
            _fail(table.header(), f"column {j + 1} has no name")
        if column in seen:
            _fail(table.header(column), "duplicate column name")
        seen.add(column)


def _require(table: _Table, required, kind: str, layout: str) -> None:
    for column in required:
        if column not in table.position:
            _fail(table.header(), f"missing column {column!r}: a {kind} file has columns {layout}")


# ------------------------------------------------------------------ importers
def _import_scores(kb, table, kind, source, higher_is_better, counts):
    _require(table, _SCORE_COLUMNS, kind, "model, dataset, metric, value (other columns are kept as provenance)")
    extra = [column for column in table.columns if column not in _SCORE_COLUMNS and column != _FIDELITY]
    metrics = {}
    for i in range(len(table.rows)):
        metrics.setdefault(_name(table, i, "metric"), i)
    with kb._transaction(source) as writer:
        if higher_is_better is not None:
            for metric, i in metrics.items():
                try:
                    writer.declare_metric(metric, higher_is_better)
                except KnowledgeBaseError as exc:
                    raise InputError(f"{table.at(i, 'metric')}: {exc}") from exc
        for i, row in enumerate(table.rows):
            metric = _name(table, i, "metric")
            if writer.metric(metric) is None:
                _fail(table.at(i, "metric"), undeclared_metric_hint(metric))
            provenance = {c: _as_text(row[table.position[c]]) for c in extra if row[table.position[c]] is not None}
            value = _value(table, i)
            if value < 0 and is_nonnegative_metric(metric):
                _fail(table.at(i, "value"), f"{value!r} is negative, but {metric!r} is a distance (a Fréchet "
                      "distance is never below 0): check the column, or import the values under another metric")
            stored = writer.add_score(kind[:-1], _name(table, i, "model"), _name(table, i, "dataset"), metric,
                                      value, provenance, _fidelity(table, i))
            counts["inserted" if stored else "skipped"] += 1
        counts.update(new_models=writer.new_models, new_datasets=writer.new_datasets)


def _import_features(kb, table, kind, source, counts):
    entity = kind[:-1]
    _require(table, [entity], kind, f"{entity}, then one column per feature")
    names = {}
    for i in range(len(table.rows)):
        name = _name(table, i, entity)
        if name in names:
            _fail(table.at(i, entity), f"{entity} {name!r} is listed twice (first on {table.unit} {names[name]})")
        names[name] = table.numbers[i]
    columns = {}
    for feature in (c for c in table.columns if c != entity):
        cells = [row[table.position[feature]] for row in table.rows]
        numbers = [None if cell is None else _as_number(cell) for cell in cells]
        numeric = all(n is not None for n, cell in zip(numbers, cells, strict=True) if cell is not None)
        if numeric:
            for i, number in enumerate(numbers):
                if number is not None and not math.isfinite(number):
                    _fail(table.at(i, feature), f"{cells[i]!r} is not a finite number: leave the cell empty "
                          "if the value is unknown")
        columns[feature] = numbers if numeric else [None if c is None else _as_text(c) for c in cells]
    with kb._transaction(source) as writer:
        for i, name in enumerate(names):
            writer.ensure(kind, name)
            for feature, values in columns.items():
                counts[writer.set_feature(entity, name, feature, values[i])] += 1
        counts.update(new_models=writer.new_models, new_datasets=writer.new_datasets)


def _distance_entries(table: _Table, metric: str | None) -> list:
    """One ``(a, b, metric, value, i, column_a, column_b, column_value)`` per cell, ``i`` the row.

    Checks the file on its own: layout, numbers, and that a pair given twice has one value.
    """
    layout = "dataset_a, dataset_b, metric, value, or is a square matrix imported with --metric NAME"
    entries = []
    if "dataset_a" in table.position or "dataset_b" in table.position or metric is None:
        _require(table, ("dataset_a", "dataset_b", "value") + (() if metric else ("metric",)), "distances", layout)
        _check_header(table)
        for column in table.columns:
            if column not in _DISTANCE_COLUMNS or (column == "metric" and metric):
                _fail(table.header(column), "unexpected column: a distances file has columns "
                      + ("dataset_a, dataset_b, value when --metric is given" if metric else layout))
        for i in range(len(table.rows)):
            entries.append((_name(table, i, "dataset_a"), _name(table, i, "dataset_b"),
                            metric or _name(table, i, "metric"), _value(table, i),
                            i, "dataset_a", "dataset_b", "value"))
    else:
        _check_header(table, first_may_be_empty=True)
        label_column, labels = table.columns[0], table.columns[1:]
        rows = {}
        for i in range(len(table.rows)):
            label = _name(table, i, label_column)
            if label in rows:
                _fail(table.at(i, label_column), f"row label {label!r} appears twice")
            if label not in labels:
                _fail(table.at(i, label_column),
                      f"row label {label!r} is not a column label: the matrix must be square")
            rows[label] = i
        for label in labels:
            if label not in rows:
                _fail(table.header(label), f"column label {label!r} has no row: the matrix must be square")
        for a, i in rows.items():
            for b in labels:
                if table.cell(i, b) is not None:
                    entries.append((a, b, metric, _value(table, i, b), i, label_column, b, b))
    first = {}
    for a, b, name, value, i, _, _, column in entries:
        if value < 0:
            _fail(table.at(i, column), f"distance {value!r} is negative: distances are at least 0 (clip a "
                  "slightly negative unbiased KID/MMD estimate to 0)")
        if a == b and value != 0:
            _fail(table.at(i, column), f"the distance of {a!r} to itself is {value!r}: it must be 0 (or the "
                  "cell empty); a non-zero diagonal means the rows or columns are misaligned")
        key = (min(a, b), max(a, b), name)
        if key in first and first[key][0] != value:
            value_0, i_0, column_0 = first[key]
            _fail(table.at(i, column), f"distance {name!r} between {a!r} and {b!r} is {value!r} here but "
                  f"{value_0!r} on {table.unit} {table.numbers[i_0]}, column {column_0!r}: distances are symmetric")
        first.setdefault(key, (value, i, column))
    return entries


def _import_distances(kb, table, source, metric, add_datasets, counts):
    entries = _distance_entries(table, metric)
    with kb._transaction(source) as writer:
        for a, b, name, value, i, column_a, column_b, _ in entries:
            for dataset, column in ((a, column_a), (b, column_b)):
                if not writer.has_dataset(dataset):
                    if not add_datasets:
                        _fail(table.at(i, column), f"unknown dataset {dataset!r}: no results, prescores, features or "
                              f"distances name it in {kb.path}; import those first, or pass --add-datasets "
                              "if the name is right")
                    writer.ensure("datasets", dataset)
            counts["skipped" if a == b else writer.set_distance(a, b, name, value)] += 1
        counts.update(new_models=writer.new_models, new_datasets=writer.new_datasets)


def _check_options(kind, metric, higher_is_better, add_datasets) -> None:
    check_in("kind", kind, KINDS, owner="import_table")
    if higher_is_better is not None and kind not in ("results", "prescores"):
        raise InputError(
            "--higher-is-better/--lower-is-better (higher_is_better) applies to results and prescores only."
        )
    if metric is not None and kind != "distances":
        raise InputError(f"--metric (metric) applies to distances only: a {kind} file has a 'metric' column.")
    if metric is not None:
        check_metric_name(metric)
    if add_datasets and kind != "distances":
        raise InputError("--add-datasets (add_datasets) applies to distances only.")


def _import(kb, table, source, kind, metric, higher_is_better, add_datasets) -> ImportSummary:
    """Validate ``table`` as a file of ``kind`` and store it in one transaction."""
    if not table.rows:
        _fail(table.header() if table.unit != "line" else f"{table.name}, line 2", "no data rows")
    counts = dict(inserted=0, updated=0, skipped=0, new_models=0, new_datasets=0)
    if kind in ("results", "prescores"):
        _check_header(table)
        _import_scores(kb, table, kind, source, higher_is_better, counts)
    elif kind in ("models", "datasets"):
        _check_header(table)
        _import_features(kb, table, kind, source, counts)
    else:
        _import_distances(kb, table, source, metric, add_datasets, counts)
    return ImportSummary(table.name, kind, len(table.rows), **counts)


def import_table(kb: KnowledgeBase, path, kind: str, *, metric: str | None = None,
                 higher_is_better: bool | None = None, add_datasets: bool = False) -> ImportSummary:
    """Import a CSV or Parquet file into ``kb``, in one transaction.

    Parameters
    ----------
    kb : KnowledgeBase
    path : str or Path
        ``.csv``, ``.csv.gz`` or ``.parquet``; layouts in :mod:`matchchoose.kb._import`.
    kind : {"results", "prescores", "models", "datasets", "distances"}
    metric : str, optional
        Distances only: the distance's name, for a square matrix or a long file without a
        ``metric`` column.
    higher_is_better : bool, optional
        Results and prescores only: declare every metric of the file with this direction, in the
        same transaction.
    add_datasets : bool, default=False
        Distances only: create datasets the knowledge base does not know yet instead of failing.

    Returns
    -------
    ImportSummary

    Raises
    ------
    InputError
        Bad file; the message names the file, line and column. Nothing is stored.

    Examples
    --------
    >>> kb = KnowledgeBase(":memory:")
    >>> import_table(kb, "results.csv", "results")  # doctest: +SKIP
    """
    _check_options(kind, metric, higher_is_better, add_datasets)
    table, source = _read(path, kind)
    return _import(kb, table, source, kind, metric, higher_is_better, add_datasets)


def import_frame(kb: KnowledgeBase, frame: pd.DataFrame, kind: str, *, name: str = "<DataFrame>",
                 metric: str | None = None, higher_is_better: bool | None = None,
                 add_datasets: bool = False) -> ImportSummary:
    """Import a DataFrame laid out like a file of ``kind`` (see :func:`import_table`).

    Errors name ``name`` and the 1-based row; the index is ignored.
    """
    _check_options(kind, metric, higher_is_better, add_datasets)
    table = _frame_table(frame, name)
    return _import(kb, table, name, kind, metric, higher_is_better, add_datasets)


# ------------------------------------------------------------------ exporting
def export_frame(kb: KnowledgeBase, kind: str) -> pd.DataFrame:
    """Stored rows of ``kind`` laid out as :func:`import_table` reads them.

    Results and prescores come in import order with one column per provenance key (sorted), and
    a ``fidelity`` column after ``value`` when any row has one;
    distances once per pair (``dataset_a < dataset_b``); models and datasets with one column per
    feature.
    """
    check_in("kind", kind, KINDS, owner="export_frame")
    with kb._snapshot() as conn:
        if kind == "distances":
            rows = conn.execute(
                "SELECT dataset_a, dataset_b, metric, value FROM distances ORDER BY metric, dataset_a, dataset_b"
            ).fetchall()
            return pd.DataFrame(rows, columns=list(_DISTANCE_COLUMNS))
        if kind in ("models", "datasets"):
            names = [row[0] for row in conn.execute(f"SELECT name FROM {kind} ORDER BY name")]
            return _feature_frame(conn, kind[:-1], names).reset_index()
        rows = conn.execute(
            "SELECT model, dataset, metric, value, provenance, fidelity FROM results WHERE kind = ? ORDER BY id",
            (kind[:-1],)).fetchall()
    provenance = [json.loads(row[4]) for row in rows]
    frame = pd.DataFrame([row[:4] for row in rows], columns=list(_SCORE_COLUMNS))
    if any(row[5] is not None for row in rows):
        frame[_FIDELITY] = pd.Series([row[5] for row in rows], dtype=float)
    for key in sorted({key for prov in provenance for key in prov}):
        frame[key] = pd.Series([prov.get(key) for prov in provenance], dtype=object)
    return frame


def export_table(kb: KnowledgeBase, path, kind: str) -> int:
    """Write :func:`export_frame` to ``path`` (CSV, ``.csv.gz`` or Parquet by extension); return the row count.

    The file imports back unchanged: re-importing it into the same knowledge base inserts nothing.
    """
    frame = export_frame(kb, kind)
    path = Path(path)
    name = path.name.lower()
    if not name.endswith((".csv", ".csv.gz", ".parquet", ".pq")):
        _fail(os.fspath(path), "unsupported file type: expected .csv, .csv.gz or .parquet")
    blocking = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        _fail(os.fspath(path), f"{blocking} is a file, not a folder: choose another output path")
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith((".parquet", ".pq")):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return len(frame)
