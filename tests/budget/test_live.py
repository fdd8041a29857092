"""mnc race: budgeted selection for real on tiny random-weight pipelines, end to end on the CPU.

A tiny knowledge base (fd_pixels results of the three tiny models on four colour folders, profiled
with the pixels probe) lets Match & Choose predict the prior; the target is the orange folder.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from matchchoose.budget import FinetuneRuns, default_fidelities, race_folder  # noqa: E402
from matchchoose.kb import KnowledgeBase  # noqa: E402

RECIPE = ["--steps", "4", "--batch-size", "2", "--resolution", "16", "--lr", "1e-3", "--checkpoint-every", "100"]
SAMPLING = ["--n-samples", "3", "--sample-steps", "1", "--sample-resolution", "16", "--probe", "pixels",
            "--val-fraction", "0.3"]
OPTIONS = {"recipe": {"steps": 4, "batch_size": 2, "resolution": 16, "learning_rate": 1e-3, "checkpoint_every": 100},
           "n_samples": 3, "sample_steps": 1, "sample_resolution": 16, "probe": "pixels", "val_fraction": 0.3}


@pytest.fixture(scope="module")
def zoo_dir(tiny, tmp_path_factory):
    """A --models-dir of three tiny pipelines (links to the session's tiny builds)."""
    root = tmp_path_factory.mktemp("race_zoo")
    for name, path in {"tiny-a": tiny("sd"), "tiny-b": tiny("sd", seed=1), "tiny-c": tiny("pixart")}.items():
        (root / name).symlink_to(path, target_is_directory=True)
    return root


@pytest.fixture
def world(color_zoo):
    """``(kb path, target folder)``: a knowledge base where M&C can predict for the orange folder, with
    learning curves (1, 2 and 4 steps) and prescores of three other folders for the race to learn from: each
    model is best on one of them, the first rung already tells which, the zero-shot score never does."""
    from matchchoose.kb import import_frame
    from matchchoose.profile import profile_dataset

    root, folders, _ = color_zoo
    for name, folder in folders.items():
        for i in range(10):
            (folder / f"{i}.txt").write_text(f"a {name} square {i}")
    path = root / "kb.sqlite"
    kb = KnowledgeBase(path)
    kb.declare_metric("fd_pixels", False, "FD in pixels-probe space")
    models, datasets = ("tiny-a", "tiny-b", "tiny-c"), ("red", "green", "blue")
    curves = [{"model": m, "dataset": d, "metric": "fd_pixels", "value": 100 + 10 * ((i - j) % 3) + 8 / f,
               "fidelity": f}
              for i, m in enumerate(models) for j, d in enumerate(datasets) for f in (1, 2, 4)]
    import_frame(kb, pd.DataFrame(curves), "results")
    zero = [{"model": m, "dataset": d, "metric": "fd_pixels", "value": 120 + 5 * i + j}  # says nothing
            for i, m in enumerate(models) for j, d in enumerate(datasets)]
    import_frame(kb, pd.DataFrame(zero), "prescores")
    for name in ("red", "green", "blue"):
        profile_dataset(kb, folders[name], name=name, probe="pixels")
    return path, folders["orange"]


def test_mnc_race_runs_within_budget_records_and_resumes(world, zoo_dir, mnc, tmp_path, one_line_error):
    kb_path, orange = world
    args = ["race", orange, "--budget", "6", "--models-dir", zoo_dir, "--kb", kb_path, "--out", tmp_path / "runs",
            *RECIPE, *SAMPLING, "--quiet"]
    code, out, err = mnc(*args, "--json", tmp_path / "race.json")
    assert code == 0, err
    first = json.loads((tmp_path / "race.json").read_text())
    # the prior is the default selector's, as in `mnc choose`
    assert first["prior_source"] == "blend" and set(first["prior"]) == {"tiny-a", "tiny-b", "tiny-c"}
    # the rungs and the promotions come from the other folders' recorded curves
    assert first["fidelities"] == [1, 2, 4] and first["target"] == 4 and first["exhaustive"] == 12
    assert first["learned_from"] == ["blue", "green", "red"]
    trace = first["trace"]
    assert trace and first["spent"] <= 6 and sum(t["compute"] for t in trace) == first["spent"]
    assert first["steps_trained"] == first["spent"] and {t["source"] for t in trace} == {"ran"}
    assert first["pick"] in first["prior"] and "Pick:" in out and first["pick"] in out
    # the race decided at the first rung (it learned that rung is decisive); the budget left trains its pick
    assert first["schedule"] == [[1.0, 3]] and [t["fidelity"] for t in trace] == [1.0, 1.0, 1.0, 4.0]
    assert first["finished"] and first["pick_trained"] and trace[-1]["model"] == first["pick"]
    assert trace[-1]["compute"] == 3 and first["spent"] == 6
    # every run is in the knowledge base with its fidelity and the race's protocol; zero-shot as prescores
    kb = KnowledgeBase(kb_path)
    rows = kb.curves("fd_pixels", per_row=True, prescores=True, datasets=["orange"])
    results = rows[rows["kind"] == "result"]
    assert sorted(zip(results["model"], results["fidelity"])) == sorted((t["model"], t["fidelity"]) for t in trace)
    assert {p["grid_recipe"] for p in rows["provenance"]} == {first["recipe_hash"]}
    assert set(rows.loc[rows["kind"] == "prescore", "model"]) == {"tiny-a", "tiny-b", "tiny-c"}
    # a rerun reads every score back: the same decisions, no training
    code, out, err = mnc(*args, "--json", tmp_path / "again.json")
    assert code == 0, err
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["steps_trained"] == 0 and {t["source"] for t in again["trace"]} == {"recorded"}
    assert [t[:3] for t in map(lambda t: [t["model"], t["fidelity"], t["score"]], again["trace"])] == \
        [[t["model"], t["fidelity"], t["score"]] for t in trace]
    assert again["pick"] == first["pick"] and again["spent"] == first["spent"]
    # a bad --models-dir: one line
    code, _, err = mnc("race", orange, "--budget", "6", "--models-dir", tmp_path / "nowhere", "--kb", kb_path)
    one_line_error(code, err, "--models-dir", "nowhere", "is not a folder")
    code, _, err = mnc("race", orange, "--budget", "6", "--models-dir", tmp_path, "--kb", kb_path)
    one_line_error(code, err, "--models-dir", "has no model", "model_index.json")


def test_mnc_race_takes_the_prior_from_the_selector_it_is_given(world, zoo_dir, mnc, tmp_path):
    """--selector picks the selector of the prior (as in `mnc choose`); the JSON names it. With no budget and
    no zero-shot scores nothing runs, and the pick is the prior's top model."""
    kb_path, orange = world
    code, _, err = mnc("race", orange, "--budget", "0", "--no-zero-shot", "--selector", "mnc[paper]", "--models-dir",
                       zoo_dir, "--kb", kb_path, "--out", tmp_path / "runs", *RECIPE, *SAMPLING, "--quiet", "--json",
                       tmp_path / "race.json")
    assert code == 0, err
    run = json.loads((tmp_path / "race.json").read_text())
    assert run["prior_source"] == "mnc[paper]" and run["trace"] == [] and run["spent"] == 0
    assert run["pick"] == max(run["prior"], key=run["prior"].get)


def test_an_interrupted_race_resumes_without_training_again(world, zoo_dir, tmp_path):
    """Killed after its first run, the race continues from the knowledge base and the checkpoints:
    in total, every step of the budget is trained once (stages resume, nothing is retrained)."""
    _, orange = world
    kb = KnowledgeBase(tmp_path / "fresh.sqlite")  # no curves to learn from: plain successive halving
    models = {p.name: str(p) for p in sorted(zoo_dir.iterdir())}
    prior = pd.Series({"tiny-a": 0.2, "tiny-b": 0.9, "tiny-c": 0.5})
    kwargs = dict(models=models, budget=7, spec_options=OPTIONS, out_dir=tmp_path / "runs", fidelities=[1, 2],
                  prior=prior, zero_shot=False)
    events = []

    def stop_after_first(event):
        events.append(event)
        if event["what"] == "done":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        race_folder(kb, orange, progress=stop_after_first, **kwargs)
    assert [e["what"] for e in events] == ["start", "done"] and events[0]["model"] == "tiny-b"
    run = race_folder(kb, orange, **kwargs)
    assert run.prior_source == "given" and run.schedule == [[1.0, 3], [2.0, 1], [4.0, 1]] and run.spent == 6
    assert run.trace[0]["source"] == "recorded" and all(t["source"] == "ran" for t in run.trace[1:])
    assert events[-1]["steps_trained"] + run.steps_trained == run.spent and run.pick_trained
    assert [t["steps_trained"] for t in run.trace[-2:]] == [1, 2]  # 1 -> 2 -> 4 steps: one run, resumed
    assert len(kb.curves("fd_pixels", per_row=True)) == len(run.trace)
    saved = json.loads((tmp_path / "runs" / "orange" / run.recipe_hash / "race.json").read_text())
    assert saved["pick"] == run.pick and saved["trace"] == run.trace


def test_default_fidelities_follow_the_recorded_curves():
    rows = [{"model": m, "dataset": d, "fidelity": f, "value": 1.0}
            for m in ("a", "b") for d in ("x", "y") for f in (100, 500, 1000)]
    curves = pd.DataFrame(rows)
    assert default_fidelities(curves, ["a", "b"], 1000) == [100, 500, 1000]
    assert default_fidelities(curves, ["a", "b"], 2000) == [500, 1000, 2000]  # the curves end elsewhere
    assert default_fidelities(curves[curves["dataset"] == "x"], ["a", "b"], 1000) == [250, 500, 1000]


def test_a_model_without_prior_is_refused_before_anything_runs(world, zoo_dir, tmp_path):
    kb_path, orange = world
    models = {p.name: str(p) for p in sorted(zoo_dir.iterdir())}
    with pytest.raises(Exception, match="No prior score for model 'tiny-c'"):
        race_folder(KnowledgeBase(kb_path), orange, models=models, budget=4, spec_options=OPTIONS,
                    out_dir=tmp_path / "runs", prior=pd.Series({"tiny-a": 1.0, "tiny-b": 0.0}))
    assert not (tmp_path / "runs" / "orange").exists() or not any((tmp_path / "runs" / "orange").rglob("finetune"))


def test_finetune_runs_refuses_a_spec_of_several_datasets(tmp_path, kb):
    from matchchoose.grid import GridSpec

    spec = GridSpec(models={"a": "x"}, datasets={"d1": "x", "d2": "y"}, out_dir=str(tmp_path))
    with pytest.raises(Exception, match="one dataset"):
        FinetuneRuns(kb, spec, tmp_path)



def test_fidelities_beyond_the_target_are_refused_before_the_prior(world, zoo_dir, mnc, tmp_path, one_line_error):
    kb_path, orange = world
    code, _, err = mnc("race", orange, "--budget", "6", "--models-dir", zoo_dir, "--kb", kb_path, "--fidelities",
                       "2,8", "--out", tmp_path / "runs", *RECIPE, *SAMPLING)
    one_line_error(code, err, "Fidelities", "[1, 4]", "2, 8")
    assert "orange" not in set(KnowledgeBase(kb_path).profiles()["dataset"])


def test_a_kb_without_the_race_metric_is_a_one_line_error(world, zoo_dir, mnc, tmp_path, one_line_error):
    kb_path, orange = world
    code, _, err = mnc("race", orange, "--budget", "6", "--models-dir", zoo_dir, "--kb", kb_path, "--kind", "kid",
                       "--out", tmp_path / "runs", *RECIPE, *SAMPLING)
    one_line_error(code, err, "no 'kid_pixels' results", "fd_pixels", "--prior FILE")
    assert not any((tmp_path / "runs").rglob("finetune"))


def test_mnc_race_is_documented(mnc):
    code, out, _ = mnc("race", "--help")
    assert code == 0 and "Example: mnc race" in out and "--kb" in out and "--budget" in out


def test_a_fidelity_below_what_an_earlier_race_reached_branches_from_a_stage_checkpoint(world, zoo_dir, tmp_path):
    """An earlier race took tiny-a from 1 to 4 steps; a later one asks for 2: trained from the
    1-step checkpoint (one step), the run's own folder untouched."""
    from matchchoose.grid import GridSpec

    _, orange = world
    kb = KnowledgeBase(tmp_path / "branch.sqlite")
    spec = GridSpec(models={"tiny-a": str(zoo_dir / "tiny-a")}, datasets={"orange": str(orange)},
                    out_dir=str(tmp_path), prescore=False, **OPTIONS)
    earlier = FinetuneRuns(kb, spec, tmp_path / "run")
    earlier("tiny-a", 1), earlier("tiny-a", 4)
    later = FinetuneRuns(kb, spec, tmp_path / "run")
    assert later("tiny-a", 4) == earlier.log[-1]["score"] and later.steps_trained == 0
    later("tiny-a", 2)
    assert later.steps_trained == 1 and (tmp_path / "run" / "tiny-a" / "finetune-branch-2" / "adapter").is_dir()
    assert sorted(kb.curves("fd_pixels")["fidelity"]) == [1.0, 2.0, 4.0]
    assert [p.name for p in sorted((tmp_path / "run" / "tiny-a" / "finetune" / "checkpoints").iterdir())] == \
        ["step-1", "step-4"]


def test_a_baseline_with_a_given_prior(world, zoo_dir, mnc, tmp_path):
    """--procedure prior_topk --prior FILE: the prior's top model fully fine-tuned, nothing predicted."""
    kb_path, orange = world
    (tmp_path / "prior.csv").write_text("model,score\ntiny-a,0.1\ntiny-b,0.7\ntiny-c,0.3\n")
    code, out, err = mnc("race", orange, "--budget", "4", "--models-dir", zoo_dir, "--kb", kb_path, "--procedure",
                         "prior_topk", "--prior", tmp_path / "prior.csv", "--no-zero-shot", "--out", tmp_path / "runs",
                         *RECIPE, *SAMPLING, "--quiet", "--json", tmp_path / "race.json")
    assert code == 0, err
    run = json.loads((tmp_path / "race.json").read_text())
    assert run["prior_source"] == "given" and run["zero_shot"] is None and run["pick"] == "tiny-b"
    assert [(t["model"], t["fidelity"], t["compute"]) for t in run["trace"]] == [("tiny-b", 4.0, 4.0)]
    assert run["pick_trained"] and "trained to the target" in out
