"""``mnc score``: generated vs real images, with a probe; optionally recorded in the knowledge base."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._choose import _probe_options
from ._common import console, kb_option, resolve_kb_path
from ._table import Col, print_table

__all__ = ["score"]


@click.command()
@click.option("--generated", type=click.Path(exists=True, file_okay=False), required=True,
              help="Folder of generated images.")
@click.option("--reference", type=click.Path(exists=True, file_okay=False), required=True,
              help="Folder of real held-out images.")
@click.option("--probe", default="clip", show_default=True, help="Probe (clip: FD is CLIP-FID; dinov2 offline).")
@click.option("--probe-weights", default=None, help="Probe weights (local folder or hub id; ONNX file for dinov2).")
@click.option("--device", default=None, help="Probe device.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--kind", "kinds", default="fd", show_default=True, help="Comma-separated: fd, kid, cmmd.")
@click.option("--model", default=None, help="Record the scores as results of this model ...")
@click.option("--dataset", default=None, help="... on this dataset (both or neither).")
@click.option("--prescore", is_flag=True, help="Record as prescores (the model before fine-tuning: Initial baseline).")
@click.option("--protocol", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON object of protocol fields stored with the scores (recipe, steps, seeds, ...).")
@click.option("--seed", type=int, default=0, show_default=True, help="KID subset seed.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None)
@kb_option
def score(generated, reference, probe, probe_weights, device, batch_size, kinds, model, dataset, prescore, protocol,
          seed, json_out, kb_path):
    """Score generated images against real ones (CLIP-FID by default; KID, CMMD) and record them.

    Example: mnc score --generated run/samples --reference data/val --model sd15 --dataset pets
    """
    from .._errors import InputError
    from ..score import record_score, score_images

    if (model is None) != (dataset is None):
        raise click.UsageError("--model and --dataset go together (to record the scores), or neither.")
    fields = {}
    if protocol:
        try:
            fields = json.loads(Path(protocol).read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{protocol}: not valid JSON ({exc.msg}, line {exc.lineno}).") from exc
        if not isinstance(fields, dict):
            raise InputError(f"{protocol}: the protocol must be a JSON object of fields.")
    results = score_images(generated, reference, probe=probe, probe_options=_probe_options(probe, probe_weights, device),
                           kinds=[k.strip() for k in kinds.split(",") if k.strip()], batch_size=batch_size,
                           random_state=seed, progress=True)
    rows = [[s.metric, f"{s.value:.4f}", "" if s.std is None else f"{s.std:.4f}", s.n_generated, s.n_reference]
            for s in results]
    print_table(console, f"{generated} vs {reference}",
                [Col("metric"), Col("value", "right"), Col("std", "right", drop=1), Col("generated", "right"),
                 Col("reference", "right")], rows, hint="--json")
    if model is not None:
        from ..kb import KnowledgeBase

        kb = KnowledgeBase(resolve_kb_path(kb_path))
        stored = sum(record_score(kb, s, model=model, dataset=dataset, prescore=prescore, protocol=fields)
                     for s in results)
        what = "prescore(s)" if prescore else "result(s)"
        console.print(f"recorded {stored} new {what} of {model!r} on {dataset!r} in {kb.path}")
    if json_out:
        from dataclasses import asdict

        Path(json_out).write_text(json.dumps([asdict(s) for s in results], indent=1))
