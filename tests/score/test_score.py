"""score_images and record_score: formulas on real (tiny) images, reference cache, KB rows."""

from __future__ import annotations

import numpy as np
import pytest

from matchchoose import InputError
from matchchoose.kb import KnowledgeBase
from matchchoose.profile import ImageFolder, PixelProbe, cmmd, frechet_distance, gaussian_stats, kid
from matchchoose.score import metric_name, record_score, score_images


class CountingProbe(PixelProbe):
    def __init__(self):
        super().__init__(size=2)
        self.calls = 0

    def _embed_batch(self, items):
        self.calls += len(items)
        return super()._embed_batch(items)


def _embeddings(folder, probe):
    f = ImageFolder(folder)
    return probe.embed([f.load(i) for i in range(len(f))]).astype(np.float64)


def test_scores_match_the_reference_formulas(color_zoo, tmp_path):
    _, folders, _ = color_zoo
    probe = PixelProbe(size=2)
    fd, k, c = score_images(folders["red"], folders["orange"], probe=probe, kinds=("fd", "kid", "cmmd"),
                            kid_subsets=10, cache=tmp_path / "cache")
    x, y = _embeddings(folders["red"], probe), _embeddings(folders["orange"], probe)
    assert fd.value == pytest.approx(frechet_distance(*gaussian_stats(x), *gaussian_stats(y)), rel=1e-9)
    assert (k.value, k.std) == pytest.approx(kid(x, y, n_subsets=10, subset_size=10, random_state=0))
    assert c.value == pytest.approx(cmmd(x, y))
    assert [s.metric for s in (fd, k, c)] == ["fd_pixels", "kid_pixels", "cmmd_pixels"]
    assert fd.n_generated == fd.n_reference == 10


def test_metric_names():
    assert metric_name("fd", "clip") == "clip_fid" and metric_name("fd", "dinov2") == "fd_dinov2"
    assert metric_name("cmmd", "clip") == "cmmd" and metric_name("kid", "clip@1234abcd") == "kid_clip-1234abcd"
    with pytest.raises(InputError, match="Unknown score 'is'"):
        metric_name("is", "clip")


def test_reference_embeddings_are_computed_once(color_zoo, tmp_path):
    _, folders, _ = color_zoo
    probe = CountingProbe()
    score_images(folders["red"], folders["blue"], probe=probe, cache=tmp_path / "cache")
    score_images(folders["green"], folders["blue"], probe=probe, cache=tmp_path / "cache")
    assert probe.calls == 30  # red, blue, green: blue's embeddings came from the cache the second time


def test_record_score_writes_a_result_with_its_protocol(color_zoo, tmp_path):
    _, folders, _ = color_zoo
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    (fd,) = score_images(folders["red"], folders["orange"], probe="pixels", cache=False)
    assert record_score(kb, fd, model="m", dataset="orange", protocol={"steps": 100, "recipe": "paper"})
    assert not record_score(kb, fd, model="m", dataset="orange", protocol={"steps": 100, "recipe": "paper"})
    assert record_score(kb, fd, model="m", dataset="orange", prescore=True)
    records = kb.records("fd_pixels")
    assert records.results["value"].tolist() == [fd.value] and not kb.metric("fd_pixels").higher_is_better
    assert records.prescores["value"].tolist() == [fd.value]
    from matchchoose.kb import export_frame

    row = export_frame(kb, "results").iloc[0]
    assert row["steps"] == "100" and row["probe"] == "pixels" and row["n_generated"] == "10"


def test_too_few_images_is_an_error(tmp_path, color_zoo):
    from PIL import Image

    _, folders, _ = color_zoo
    one = tmp_path / "one"
    one.mkdir()
    Image.new("RGB", (4, 4)).save(one / "a.png")
    with pytest.raises(InputError, match="generated images .* at least 2"):
        score_images(one, folders["red"], probe="pixels")


def test_mnc_score_records_results(color_zoo, mnc, tmp_path):
    import json

    _, folders, _ = color_zoo
    kb = tmp_path / "kb.sqlite"
    (tmp_path / "protocol.json").write_text(json.dumps({"recipe": "paper", "steps": 10}))
    code, out, err = mnc("score", "--generated", folders["red"], "--reference", folders["orange"], "--probe", "pixels",
                         "--kind", "fd,kid", "--model", "m", "--dataset", "orange", "--protocol",
                         tmp_path / "protocol.json", "--kb", kb, "--json", tmp_path / "s.json")
    assert code == 0, err
    assert "recorded 2 new result(s)" in out
    assert [s["metric"] for s in json.loads((tmp_path / "s.json").read_text())] == ["fd_pixels", "kid_pixels"]
    code, _, err = mnc("score", "--generated", folders["red"], "--reference", folders["orange"], "--model", "m")
    assert code == 2 and "--model and --dataset go together" in err
