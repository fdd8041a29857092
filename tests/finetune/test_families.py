"""Families: detection from model_index.json, the registry, and one training step per family.

One step must change the method's trainable weights (LoRA's B matrices, which get a gradient at
step 0) and nothing else: no weight of the denoiser, text encoders or VAE moves.
"""

from __future__ import annotations

import pytest
import torch

from matchchoose import InputError
from matchchoose.features import default_zoo_dir
from matchchoose.finetune import FAMILIES, detect_family
from matchchoose.finetune._train import _Trainer
from matchchoose.finetune.families import family_class, supported_pipelines

ALL = ["sd", "sdxl", "sd3", "flux", "pixart", "sana"]


@pytest.mark.parametrize("model,family", [
    ("sd15", "sd"), ("sd21", "sd"), ("sdxl-base", "sdxl"), ("juggernaut-x-v10", "sdxl"), ("segmind-vega", "sdxl"),
    ("sd3-medium", "sd3"), ("sd35-large", "sd3"), ("flux1-dev", "flux"), ("flux1-schnell", "flux"),
    ("pixart-sigma-512", "pixart"), ("sana-1.6b-512px", "sana"), ("sana1.5-4.8b", "sana"),
])
def test_detect_family_of_the_zoo(model, family):
    assert detect_family(default_zoo_dir() / model) == family


def test_unknown_family_lists_the_supported_ones():
    with pytest.raises(InputError) as info:
        detect_family(default_zoo_dir() / "kolors")
    message = str(info.value)
    assert "'KolorsPipeline' is not supported" in message and "kolors" in message
    for family in ALL:
        assert f"{family} (" in message
    with pytest.raises(InputError, match="Unknown pipeline family 'dit'"):
        family_class("dit")
    with pytest.raises(InputError, match="not a folder"):
        detect_family(default_zoo_dir() / "nope")


def test_registry_matches_the_family_classes():
    assert sorted(FAMILIES) == sorted(ALL)
    for name, (_, _, classes) in FAMILIES.items():
        cls = family_class(name)
        assert cls.name == name and tuple(cls.pipeline_classes) == tuple(classes)
    assert supported_pipelines()["PixArtSigmaPipeline"] == "pixart"


def _snapshot(trainer):
    return {f"{c}.{k}": v.detach().clone() for c, m in trainer.family.modules().items()
            for k, v in m.state_dict().items()}


def one_step(model, images, out, recipe):
    trainer = _Trainer(model, images, out, recipe, "cpu", False)
    trainer.build()
    before = _snapshot(trainer)
    loss = trainer.train_step(0)
    after = _snapshot(trainer)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    trainable = {f"{trainer.family.denoiser_name}.{n}" for n in trainer.params}
    return trainer, loss, changed, trainable


@pytest.mark.parametrize("family", ALL)
def test_one_lora_step_changes_the_lora_weights_only(family, tiny, images, recipe, tmp_path):
    trainer, loss, changed, trainable = one_step(tiny(family), images, tmp_path, recipe(family))
    assert loss > 0 and torch.isfinite(torch.tensor(loss))
    assert changed and changed <= trainable, sorted(changed - trainable)[:5]
    lora_b = {k for k in trainable if ".lora_B." in k}
    # B starts at 0 and gets a gradient at step 0, except the context query of SD3's last block, whose
    # text-token outputs are discarded (context_pre_only) so that it never gets a gradient.
    assert lora_b and all("add_q_proj" in k for k in lora_b - changed)
    assert all(p.dtype == torch.float32 and p.requires_grad for p in trainer.params.values())
    frozen = [n for n, p in trainer.family.denoiser.named_parameters() if p.requires_grad and "lora_" not in n]
    assert not frozen


@pytest.mark.parametrize("family", ALL)
def test_one_adapter_step_changes_the_adapters_only(family, tiny, images, recipe, tmp_path):
    trainer, loss, changed, trainable = one_step(tiny(family), images, tmp_path, recipe(family, method="adapter",
                                                                                      adapter_dim=4))
    assert changed and changed <= trainable
    ups = {k for k in trainable if k.endswith("mnc_adapter.up.weight")}
    assert ups and ups <= changed
    modules = trainer.method.config()["modules"]
    if family in ("sd3", "flux"):  # joint attention of the (double-stream) blocks
        assert all(m.startswith("transformer_blocks.") and m.endswith(".attn") for m in modules)
    else:
        assert modules and all(m.endswith("attn2") for m in modules)


def test_sd3_without_t5(tiny, images, recipe, tmp_path):
    model = tiny("sd3", with_t5=False)
    trainer, _, changed, trainable = one_step(model, images, tmp_path, recipe("sd3"))
    assert trainer.family.pipe.text_encoder_3 is None and changed <= trainable and changed


def test_v_prediction_family_reads_the_scheduler(tiny, images, recipe, tmp_path):
    trainer, _, changed, _ = one_step(tiny("sd-v"), images, tmp_path, recipe("sd"))
    assert trainer.family.prediction_type == "v_prediction" and changed


def test_resolution_must_fit_the_model(tiny, images, recipe, tmp_path):
    with pytest.raises(InputError, match="resolution 18 is not a multiple of 4"):
        one_step(tiny("sd"), images, tmp_path, recipe("sd", resolution=18))


def test_pipeline_without_weights_is_a_clear_error(images, recipe, tmp_path):
    with pytest.raises(InputError, match=r"(missing|cannot load).*weights|component folder"):
        one_step(default_zoo_dir() / "sd15", images, tmp_path, recipe("sd"))


@pytest.mark.parametrize("family,tokenizer,default", [("flux", "tokenizer_2", 512), ("sd3", "tokenizer_3", 256),
                                                      ("pixart", "tokenizer", 300), ("sana", "tokenizer", 300)])
def test_caption_length_is_the_long_tokenizers_when_shorter(family, tokenizer, default):
    from types import SimpleNamespace

    cls = family_class(family)

    def pipe(limit):
        return SimpleNamespace(**{tokenizer: SimpleNamespace(model_max_length=limit)})

    assert cls.sequence_length(pipe(48)) == 48  # a model built for short captions
    assert cls.sequence_length(pipe(default * 4)) == default  # real tokenizers allow more than the pipeline uses
    assert cls.sequence_length(pipe(int(1e30))) == default  # transformers' "no limit"
    assert cls.sequence_length(SimpleNamespace()) == default  # e.g. SD3 without its T5
    assert family_class("sd").sequence_length(pipe(48)) is None  # CLIP-only families have no such option


def test_flux_trains_and_samples_with_the_shorter_caption_length(tiny, tmp_path, monkeypatch):
    import functools

    from matchchoose.sample import load_pipeline, sample_images

    pipe = load_pipeline(tiny("flux"), dtype="float32", device="cpu")
    pipe.tokenizer_2.model_max_length = 24
    assert family_class("flux")(pipe).text_length == 24
    seen = {}
    call = type(pipe).__call__

    @functools.wraps(call)  # keeps the signature the sampler reads
    def spy(self, *args, **kwargs):
        seen.update(kwargs)
        return call(self, *args, **kwargs)

    monkeypatch.setattr(type(pipe), "__call__", spy)
    sample_images(pipe, ["a red circle"], tmp_path / "s", n=1, steps=1, resolution=32, batch_size=1)
    assert seen["max_sequence_length"] == 24
