"""Grid cells in the knowledge base: claim, finish, fail, resume after a dead driver."""

from __future__ import annotations

import multiprocessing

import pytest

from matchchoose import KnowledgeBaseError
from matchchoose.kb import KnowledgeBase
from matchchoose.kb._grid import driver_alive, driver_id


def test_cell_life_cycle(kb):
    assert kb.grid_add([("m", "a"), ("m", "b")], "r1") == 2
    assert kb.grid_add([("m", "a")], "r1") == 0  # already registered
    assert kb.grid_claim("m", "a", "r1") == "pending"
    assert kb.grid_claim("m", "a", "r1") == "running"  # our own claim: claimable again (resume in-process)
    kb.grid_finish("m", "a", "r1", run_dir="/runs/m/a", result={"clip_fid": 12.5})
    assert kb.grid_claim("m", "a", "r1") is None  # done
    assert kb.grid_claim("m", "b", "r1") == "pending"
    kb.grid_fail("m", "b", "r1", "RuntimeError: out of memory")
    assert kb.grid_claim("m", "b", "r1") is None  # failed, no retry
    cells = kb.grid_cells("r1").set_index("dataset")
    assert cells.loc["a", "state"] == "done" and cells.loc["a", "result"] == {"clip_fid": 12.5}
    assert cells.loc["b", "error"] == "RuntimeError: out of memory" and cells.loc["b", "attempts"] == 1
    assert kb.grid_claim("m", "b", "r1", retry_failed=True) == "failed"
    assert kb.grid_cells("r1").set_index("dataset").loc["b", "attempts"] == 2


def test_running_cell_of_a_live_driver_is_not_taken_but_a_dead_one_is(kb):
    kb.grid_add([("m", "a")], "r")
    other = multiprocessing.get_context("fork").Process(target=lambda: None)
    other.start()
    other.join()
    dead = f"{driver_id().rpartition(':')[0]}:{other.pid}"
    assert not driver_alive(dead) and driver_alive(driver_id())
    assert kb.grid_claim("m", "a", "r", owner=dead) == "pending"
    assert kb.grid_claim("m", "a", "r") == "running"  # resumed: its driver is gone
    assert kb.grid_claim("m", "a", "r", owner=dead) is None  # now held by a live driver (us)


def test_unknown_cell_is_an_error(kb):
    with pytest.raises(KnowledgeBaseError, match="not registered"):
        kb.grid_claim("m", "x", "r")
    with pytest.raises(KnowledgeBaseError, match="not registered"):
        kb.grid_finish("m", "x", "r")


def test_cells_survive_reopening(tmp_path):
    path = tmp_path / "kb.sqlite"
    KnowledgeBase(path).grid_add([("m", "a")], "r")
    assert KnowledgeBase(path).grid_cells()["state"].tolist() == ["pending"]
