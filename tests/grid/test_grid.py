"""mnc grid on 2 tiny models x 2 tiny datasets: local and Ray, skip done cells, keep failures, resume a killed grid."""

from __future__ import annotations

import os
import signal
import time

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from matchchoose.grid import GridSpec, run_grid  # noqa: E402
from matchchoose.kb import KnowledgeBase  # noqa: E402

RECIPE = {"steps": 2, "batch_size": 2, "resolution": 16, "checkpoint_every": 1, "learning_rate": 1e-3}


@pytest.fixture(scope="module")
def tiny_models(tiny):
    return {"tiny-sd": str(tiny("sd")), "tiny-pixart": str(tiny("pixart"))}


@pytest.fixture
def captioned(color_zoo):
    _, folders, _ = color_zoo
    for name in ("red", "blue"):
        for i in range(10):
            (folders[name] / f"{i}.txt").write_text(f"a {name} square {i}")
    return {"red": str(folders["red"]), "blue": str(folders["blue"])}


def _spec(models, datasets, out, **changes):
    fields = dict(models=models, datasets=datasets, out_dir=str(out), recipe=RECIPE, n_samples=3, sample_steps=2,
                  sample_resolution=16, probe="pixels", score_kinds=("fd",), val_fraction=0.3, seed=0, prescore=True)
    fields.update(changes)
    return GridSpec(**fields)


def test_local_grid_records_results_and_skips_finished_cells(tiny_models, captioned, tmp_path):
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    spec = _spec(tiny_models, captioned, tmp_path / "runs")
    report = run_grid(kb, spec, progress=False)
    assert (report.ran, report.done, report.failed) == (4, 4, 0)
    records = kb.records("fd_pixels")
    assert len(records.results) == 4 and len(records.prescores) == 4
    cell = report.cells.iloc[0]
    assert cell["state"] == "done" and cell["result"]["finetune"]["steps"] == 2
    assert (tmp_path / "runs" / "tiny-sd" / "red" / "samples" / "metadata.jsonl").is_file()
    again = run_grid(kb, spec, progress=False)
    assert (again.ran, again.skipped_done) == (0, 4)
    assert len(kb.records("fd_pixels").results) == 4
    # The KB serves mnc choose and mnc evaluate directly: model configs and features, dataset profiles.
    assert set(report.prepared["models"]) == set(tiny_models) and set(report.prepared["datasets"]) == set(captioned)
    assert {"tiny-sd", "tiny-pixart"} <= set(kb.model_configs()["model"])
    records = kb.records("fd_pixels", profile_probe="pixels", distance_metric="frechet:pixels")
    assert records.model_features.loc["tiny-sd"].notna().any()
    assert records.distances.loc["red", "blue"] > 0
    from matchchoose.kb import export_frame

    row = export_frame(kb, "results").iloc[0]
    assert '"torch"' in row["versions"] and row["split"] == "val_fraction=0.3,seed=0"


def test_a_failed_cell_keeps_its_error_and_does_not_block_the_others(tiny_models, captioned, tmp_path):
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    models = {**tiny_models, "broken": str(tmp_path / "no-such-model")}
    report = run_grid(kb, _spec(models, {"red": captioned["red"]}, tmp_path / "runs"), progress=False)
    assert (report.done, report.failed) == (2, 1)
    cells = report.cells.set_index("model")
    assert cells.loc["broken", "state"] == "failed" and "no-such-model" in cells.loc["broken", "error"]
    again = run_grid(kb, _spec(models, {"red": captioned["red"]}, tmp_path / "runs"), progress=False)
    assert (again.ran, again.skipped_failed) == (0, 1)
    retried = run_grid(kb, _spec(models, {"red": captioned["red"]}, tmp_path / "runs"), retry_failed=True,
                       progress=False)
    assert retried.ran == 1 and retried.cells.set_index("model").loc["broken", "attempts"] == 2


_DRIVER = """
import json, sys
from matchchoose.grid import GridSpec, run_grid
from matchchoose.kb import KnowledgeBase
fields = json.loads(sys.argv[2])
fields["score_kinds"] = tuple(fields["score_kinds"])
run_grid(KnowledgeBase(sys.argv[1]), GridSpec(**fields), progress=False)
"""


def test_a_killed_grid_resumes_with_nothing_lost(tiny_models, captioned, tmp_path):
    import dataclasses
    import json
    import subprocess
    import sys

    kb_path = tmp_path / "kb.sqlite"
    spec = _spec(tiny_models, captioned, tmp_path / "runs", recipe={**RECIPE, "steps": 6})
    # A separate process (not a fork of this one, whose torch thread pools may already be running).
    # Its stderr goes to a file (a pipe nobody reads could fill and block it), shown if it dies early.
    stderr = tmp_path / "driver.stderr"
    with stderr.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", _DRIVER, str(kb_path), json.dumps(dataclasses.asdict(spec))],
                                stdout=subprocess.DEVNULL, stderr=err)
    kb = KnowledgeBase(kb_path)
    deadline = time.time() + 240
    while time.time() < deadline:  # kill it once the first cell is done and the second one has started
        if proc.poll() is not None:
            pytest.fail(f"The grid driver exited (code {proc.returncode}) before the test could kill it mid-grid; "
                        f"its stderr:\n{stderr.read_text()[-4000:]}")
        if kb._exists() and "done" in set(kb.grid_cells()["state"]) and "running" in set(kb.grid_cells()["state"]):
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"The grid driver had not finished a cell and started the next after 240 s; its stderr:\n"
                    f"{stderr.read_text()[-4000:]}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = kb.grid_cells()
    assert (before["state"] == "done").sum() >= 1 and (before["state"] == "running").sum() == 1
    report = run_grid(kb, spec, progress=False)
    assert report.resumed == 1 and report.failed == 0
    after = kb.grid_cells()
    assert set(after["state"]) == {"done"}
    assert len(kb.records("fd_pixels").results) == 4


@pytest.mark.slow
def test_ray_backend_on_a_local_instance(tiny_models, captioned, tmp_path):
    ray = pytest.importorskip("ray")
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
        report = run_grid(kb, _spec(tiny_models, captioned, tmp_path / "runs"), backend="ray", progress=False)
    finally:
        ray.shutdown()
    assert (report.ran, report.done) == (4, 4)
    assert len(kb.records("fd_pixels").results) == 4


def test_mnc_grid_runs_reports_and_shows_status(tiny_models, captioned, mnc, tmp_path):
    kb = tmp_path / "kb.sqlite"
    args = ["grid", "--models", f"tiny-sd={tiny_models['tiny-sd']}", "--datasets", f"red={captioned['red']}",
            "--out", tmp_path / "runs", "--kb", kb, "--steps", "1", "--batch-size", "2", "--resolution", "16",
            "--n-samples", "2", "--sample-steps", "1", "--sample-resolution", "16", "--probe", "pixels",
            "--no-prescore"]
    code, out, err = mnc(*args, "--json", tmp_path / "grid.json")
    assert code == 0, err
    assert "1 done, 0 failed" in out
    code, out, err = mnc(*args, "--status")
    assert code == 0 and "done" in out and "fd_pixels" in out
    code, out, err = mnc(*args)
    assert code == 0 and "skipped 1 done" in out
    code, _, err = mnc("grid", "--datasets", captioned["red"], "--out", tmp_path / "r", "--kb", kb)
    assert code == 2 and "No models" in err


def test_learning_curves_and_sampling_seeds_are_recorded_per_fidelity_and_seed(tiny_models, captioned, tmp_path):
    """Three stages (1, 2, 4 steps) of one run: scores at each fidelity; the target and the prescore once per seed."""
    models = {"tiny-sd": tiny_models["tiny-sd"]}
    datasets = {"red": captioned["red"]}
    spec = _spec(models, datasets, tmp_path / "runs", recipe={**RECIPE, "steps": 4, "checkpoint_every": 100},
                 fidelities=(1, 2), sample_seeds=(0, 1000), register_models=False, profile_datasets=False)
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    report = run_grid(kb, spec, progress=False)
    assert (report.ran, report.done) == (1, 1)
    rows = kb.curves("fd_pixels", per_row=True)
    by_fidelity = rows.groupby("fidelity").size().to_dict()
    assert by_fidelity == {1.0: 1, 2.0: 1, 4.0: 2}  # two sampling seeds at the target only
    target = rows[rows["fidelity"] == 4.0]
    assert sorted(p["sample_seed"] for p in target["provenance"]) == ["0", "1000"]
    assert target["value"].nunique() == 2  # independent samples: the two seeds differ
    pre = kb.curves("fd_pixels", per_row=True, prescores=True)
    assert (pre["kind"] == "prescore").sum() == 2
    # each stage resumed from the previous one: one run of 4 steps, and its stages' folders
    cell = report.cells.iloc[0]["result"]
    assert cell["finetune"]["steps"] == 4 and cell["finetune"]["stages"] == [1, 2, 4]
    run = tmp_path / "runs" / "tiny-sd" / "red"
    assert {p.name for p in run.iterdir() if p.is_dir()} >= {"samples", "samples-seed1000", "samples-step1",
                                                            "samples-step2", "pretrained", "pretrained-seed1000"}
    # mnc evaluate / choose read the target: one value per pair, the mean of the two seeds with aggregate="mean"
    records = kb.records("fd_pixels", aggregate="mean")
    assert len(records.results) == 1
    assert abs(records.results["value"].iloc[0]) == pytest.approx(target["value"].mean())


def test_staged_run_equals_the_straight_run(tiny_models, captioned, tmp_path):
    """Fidelities are prefixes of the target run: the final adapter is the same with or without stages."""
    from safetensors.torch import load_file

    models = {"tiny-sd": tiny_models["tiny-sd"]}
    datasets = {"red": captioned["red"]}
    base = dict(recipe={**RECIPE, "steps": 3, "checkpoint_every": 100}, prescore=False, register_models=False,
                profile_datasets=False)
    run_grid(KnowledgeBase(tmp_path / "a.sqlite"), _spec(models, datasets, tmp_path / "a", **base), progress=False)
    run_grid(KnowledgeBase(tmp_path / "b.sqlite"), _spec(models, datasets, tmp_path / "b", fidelities=(1, 2), **base),
             progress=False)
    adapters = [next((tmp_path / r / "tiny-sd" / "red" / "finetune" / "adapter").glob("*.safetensors"))
                for r in ("a", "b")]
    a, b = (load_file(str(p)) for p in adapters)
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)


def test_curve_settings_leave_old_recipe_hashes_alone_and_are_checked(tiny_models, captioned, tmp_path):
    from matchchoose import InputError

    plain = _spec(tiny_models, captioned, tmp_path)
    assert "fidelities" not in plain.protocol() and "sample_seeds" not in plain.protocol()
    assert plain.recipe_hash() == _spec(tiny_models, captioned, tmp_path, sample_seeds=(0,)).recipe_hash()
    assert plain.recipe_hash() != _spec(tiny_models, captioned, tmp_path, fidelities=(1,)).recipe_hash()
    with pytest.raises(InputError, match="fidelities must be training steps"):
        _spec(tiny_models, captioned, tmp_path, fidelities=(5,)).protocol()
    with pytest.raises(InputError, match="closer than n_samples"):
        _spec(tiny_models, captioned, tmp_path, sample_seeds=(0, 1)).protocol()


def test_no_cell_starts_after_the_deadline(tiny_models, captioned, tmp_path):
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    spec = _spec(tiny_models, captioned, tmp_path / "runs", register_models=False, profile_datasets=False)
    report = run_grid(kb, spec, progress=False, stop_at=time.time() - 1)
    assert (report.ran, report.skipped_deadline) == (0, 4)
    assert set(kb.grid_cells(spec.recipe_hash())["state"]) == {"pending"}


def test_a_staged_cell_run_again_resumes_past_its_finished_stages(tiny_models, captioned, tmp_path):
    """A cell interrupted after its training went past a stage: the rerun scores that stage's drawn samples
    instead of asking the trainer to go back (its checkpoint is beyond the stage)."""
    from matchchoose.grid import CellTask
    from matchchoose.grid._cell import run_cell

    spec = _spec({"tiny-sd": tiny_models["tiny-sd"]}, {"red": captioned["red"]}, tmp_path,
                 recipe={**RECIPE, "steps": 4, "checkpoint_every": 100}, fidelities=(1, 2))
    task = CellTask(model="tiny-sd", model_path=tiny_models["tiny-sd"], dataset="red", dataset_path=captioned["red"],
                    run_dir=str(tmp_path / "cell"), protocol=spec.protocol(), resumed=False)
    first = run_cell(task)
    import shutil

    shutil.rmtree(tmp_path / "cell" / "samples")  # killed while drawing the target's samples
    again = run_cell(task)
    key = [(s["fidelity"], s["metric"]) for s in first["scores"]]
    assert key == [(s["fidelity"], s["metric"]) for s in again["scores"]]
    assert [s["value"] for s in first["scores"]] == [s["value"] for s in again["scores"]]
    assert again["finetune"]["steps"] == 4
