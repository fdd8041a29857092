"""profile_dataset: embed once, reuse by content, distances to every profiled dataset."""

from __future__ import annotations

import numpy as np
import pytest

from matchchoose import InputError
from matchchoose.kb import KnowledgeBase
from matchchoose.profile import PixelProbe, frechet_distance, frechet_distances_to, profile_dataset


class CountingProbe(PixelProbe):
    """The pixel probe, counting how many images it embeds."""

    def __init__(self):
        super().__init__(size=4)
        self.calls = 0

    def _embed_batch(self, items):
        self.calls += len(items)
        return super()._embed_batch(items)


def test_profile_stores_statistics_and_reuses_them(color_zoo, tmp_path):
    _, folders, _ = color_zoo
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    probe = CountingProbe()
    first = profile_dataset(kb, folders["red"], probe=probe)
    assert (first.dataset, first.reused, first.profile.n, probe.calls) == ("red", False, 10, 10)
    emb = probe.embed(folders_images(folders["red"]))
    np.testing.assert_allclose(first.profile.mean, emb.mean(0), rtol=1e-6)
    again = profile_dataset(kb, folders["red"], probe=probe)
    assert again.reused and probe.calls == 20  # 10 more for `emb` above, none for the second profile
    # The same images under another name: statistics copied, no embedding pass.
    copy = profile_dataset(kb, folders["red"], name="red-copy", probe=probe)
    assert copy.reused and probe.calls == 20
    assert copy.profile.mean.tobytes() == first.profile.mean.tobytes()


def folders_images(folder):
    from matchchoose.profile import ImageFolder

    f = ImageFolder(folder)
    return [f.load(i) for i in range(len(f))]


def test_n_datasets_need_n_embedding_passes_and_get_all_distances(color_zoo, tmp_path):
    _, folders, _ = color_zoo
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    probe = CountingProbe()
    for name in ["red", "green", "blue", "yellow"]:
        profile_dataset(kb, folders[name], probe=probe)
    assert probe.calls == 40
    d = {name: kb.distances_of(name, "frechet:pixels") for name in ["red", "green", "blue", "yellow"]}
    assert all(len(v) == 3 for v in d.values())
    red, yellow = kb.profile("red", "pixels"), kb.profile("yellow", "pixels")
    assert d["red"]["yellow"] == pytest.approx(frechet_distance(red.mean, red.cov, yellow.mean, yellow.cov),
                                               rel=1e-7)  # rank-deficient: n=10 < dim=48
    assert d["red"]["yellow"] < d["red"]["blue"]  # red is closer to yellow (shares the red channel)


def test_frechet_distances_to_matches_pairwise(rng=np.random.default_rng(0)):
    stats = {}
    for name in "abc":
        x = rng.normal(size=(30, 5)) + rng.normal(size=5)
        stats[name] = (x.mean(0), np.cov(x, rowvar=False))
    mu, cov = stats.pop("a")
    for method in ("eigh", "svd"):
        got = frechet_distances_to(mu, cov, stats, method=method)
        for name, (m2, c2) in stats.items():
            assert got[name] == pytest.approx(frechet_distance(mu, cov, m2, c2), rel=1e-9)
    with pytest.raises(InputError, match="different probes"):
        frechet_distances_to(mu, cov, {"x": (np.zeros(2), np.eye(2))})


def test_name_taken_by_other_images_is_an_error_unless_replaced(color_zoo, tmp_path):
    _, folders, _ = color_zoo
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    profile_dataset(kb, folders["red"], name="mine", probe="pixels")
    profile_dataset(kb, folders["green"], probe="pixels")
    with pytest.raises(InputError, match=r"'mine' is already profiled .* --replace"):
        profile_dataset(kb, folders["blue"], name="mine", probe="pixels")
    before = kb.distances_of("mine", "frechet:pixels")["green"]
    result = profile_dataset(kb, folders["blue"], name="mine", probe="pixels", replace=True)
    assert not result.reused
    assert kb.distances_of("mine", "frechet:pixels")["green"] != before  # distances follow the new images


def test_too_few_images_and_caption_probe_without_captions(tmp_path):
    from PIL import Image

    folder = tmp_path / "one"
    folder.mkdir()
    Image.new("RGB", (4, 4)).save(folder / "a.png")
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    with pytest.raises(InputError, match="at least 2"):
        profile_dataset(kb, folder, probe="pixels")
    Image.new("RGB", (4, 4), "red").save(folder / "b.png")

    class TextProbe(PixelProbe):
        modality = "text"

    with pytest.raises(InputError, match="needs captions"):
        profile_dataset(kb, folder, probe=TextProbe())


def test_unknown_probe_lists_the_registry(tmp_path, color_zoo):
    _, folders, _ = color_zoo
    with pytest.raises(InputError, match=r"Unknown probe 'nope'; registered probes: .*pixels"):
        profile_dataset(KnowledgeBase(tmp_path / "kb.sqlite"), folders["red"], probe="nope")


def test_a_stored_profile_answers_without_building_the_probe(color_zoo, tmp_path, monkeypatch):
    from matchchoose.profile import _probes

    _, folders, _ = color_zoo
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    first = profile_dataset(kb, folders["red"], probe="pixels")

    def explode(**options):
        raise AssertionError("the probe was built")

    monkeypatch.setitem(_probes.PROBES, "pixels", explode)
    again = profile_dataset(kb, folders["red"], probe="pixels")
    assert again.reused and again.profile.mean.tobytes() == first.profile.mean.tobytes()
    with pytest.raises(AssertionError, match="the probe was built"):
        profile_dataset(kb, folders["green"], probe="pixels")  # new images: the probe must run
