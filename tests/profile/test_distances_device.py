"""KID and CMMD with torch on a device: the same subsets and the NumPy result to rounding; score_images
puts them on the probe's GPU."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from matchchoose.profile import cmmd, kid  # noqa: E402


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(120, 12)), rng.normal(size=(90, 12)) + 0.3


def test_kid_on_a_device_matches_numpy(xy):
    numpy_mean, numpy_std = kid(*xy, n_subsets=7, subset_size=50, random_state=3)
    mean, std = kid(*xy, n_subsets=7, subset_size=50, random_state=3, device="cpu")
    assert mean == pytest.approx(numpy_mean, rel=1e-12) and std == pytest.approx(numpy_std, rel=1e-10)
    assert kid(*xy, n_subsets=7, subset_size=50, random_state=4, device="cpu")[0] != pytest.approx(mean, rel=1e-6)


@pytest.mark.parametrize("unbiased", [False, True])
def test_cmmd_on_a_device_matches_numpy(xy, unbiased):
    assert cmmd(*xy, unbiased=unbiased, device="cpu") == pytest.approx(cmmd(*xy, unbiased=unbiased), rel=1e-12)


def test_score_images_runs_kid_and_cmmd_on_the_probes_gpu(tmp_path, monkeypatch):
    from PIL import Image

    from matchchoose.profile import get_probe
    from matchchoose.score import _score

    for name in ("gen", "ref"):
        (tmp_path / name).mkdir()
        for i in range(4):
            Image.new("RGB", (8, 8), (60 * i, 10, 200 if name == "gen" else 20)).save(tmp_path / name / f"{i}.png")
    seen = []
    monkeypatch.setattr(_score, "kid", lambda *a, device=None, **k: (seen.append(("kid", device)), (0.5, 0.1))[1])
    monkeypatch.setattr(_score, "cmmd", lambda *a, device=None, **k: (seen.append(("cmmd", device)), 0.25)[1])
    probe = get_probe("pixels")
    _score.score_images(tmp_path / "gen", tmp_path / "ref", probe=probe, kinds=("kid", "cmmd"), cache=False)
    assert seen == [("kid", None), ("cmmd", None)]  # a CPU probe: NumPy, as before
    probe.device = "cuda:0"
    seen.clear()
    _score.score_images(tmp_path / "gen", tmp_path / "ref", probe=probe, kinds=("kid", "cmmd"), cache=False)
    assert seen == [("kid", "cuda:0"), ("cmmd", "cuda:0")]
