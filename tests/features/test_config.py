"""Reading pipeline folders and Hugging Face ids: every family, non-strict JSON, bad input, offline."""

from __future__ import annotations

import json

import pytest

from matchchoose import InputError
from matchchoose.features import PipelineConfig, default_zoo_dir, download_pipeline, read_pipeline
from matchchoose.features._config import looks_like_hub_id

ZOO = default_zoo_dir()

# (zoo id, pipeline class, denoiser component, denoiser class, components with a config)
FAMILIES = [
    ("sd15", "StableDiffusionPipeline", "unet", "UNet2DConditionModel", {"unet", "vae", "text_encoder", "scheduler"}),
    ("sdxl-base", "StableDiffusionXLPipeline", "unet", "UNet2DConditionModel",
     {"unet", "vae", "text_encoder", "text_encoder_2", "scheduler"}),
    ("segmind-vega", "StableDiffusionXLPipeline", "unet", "UNet2DConditionModel",
     {"unet", "vae", "text_encoder", "text_encoder_2", "scheduler"}),
    ("juggernaut-x-v10", "StableDiffusionXLPipeline", "unet", "UNet2DConditionModel",
     {"unet", "vae", "text_encoder", "text_encoder_2", "scheduler"}),
    ("kolors", "KolorsPipeline", "unet", "UNet2DConditionModel", {"unet", "vae", "text_encoder", "scheduler"}),
    ("sd35-medium", "StableDiffusion3Pipeline", "transformer", "SD3Transformer2DModel",
     {"transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3", "scheduler"}),
    ("flux1-dev", "FluxPipeline", "transformer", "FluxTransformer2DModel",
     {"transformer", "vae", "text_encoder", "text_encoder_2", "scheduler"}),
    ("pixart-sigma-512", "PixArtSigmaPipeline", "transformer", "PixArtTransformer2DModel",
     {"transformer", "vae", "text_encoder", "scheduler"}),
    ("sana-1.6b-512px", "SanaPipeline", "transformer", "SanaTransformer2DModel",
     {"transformer", "vae", "text_encoder", "scheduler"}),
    ("stable-cascade", "StableCascadeDecoderPipeline", "decoder", "StableCascadeUNet",
     {"decoder", "vqgan", "text_encoder", "scheduler"}),
    ("stable-cascade-prior", "StableCascadePriorPipeline", "prior", "StableCascadeUNet",
     {"prior", "text_encoder", "image_encoder", "scheduler"}),
]


@pytest.mark.parametrize("name, pipeline, denoiser, cls, components", FAMILIES)
def test_each_family_parses(name, pipeline, denoiser, cls, components):
    config = read_pipeline(ZOO / name)
    assert config.name == name
    assert config.pipeline_class == pipeline
    assert config.denoiser == denoiser
    assert config.component_class(denoiser) == cls
    assert set(config.components) == components
    assert config.missing == ()


def test_non_strict_json_is_read():
    # The real DPMSolver scheduler files hold -Infinity, which strict JSON parsers reject.
    config = read_pipeline(ZOO / "pixart-sigma-512")
    assert config.components["scheduler"]["lambda_min_clipped"] == float("-inf")


def test_round_trip_through_json():
    config = read_pipeline(ZOO / "sana-1.6b-512px")
    data = json.loads(json.dumps(config.to_json()))
    back = PipelineConfig.from_json(config.name, config.source, data)
    assert back == config


def test_missing_model_index_names_the_file(tmp_path):
    with pytest.raises(InputError, match=r"model_index\.json: no such file"):
        read_pipeline(tmp_path)


def test_malformed_component_names_the_file(write_pipeline):
    root = write_pipeline("bad", {"_class_name": "P", "unet": ["diffusers", "UNet2DConditionModel"]},
                          {"unet": '{"sample_size": 64,,}'})
    with pytest.raises(InputError, match=r"bad/unet/config\.json: malformed JSON at line 1, column 20"):
        read_pipeline(root)


def test_non_object_json_and_not_a_folder(write_pipeline, tmp_path):
    root = write_pipeline("list", {"_class_name": "P", "vae": ["diffusers", "AutoencoderKL"]}, {"vae": "[1, 2]"})
    with pytest.raises(InputError, match=r"list/vae/config\.json: expected a JSON object, got a list"):
        read_pipeline(root)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        read_pipeline(tmp_path / "file.txt")


def test_missing_component_config_is_listed_not_fatal(write_pipeline):
    root = write_pipeline("partial", {"_class_name": "P", "unet": ["diffusers", "UNet2DConditionModel"],
                                      "vae": ["diffusers", "AutoencoderKL"], "tokenizer": ["transformers", "T"],
                                      "safety_checker": [None, None]}, {"unet": {"sample_size": 8}})
    config = read_pipeline(root)
    assert config.missing == ("vae",)
    assert set(config.components) == {"unet"}


def test_hub_id_detection(tmp_path):
    assert looks_like_hub_id("stabilityai/stable-diffusion-xl-base-1.0")
    assert not looks_like_hub_id("a/b/c")
    assert not looks_like_hub_id(str(tmp_path))


def test_offline_hub_id_is_a_clear_error(monkeypatch, tmp_path):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match=r"hf://someone/model: cannot download model_index\.json: offline "
                                         r"\(HF_HUB_OFFLINE is set\).*pass a local diffusers folder"):
        download_pipeline("someone/model", cache_dir=tmp_path)


def test_unreachable_hub_is_a_clear_error_without_retries(monkeypatch, tmp_path):
    pytest.importorskip("huggingface_hub")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    with pytest.raises(InputError, match=r"offline \(the Hub \(http://127\.0\.0\.1:9\) cannot be reached\)"):
        read_pipeline("someone/model")


def test_offline_reads_the_local_hub_cache(monkeypatch, tmp_path):
    """Offline, a Hub id whose JSON files are in the Hugging Face cache still parses (no network)."""
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    commit = "0" * 40
    snapshot = tmp_path / "models--someone--tiny" / "snapshots" / commit
    (tmp_path / "models--someone--tiny" / "refs").mkdir(parents=True)
    (tmp_path / "models--someone--tiny" / "refs" / "main").write_text(commit)
    (snapshot / "unet").mkdir(parents=True)
    (snapshot / "scheduler").mkdir()
    (snapshot / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "scheduler": ["diffusers", "PNDMScheduler"]}))
    (snapshot / "unet" / "config.json").write_text(json.dumps({"sample_size": 32}))
    (snapshot / "scheduler" / "scheduler_config.json").write_text('{"lambda_min_clipped": -Infinity}')
    config = download_pipeline("someone/tiny", cache_dir=tmp_path)
    assert config.name == "someone--tiny" and config.source == "hf://someone/tiny"
    assert config.components["unet"] == {"sample_size": 32}
    assert config.components["scheduler"]["lambda_min_clipped"] == float("-inf")


def test_every_shipped_config_file_matches_its_provenance_row():
    import csv
    import hashlib

    from matchchoose.features import default_zoo_dir

    root = default_zoo_dir()
    rows = list(csv.DictReader((root / "provenance.csv").read_text(encoding="utf-8").splitlines()))
    shipped = {p.relative_to(root).as_posix() for p in root.glob("*/**/*.json")}
    assert {f"{r['model']}/{r['file']}" for r in rows} == shipped
    for r in rows:
        assert hashlib.sha1((root / r["model"] / r["file"]).read_bytes()).hexdigest() == r["sha1"], r
        assert r["origin"] and r["kind"]


@pytest.mark.shared_data
def test_provenance_table_is_what_the_script_writes_from_the_bundle():
    import importlib.util
    import json
    from pathlib import Path

    from matchchoose.features import default_zoo_dir

    repo = Path(__file__).resolve().parents[2]
    bundle = repo.parent / "shared" / "data" / "t2i-zoo" / "sources.json"
    if not bundle.is_file():
        pytest.skip("../shared/data/t2i-zoo is absent")
    spec = importlib.util.spec_from_file_location("zoo_provenance", repo / "scripts" / "zoo_provenance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render(json.loads(bundle.read_text(encoding="utf-8")))
    assert (default_zoo_dir() / "provenance.csv").read_text(encoding="utf-8") == expected
