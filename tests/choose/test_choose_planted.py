"""choose end to end on planted structure: a cluster where the overall-best model is the wrong pick.

World: 4 models m0..m3; 9 image domains (10 noisy 16x16 PNGs each, pixels probe). Six *bright* domains, where
m0 > m1 > m2 > m3, and three *dark* ones, where the order is reversed; a new dark folder ("night") has known
results in the dark order (given with ``truth``, never used to rank). Overall (mean normalised score: m0 6/9,
m3 3/9) says m0 everywhere. Dark and bright pixel statistics are far apart (Fréchet distance on pixels), so
the nearest datasets of "night" are the three dark ones, which all say m3 > m2 > m1 > m0: the default selector
must rank night exactly m3, m2, m1, m0, and be sure of it (every leave-one-dataset-out error on the knowledge
base is zero, so P(best) of the pick is 1 and the shortlist is that one model).
"""

from __future__ import annotations

import numpy as np
import pytest

from matchchoose.choose import choose
from matchchoose.kb import KnowledgeBase, import_table
from matchchoose.profile import profile_dataset

BRIGHT = {f"bright{i}": 200 + 8 * i for i in range(6)}
DARK = {f"dark{i}": 30 + 8 * i for i in range(3)}
ORDER = ["m0", "m1", "m2", "m3"]


@pytest.fixture
def planted_kb(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    folders = {}
    for name, level in {**BRIGHT, **DARK, "night": 42}.items():
        folder = tmp_path / "images" / name
        folder.mkdir(parents=True)
        for i in range(10):
            pixels = np.clip(level + rng.normal(0, 10, (16, 16, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")
        folders[name] = folder
    rows = ["model,dataset,metric,value"]
    for name in [*BRIGHT, *DARK]:
        order = ORDER if name in BRIGHT else ORDER[::-1]
        rows += [f"{m},{name},accuracy,{0.9 - 0.1 * r:.2f}" for r, m in enumerate(order)]
    results = tmp_path / "results.csv"
    results.write_text("\n".join(rows) + "\n")
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    import_table(kb, results, "results")
    for name in [*BRIGHT, *DARK]:
        profile_dataset(kb, folders[name], probe="pixels")
    return kb, folders


def test_default_recovers_the_dark_cluster_and_is_sure(planted_kb):
    kb, folders = planted_kb
    truth = {m: 0.9 - 0.1 * r for r, m in enumerate(ORDER[::-1])}
    choice = choose(kb, folders["night"], cache=False, truth=truth)
    assert choice.selector == "blend"
    assert choice.ranking["model"].tolist() == ["m3", "m2", "m1", "m0"]
    assert choice.ranking["true_rank"].tolist() == [1, 2, 3, 4]
    assert set(choice.nearest["dataset"]) == set(DARK)
    assert choice.confidence["p_best_pick"] == 1.0 and choice.shortlist == ["m3"]
    # The evidence is named: the dark datasets moved the ranking away from the prior.
    assert choice.confidence["neighbours"] and set(choice.confidence["neighbours"]) <= set(DARK)
    pick = choice.ranking.iloc[0]
    assert pick.from_neighbours > 0 and pick.from_prior < choice.ranking["from_prior"].max()
    payload = choice.to_dict()
    assert payload["confidence"]["p_best_pick"] == 1.0 and payload["ranking"][0]["p_best"] == 1.0


def test_the_overall_prior_alone_would_pick_wrong(planted_kb):
    kb, folders = planted_kb
    choice = choose(kb, folders["night"], cache=False)
    prior_pick = choice.ranking.sort_values("prior", ascending=False)["model"].iloc[0]
    assert prior_pick == "m0" and choice.ranking["model"].iloc[0] == "m3"
