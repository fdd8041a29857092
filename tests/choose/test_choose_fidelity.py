"""choose reads each pair's target fidelity unless told another (learning curves in the KB)."""

from __future__ import annotations

import pandas as pd

from matchchoose.choose import choose
from matchchoose.kb import KnowledgeBase, import_frame, import_table
from matchchoose.profile import profile_dataset


def test_choose_trains_on_the_target_fidelity_unless_told(color_zoo):
    root, folders, results = color_zoo
    kb = KnowledgeBase(root / "kb.sqlite")
    final = pd.read_csv(results)
    early = final.assign(value=60 - final["value"], fidelity=10)  # after 10 steps the order is reversed
    import_frame(kb, final.assign(fidelity=100), "results")
    import_frame(kb, early, "results")
    import_table(kb, results, "results")  # the same final values without a fidelity: not the target here
    for name in ("red", "green", "blue", "yellow"):
        profile_dataset(kb, folders[name], probe="pixels")
    truth = final[final["dataset"] == "blue"].set_index("model")["value"]
    at_target = choose(kb, folders["blue"], cache=False).ranking.set_index("model")["true_value"]
    assert at_target.sort_index().tolist() == truth.sort_index().tolist()
    at_10 = choose(kb, folders["blue"], cache=False, fidelity=10).ranking.set_index("model")["true_value"]
    assert at_10.sort_index().tolist() == (60 - truth).sort_index().tolist()
