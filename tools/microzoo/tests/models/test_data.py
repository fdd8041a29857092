"""Mixture sampling: only the declared domains, by their weights, never the held-out split."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from matchchoose import InputError
from matchchoose_microzoo.models import MixtureData, RESOLUTION


def test_draws_respect_the_mixture(data_root, mixture):
    data = MixtureData(data_root, mixture, RESOLUTION, seed=3)
    counts = collections.Counter(d for step in range(400) for d, _ in data.draw(step, 8))
    assert set(counts) == set(mixture)  # green_grid is never drawn
    share = counts["red_discs"] / sum(counts.values())
    assert share == pytest.approx(0.75, abs=0.03)
    assert data.draw(5, 8) == MixtureData(data_root, mixture, RESOLUTION, seed=3).draw(5, 8)  # stateless
    assert data.draw(5, 8) != data.draw(6, 8)


def test_held_out_split_is_left_out(data_root, mixture):
    from matchchoose.profile import ImageFolder, split

    data = MixtureData(data_root, mixture, RESOLUTION)
    assert len(data) == 16  # 8 of each domain's 10 images; 2 are held out
    for domain in mixture:
        _, val = split(ImageFolder(data_root / domain), val_fraction=0.2, random_state=0)
        trained = {data.folders[domain].items[i][0] for _, i in data.items() if _ == domain}
        assert trained.isdisjoint({rel for rel, _ in val.items})
    held = MixtureData(data_root, mixture, RESOLUTION, part="held_out")
    assert len(held) == 4
    assert len(MixtureData(data_root, mixture, RESOLUTION, held_out_fraction=0)) == 20


def test_images_are_prepared_like_finetuning(data_root, mixture):
    data = MixtureData(data_root, mixture, RESOLUTION)
    array, original, crop = data.image(data.items()[0])
    assert array.shape == (RESOLUTION, RESOLUTION, 3) and array.dtype == np.float32
    assert -1.0 <= array.min() and array.max() <= 1.0
    assert original == (40, 40) and crop == (0, 0)
    assert data.caption(("red_discs", 0)).startswith("a red disc number")


def test_bad_mixtures_are_one_line_errors(data_root):
    with pytest.raises(InputError, match=r"domain\(s\) nope missing; build them with 'mnc-microzoo datasets build"):
        MixtureData(data_root, {"red_discs": 1, "nope": 1}, RESOLUTION)
    with pytest.raises(InputError, match="weight of domain 'red_discs' must be a positive number"):
        MixtureData(data_root, {"red_discs": 0}, RESOLUTION)
    with pytest.raises(InputError, match="does not exist"):
        MixtureData(data_root / "absent", {"red_discs": 1}, RESOLUTION)
