"""Cells of fine-tuning grids in the knowledge base: one row per (model, dataset, recipe) and its state.

State machine (every transition is one ``BEGIN IMMEDIATE`` transaction, so concurrent drivers and
an interrupted one never lose or duplicate a cell)::

    pending --claim--> running --finish--> done
                          |  \\--fail--> failed --claim(retry)--> running
                          \\--(driver died)--> claimed again by the next driver (resumed)
"""

from __future__ import annotations

import json
import os
import socket

import pandas as pd

from .._errors import KnowledgeBaseError

__all__ = ["GridStore", "driver_id", "driver_alive"]

STATES = ("pending", "running", "done", "failed")


def driver_id() -> str:
    """``host:pid`` of this process: the owner written on the cells it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def driver_alive(owner: str | None) -> bool:
    """Whether the driver ``owner`` still runs (only knowable on this host; elsewhere: assumed dead
    once the cell is claimed again, which is what rerunning a grid means)."""
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class GridStore:
    """Grid-cell methods of :class:`~matchchoose.kb.KnowledgeBase` (mixed in)."""

    def grid_add(self, cells, recipe: str) -> int:
        """Register ``(model, dataset)`` cells of ``recipe`` (a recipe hash) as pending unless known;
        return how many are new."""
        new = 0
        with self._transaction("grid") as writer:
            for model, dataset in cells:
                cur = writer.conn.execute(
                    "INSERT OR IGNORE INTO grid_cells (model, dataset, recipe, state, updated_at) VALUES (?, ?, ?, "
                    "'pending', ?)", (model, dataset, recipe, writer.now))
                new += cur.rowcount
        return new

    def grid_claim(self, model: str, dataset: str, recipe: str, *, owner: str | None = None,
                   retry_failed: bool = False) -> str | None:
        """Mark the cell running for ``owner`` if it is pending, interrupted (running for a driver
        that is gone) or failed with ``retry_failed``. Return the state it was claimed from
        (``"pending"``, ``"running"`` for a resumed cell, ``"failed"``), or ``None`` when it is not
        claimable (done, failed without retry, or running under a live driver)."""
        owner = owner or driver_id()
        with self._transaction("grid") as writer:
            row = writer.conn.execute("SELECT state, owner FROM grid_cells WHERE model = ? AND dataset = ? AND "
                                      "recipe = ?", (model, dataset, recipe)).fetchone()
            if row is None:
                raise KnowledgeBaseError(f"Grid cell ({model!r}, {dataset!r}) of recipe {recipe} is not registered.")
            state, current = row
            claimable = (state == "pending" or (state == "failed" and retry_failed)
                         or (state == "running" and (current == owner or not driver_alive(current))))
            if not claimable:
                return None
            writer.conn.execute(
                "UPDATE grid_cells SET state = 'running', owner = ?, attempts = attempts + 1, updated_at = ? "
                "WHERE model = ? AND dataset = ? AND recipe = ?", (owner, writer.now, model, dataset, recipe))
            return state

    def grid_finish(self, model: str, dataset: str, recipe: str, *, run_dir: str | None = None,
                    result: dict | None = None) -> None:
        """Mark the cell done, with its run folder and result (scores, timings)."""
        self._grid_set(model, dataset, recipe, "done", run_dir=run_dir, error=None, result=result or {})

    def grid_fail(self, model: str, dataset: str, recipe: str, error: str, *, run_dir: str | None = None) -> None:
        """Mark the cell failed and keep ``error``; the other cells are not affected."""
        self._grid_set(model, dataset, recipe, "failed", run_dir=run_dir, error=error, result=None)

    def grid_cells(self, recipe: str | None = None) -> pd.DataFrame:
        """Cells (optionally of one recipe): ``model, dataset, recipe, state, attempts, run_dir, error,
        owner, result (dict), updated_at``."""
        columns = ["model", "dataset", "recipe", "state", "attempts", "run_dir", "error", "owner", "result",
                   "updated_at"]
        if not self._exists():
            return pd.DataFrame(columns=columns)
        sql = f"SELECT {', '.join(columns)} FROM grid_cells"
        args = ()
        if recipe is not None:
            sql, args = sql + " WHERE recipe = ?", (recipe,)
        with self._snapshot() as conn:
            rows = conn.execute(sql + " ORDER BY model, dataset, recipe", args).fetchall()
        frame = pd.DataFrame(rows, columns=columns)
        frame["result"] = [json.loads(r) for r in frame["result"]]
        return frame

    def _grid_set(self, model, dataset, recipe, state, *, run_dir, error, result) -> None:
        with self._transaction("grid") as writer:
            cur = writer.conn.execute(
                "UPDATE grid_cells SET state = ?, run_dir = coalesce(?, run_dir), error = ?, "
                "result = coalesce(?, result), updated_at = ? WHERE model = ? AND dataset = ? AND recipe = ?",
                (state, run_dir, error, None if result is None else json.dumps(result, sort_keys=True), writer.now,
                 model, dataset, recipe))
            if cur.rowcount != 1:
                raise KnowledgeBaseError(f"Grid cell ({model!r}, {dataset!r}) of recipe {recipe} is not registered.")
