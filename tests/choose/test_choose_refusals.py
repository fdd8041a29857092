"""mnc choose refuses a request that cannot succeed before profiling anything (a profile made before a
later failure is kept, as documented in :func:`matchchoose.choose.choose`)."""

from __future__ import annotations

import pytest

from matchchoose import KnowledgeBaseError
from matchchoose.choose import choose
from matchchoose.kb import KnowledgeBase, import_table
from matchchoose.profile import profile_dataset


def test_unlinkable_request_is_refused_before_profiling(color_zoo, mnc):
    root, folders, results = color_zoo
    kb = KnowledgeBase(root / "kb.sqlite")
    import_table(kb, results, "results")
    profile_dataset(kb, folders["orange"], name="elsewhere", probe="pixels")  # a profile, but without results
    with pytest.raises(KnowledgeBaseError, match=r"nothing was profiled or stored"):
        choose(kb, folders["red"], name="new", probe="pixels", cache=False)
    assert sorted(kb.profiles()["dataset"]) == ["elsewhere"]
    code, _, err = mnc("choose", folders["red"], "--name", "new2", "--probe", "pixels", "--kb", kb.path)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(kb.profiles()["dataset"]) == ["elsewhere"]

