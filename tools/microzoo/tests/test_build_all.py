"""The whole v2 build at test size on the CPU: VAE beside the profiles, two models pretrained in parallel, the pilot
and its rule, the grid with learning curves and two sampling seeds, packing; a rerun does nothing twice."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from matchchoose_microzoo.build import PILOT  # noqa: E402

MODELS = ("unet-s-minilm", "pixart-s")


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    """Every domain of the two models' mixtures, as 10 flat-coloured captioned images each."""
    from PIL import Image

    from matchchoose_microzoo.models import ZOO

    root = tmp_path_factory.mktemp("domains")
    names = sorted({d for m in MODELS for d in ZOO[m].mixture})
    for k, name in enumerate(names):
        (root / name / "images").mkdir(parents=True)
        rows = []
        for i in range(10):
            rgb = np.full((16, 16, 3), (37 * k) % 256, dtype=np.uint8)
            rgb[i % 16] = (90 * i) % 256
            Image.fromarray(rgb).save(root / name / "images" / f"{i}.png")
            rows.append(json.dumps({"file_name": f"images/{i}.png", "text": f"{name} picture {i}"}))
        (root / name / "metadata.jsonl").write_text("\n".join(rows) + "\n")
    return root


def _build(data, out, *extra):
    args = [sys.executable, "-m", "matchchoose_microzoo.build", "all", str(data), str(out), "--device", "cpu",
            "--models", ",".join(MODELS), "--domains", "game_icons,openmoji", "--size", "test", "--probe",
            "pixels", "--workers", "2", "--vae-steps", "2", "--pretrain-steps", "2", "--pretrain-batch", "2",
            "--grid-steps", "2", "--fidelities", "1", "--n-samples", "2", "--sample-steps", "2", *extra]
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_build_all_at_test_size(domains, tmp_path):
    from matchchoose.kb import KnowledgeBase

    out = tmp_path / "build"
    _build(domains, out)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["pretrained"]) == set(MODELS)
    assert {"profiles", "vae", "pretrain", "pilot", "grid"} <= set(summary["stages"])
    assert summary["stages"]["grid"][-1]["cells"] == {"done": 4}
    choice = json.loads((out / "pilot-choice.json").read_text())
    labels = {"learning_rate=0.003,method=lora", "learning_rate=0.0001,method=full"}
    assert choice["label"] in labels and set(choice["median_ratio"]) == labels
    assert choice["recipe"] in [dict(c) for c in PILOT["candidates"]]
    kb = KnowledgeBase(out / "kb.sqlite")
    assert set(kb.datasets()) == {"game_icons", "openmoji"} and set(MODELS) <= set(kb.models())
    assert kb.default_metric == "fd_pixels"  # the metric the zoo ranks by, set after the grid
    rows = kb.curves("fd_pixels", per_row=True)
    results = rows[rows["kind"] == "result"]
    assert results.groupby("fidelity").size().to_dict() == {1.0: 4, 2.0: 8}  # 2 seeds at the target
    pre = kb.curves("fd_pixels", per_row=True, prescores=True)
    assert (pre["kind"] == "prescore").sum() == 8
    grid = json.loads((out / "grid-spec.json").read_text())
    assert {k: grid["recipe"][k] for k in choice["recipe"]} == choice["recipe"] and grid["sample_resolution"] == 64
    # a rerun finds everything done
    again = _build(domains, out)
    assert "pretraining" not in again.stdout and "pilot:" not in again.stdout
    assert json.loads((out / "summary.json").read_text())["stages"]["grid"][-1]["cells"] == {"done": 4}
    # a recipe pilot on the built zoo: two candidates, the rule's choice with per-model medians
    pilot = tmp_path / "pilot"
    cands = '[{"method": "full", "learning_rate": 0.0003}, {"method": "lora", "learning_rate": 0.01}]'
    args = [sys.executable, "-m", "matchchoose_microzoo.build", "pilot", str(domains), str(out), str(pilot),
            "--domains", "game_icons", "--candidates", cands, "--probe", "pixels", "--grid-steps", "2",
            "--n-samples", "2", "--sample-steps", "2"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    pc = json.loads((pilot / "pilot-choice.json").read_text())
    labels = {"learning_rate=0.0003,method=full", "learning_rate=0.01,method=lora"}
    assert set(pc["median_ratio"]) == labels and pc["label"] in labels
    assert pc["cells"] == {label: 2 for label in labels}  # two models x one domain each
    assert all(set(v) == set(MODELS) for v in pc["per_model_median_ratio"].values())
    bad = subprocess.run([*args[:7], "--domains", "nowhere", "--candidates", cands], capture_output=True, text=True)
    assert bad.returncode == 2 and "nowhere" in bad.stderr and "Traceback" not in bad.stderr
    # packing for transfer
    packed = tmp_path / "packed"
    subprocess.run([sys.executable, "-m", "matchchoose_microzoo.build", "pack", str(out), str(packed)], check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "matchchoose_microzoo.build", "pack-models", str(out), str(packed)],
                   check=True, capture_output=True)
    assert {p.name for p in packed.iterdir()} >= {"kb.sqlite.gz", "meta.tar.gz", "samples.tar", "models-0.tar"}
    with tarfile.open(packed / "meta.tar.gz") as tar:
        names = tar.getnames()
    assert "summary.json" in names and any(n.endswith("cell.json") for n in names)
    with tarfile.open(packed / "models-0.tar") as tar:
        names = tar.getnames()
    assert "unet-s-minilm/unet/fp16.diffusion_pytorch_model.safetensors" in names and "vae/config.json" in names
    assert not any("/text_encoder" in n or "/checkpoints/" in n for n in names)
