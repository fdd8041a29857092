"""The content-keyed cache of VAE encodings and text embeddings: each distinct image and caption is encoded
once, results equal training without it to rounding, and random augmentation simply misses."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from matchchoose.finetune import Recipe, finetune


def _weights(result):
    return load_file(str(result.adapter_dir / "adapter_model.safetensors"))


@pytest.mark.parametrize("family", ["sd", "sana"])
def test_each_image_and_caption_is_encoded_once(family, tiny, images, recipe, tmp_path):
    # 4 images (one without a caption), 2 per step, 4 steps: two epochs.
    plain = finetune(tiny(family), images, tmp_path / "a", recipe(family, steps=4), progress=False, device="cpu")
    cached = finetune(tiny(family), images, tmp_path / "b", recipe(family, steps=4, cache_encodings=True),
                      progress=False, device="cpu")
    stats = cached.run["encoding_cache"]
    assert stats["misses"] == {"images": 4, "captions": 4} and stats["hits"] == {"images": 4, "captions": 4}
    a, b = _weights(plain), _weights(cached)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-3, atol=1e-4)  # lr 1e-3 x 4 steps: updates ~4e-3
    assert cached.losses == pytest.approx(plain.losses, rel=1e-4)
    assert "encoding_cache" not in plain.run


def test_random_flips_give_new_pixels_and_miss(tiny, images, recipe, tmp_path):
    run = finetune(tiny("sd"), images, tmp_path / "r", recipe("sd", steps=4, cache_encodings=True, random_flip=True,
                                                              seed=1), progress=False, device="cpu")
    stats = run.run["encoding_cache"]
    assert 4 < stats["misses"]["images"] <= 8  # flipped and unflipped versions are different content
    assert stats["misses"]["images"] + stats["hits"]["images"] == 8


def test_the_vae_gets_its_own_encode_back(tiny, images, recipe, tmp_path):
    from matchchoose.finetune._cache import EncodingCache
    from matchchoose.finetune.families import family_class

    fam = family_class("sd").load(tiny("sd"), device="cpu")
    own = fam.pipe.vae.encode
    cache = EncodingCache(fam)
    assert fam.pipe.vae.encode != own
    cache.close()
    assert fam.pipe.vae.encode == own


def test_recipe_field_keeps_old_hashes():
    assert "cache_encodings" not in Recipe().to_dict()
    assert Recipe(cache_encodings=True).to_dict()["cache_encodings"] is True
