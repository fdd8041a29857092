"""The zoo definition: families, sizes, text conditioning and pretraining mixtures."""

from __future__ import annotations

import itertools

import pytest

from matchchoose import InputError
from matchchoose_microzoo.models import TEXT_ENCODERS, ZOO, get_spec, mixture_domains, model_names


def test_zoo_differs_like_the_real_zoo():
    assert len(ZOO) >= 6
    families = {spec.family for spec in ZOO.values()}
    assert {"sd", "pixart", "sd3"} <= families
    unets = [s for s in ZOO.values() if s.denoiser_class == "UNet2DConditionModel"]
    depths = {len(s.denoiser["block_out_channels"]) for s in unets}
    widths = {s.denoiser["block_out_channels"][0] for s in unets}
    assert len(depths) >= 2 and len(widths) >= 2  # 2 vs 3 levels, narrow vs wide
    transformers = {s.denoiser_class for s in ZOO.values()} - {"UNet2DConditionModel"}
    assert {"PixArtTransformer2DModel", "SD3Transformer2DModel", "FluxTransformer2DModel"} <= transformers
    assert len(ZOO) >= 8 and len(families) >= 5  # v2: the seven of v1 and a FLUX-like model
    assert len({s.text for s in ZOO.values()}) >= 3
    assert all(s.text in TEXT_ENCODERS for s in ZOO.values())
    assert model_names() == list(ZOO)
    assert all(300 <= s.steps <= 10000 for s in ZOO.values())  # a 4-8 CPU-minute budget each


def test_mixtures_are_partial_and_overlap_partially():
    from matchchoose_microzoo.domains import DOMAINS

    everything = set(DOMAINS)
    for spec in ZOO.values():
        assert set(spec.mixture) <= everything, spec.name
        assert 0 < len(spec.mixture) < len(everything) / 2, spec.name  # every model sees only part of them
        assert all(w > 0 for w in spec.mixture.values())
        assert sum(spec.weights().values()) == pytest.approx(1.0)
    for a, b in itertools.combinations(ZOO.values(), 2):
        assert set(a.mixture) != set(b.mixture), (a.name, b.name)
    shared = [len(set(a.mixture) & set(b.mixture)) for a, b in itertools.combinations(ZOO.values(), 2)]
    assert any(n > 0 for n in shared)  # overlapping partially
    assert set(mixture_domains()) < everything  # some domain is in no mixture
    assert sum(len(v) for v in mixture_domains().values()) == sum(len(s.mixture) for s in ZOO.values())


def test_unknown_model_is_one_line_error():
    with pytest.raises(InputError, match="Unknown micro-zoo model 'nope'; choose from"):
        get_spec("nope")
    assert get_spec(ZOO["sd3-s"]) is ZOO["sd3-s"]
