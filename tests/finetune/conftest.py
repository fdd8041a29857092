"""Fixtures of the fine-tuning tests: a tiny dataset, recipes, sampling (tiny pipelines: ``tiny`` in tests/conftest.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

#: Training resolution per family (Sana's pipeline asks for multiples of 32).
RESOLUTION = {"sd": 16, "sd-v": 16, "sdxl": 16, "sd3": 16, "flux": 16, "pixart": 16, "sana": 32}
FAMILIES = ["sd", "sdxl", "sd3", "flux", "pixart", "sana"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    """One torch thread in every module here (``one_torch_thread``: the repository's root conftest.py)."""


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """Four small RGB images of different sizes and aspect ratios, three with captions."""
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    captions = {"0.png": "a red cat", "1.png": "a blue dog on a car", "2.png": "a photo of a tree"}
    for i, (h, w) in enumerate([(24, 20), (20, 36), (40, 40), (33, 21)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"{i}.png")
    with open(root / "metadata.jsonl", "w", encoding="utf-8") as fh:
        for name, text in captions.items():
            fh.write(json.dumps({"file_name": name, "text": text}) + "\n")
    return root


@pytest.fixture(scope="session")
def recipe():
    """``recipe(family, **changes)``: a fast recipe (1 step of 2 images, lr 1e-3, checkpoint only at the end)."""
    from matchchoose.finetune import Recipe

    def make(family: str = "sd", **changes):
        base = dict(steps=1, batch_size=2, learning_rate=1e-3, resolution=RESOLUTION[family], checkpoint_every=0)
        base.update(changes)
        return Recipe(**base)

    return make


@pytest.fixture(scope="session")
def sample():
    """``sample(pipe, family, prompt, seed)``: two-step sampling of a tiny pipeline to a numpy batch."""

    def run(pipe, family: str, prompt: str = "a red cat", seed: int = 0):
        import torch

        res = RESOLUTION[family]
        kwargs = dict(num_inference_steps=2, height=res, width=res, output_type="np",
                      generator=torch.Generator().manual_seed(seed))
        if family in ("pixart", "sana"):
            kwargs["use_resolution_binning"] = False
        return pipe(prompt, **kwargs).images

    return run
