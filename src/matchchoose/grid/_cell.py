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
from dataclasses import asdict, replace
from pathlib import Path

__all__ = ["draw_and_score", "run_cell", "split_target", "train_to"]


def split_target(dataset_path, protocol: dict):
    """The protocol's held-out split of ``dataset_path``: ``(train, val, captions)``, the captions
    being the held-out images' (empty string when an image has none), in ``val``'s order."""
    from ..profile import ImageFolder, split

    train, val = split(ImageFolder(dataset_path), val_fraction=protocol["val_fraction"], random_state=protocol["seed"])
    return train, val, [c or "" for c in val.captions]


def train_to(model_path, train, finetune_dir, recipe, fidelity: int, *, progress: bool = False):
    """Fine-tune up to ``fidelity`` steps, resuming from the newest checkpoint in ``finetune_dir``.

    The learning rate does not depend on the total number of steps, so training to ``fidelity``
    with ``recipe``'s other settings is a prefix of the full run (stages of one run); the trainer
    checkpoints at its last step, so the next stage resumes exactly there."""
    from ..finetune import finetune

    return finetune(model_path, train, finetune_dir, replace(recipe, steps=int(fidelity)), resume=True,
                    progress=progress)


def draw_and_score(pipe, captions, val, out_dir, protocol: dict, seed: int, timings: dict | None = None) -> list:
    """Sample ``protocol["n_samples"]`` images for the held-out ``captions`` into ``out_dir``
    (resumable: images already there are kept) and score them against ``val``; a list of
    :class:`~matchchoose.score.Score`. ``timings`` (``sample``, ``score`` seconds) is added to."""
    from ..sample import sample_images
    from ..score import score_images

    p = protocol
    timings = {} if timings is None else timings
    if pipe is not None:  # None: the images are all there (a resumed cell), only score them
        t0 = time.perf_counter()
        sample_images(pipe, captions, out_dir, n=p["n_samples"], steps=p["sample_steps"],
                      guidance_scale=p["guidance_scale"], resolution=p["sample_resolution"], seed=seed,
                      batch_size=p.get("sample_batch_size", 4))
        timings["sample"] = timings.get("sample", 0.0) + time.perf_counter() - t0
    t0 = time.perf_counter()
    found = score_images(out_dir, val, probe=p["probe"], probe_options=p["probe_options"], kinds=p["score_kinds"],
                         random_state=p["seed"])
    timings["score"] = timings.get("score", 0.0) + time.perf_counter() - t0
    return found


def _complete(out_dir: Path, n: int) -> bool:
    """Whether ``out_dir`` holds all ``n`` images :func:`~matchchoose.sample.sample_images` draws there."""
    meta = out_dir / "metadata.jsonl"
    if not meta.is_file():
        return False
    rows = [json.loads(line) for line in meta.read_text(encoding="utf-8").splitlines() if line.strip()]
    names = {f"{i:05d}.png" for i in range(n)}
    return names <= {r["file_name"] for r in rows if (out_dir / r["file_name"]).is_file()}


def run_cell(task) -> dict:
    """Run the cell ``task`` (a :class:`~matchchoose.grid.CellTask`); return ``scores``, ``prescores``
    (lists of :class:`~matchchoose.score.Score` fields, each with its ``fidelity`` (training steps,
    ``None`` without learning curves) and ``sample_seed``), ``timings`` (seconds per stage) and
    ``finetune`` (steps, final loss, resumed step).

    With ``fidelities`` in the protocol the run is trained in stages, one per fidelity, each
    resuming from the previous stage's final checkpoint (the learning rate does not depend on the
    total number of steps, so every stage is a prefix of the full run) and sampled and scored
    after each. Scores at the target fidelity (the recipe's ``steps``) and prescores are drawn
    once per seed of ``sample_seeds``; intermediate fidelities with the first seed only.
    """
    from ..finetune import Recipe
    from ..sample import load_pipeline

    p = task.protocol
    run = Path(task.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    timings = {"finetune": 0.0, "sample": 0.0, "score": 0.0}
    train, val, captions = split_target(task.dataset_path, p)
    recipe = Recipe.from_dict(p["recipe"], source=f"grid recipe of {task.model} x {task.dataset}")
    target = recipe.steps
    curve = "fidelities" in p
    stages = sorted({int(f) for f in p.get("fidelities", ())} | {target})
    seeds = [int(s) for s in p.get("sample_seeds", [p["seed"]])]

    def draw(pipe, out_dir: Path, seed: int, fidelity) -> list:
        found = draw_and_score(pipe, captions, val, out_dir, p, seed, timings)
        return [{**asdict(s), "fidelity": fidelity if curve else None, "sample_seed": seed} for s in found]

    scores, result = [], None
    for fidelity in stages:
        drawn = [(seed, "samples" if fidelity == target and seed == seeds[0] else (
            f"samples-seed{seed}" if fidelity == target else f"samples-step{fidelity}"))
            for seed in (seeds if fidelity == target else seeds[:1])]
        if fidelity != target and all(_complete(run / name, p["n_samples"]) for _, name in drawn):
            # a resumed cell: this stage's samples are drawn and training has gone past it
            for seed, name in drawn:
                scores += draw(None, run / name, seed, fidelity)
            continue
        t0 = time.perf_counter()
        result = train_to(task.model_path, train, run / "finetune", recipe, fidelity)
        timings["finetune"] += time.perf_counter() - t0
        pipe = load_pipeline(task.model_path, adapter_dir=result.adapter_dir, dtype=p.get("sample_dtype"))
        for seed, name in drawn:
            scores += draw(pipe, run / name, seed, fidelity)
        del pipe

    prescores = []
    if p.get("prescore"):
        t0 = time.perf_counter()
        base = load_pipeline(task.model_path, dtype=p.get("sample_dtype"))
        for seed in seeds:
            name = "pretrained" if seed == seeds[0] else f"pretrained-seed{seed}"
            prescores += draw(base, run / name, seed, None)
        del base
        timings["prescore"] = time.perf_counter() - t0

    losses = result.losses
    out = {"scores": scores, "prescores": prescores,
           "timings": {k: round(v, 3) for k, v in timings.items()},
           "finetune": {"steps": len(losses), "final_loss": losses[-1] if losses else None,
                        "resumed_from": result.resumed_from, "stages": stages},
           "n_train": len(train), "n_val": len(val)}
    (run / "cell.json").write_text(json.dumps(out, indent=1, sort_keys=True, default=str))
    return out
