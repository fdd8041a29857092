"""One grid cell, as a worker runs it: split → fine-tune → sample → score (→ prescore).

Everything lands in the cell's run folder::

    RUN_DIR/finetune/      checkpoints/, adapter/ (run.json): resumed from the latest checkpoint
    RUN_DIR/samples/       images of the fine-tuned model for the held-out captions (resumable)
    RUN_DIR/pretrained/    the same captions and seeds through the model before fine-tuning (prescore)
    RUN_DIR/cell.json      scores, prescores, timings

The worker does not touch the knowledge base: it returns the scores and the driver records them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

__all__ = ["run_cell"]


def run_cell(task) -> dict:
    """Run the cell ``task`` (a :class:`~matchchoose.grid.CellTask`); return ``scores``, ``prescores``
    (lists of :class:`~matchchoose.score.Score` fields), ``timings`` (seconds per stage) and
    ``finetune`` (steps, final loss, resumed step)."""
    from ..finetune import Recipe, finetune
    from ..profile import ImageFolder, split
    from ..sample import load_pipeline, sample_images
    from ..score import score_images

    p = task.protocol
    run = Path(task.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    timings = {}
    folder = ImageFolder(task.dataset_path)
    train, val = split(folder, val_fraction=p["val_fraction"], random_state=p["seed"])
    captions = [c or "" for c in val.captions]

    t0 = time.perf_counter()
    recipe = Recipe.from_dict(p["recipe"], source=f"grid recipe of {task.model} x {task.dataset}")
    result = finetune(task.model_path, train, run / "finetune", recipe, resume=True, progress=False)
    timings["finetune"] = time.perf_counter() - t0

    sampling = {"n": p["n_samples"], "steps": p["sample_steps"], "guidance_scale": p["guidance_scale"],
                "resolution": p["sample_resolution"], "seed": p["seed"]}
    scoring = {"probe": p["probe"], "probe_options": p["probe_options"], "kinds": p["score_kinds"],
               "random_state": p["seed"]}

    t0 = time.perf_counter()
    pipe = load_pipeline(task.model_path, adapter_dir=result.adapter_dir)
    sample_images(pipe, captions, run / "samples", **sampling)
    del pipe
    timings["sample"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = score_images(run / "samples", val, **scoring)
    timings["score"] = time.perf_counter() - t0

    prescores = []
    if p.get("prescore"):
        t0 = time.perf_counter()
        base = load_pipeline(task.model_path)
        sample_images(base, captions, run / "pretrained", **sampling)
        del base
        prescores = score_images(run / "pretrained", val, **scoring)
        timings["prescore"] = time.perf_counter() - t0

    losses = result.losses
    out = {"scores": [asdict(s) for s in scores], "prescores": [asdict(s) for s in prescores],
           "timings": {k: round(v, 3) for k, v in timings.items()},
           "finetune": {"steps": len(losses), "final_loss": losses[-1] if losses else None,
                        "resumed_from": result.resumed_from},
           "n_train": len(train), "n_val": len(val)}
    (run / "cell.json").write_text(json.dumps(out, indent=1, sort_keys=True, default=str))
    return out
