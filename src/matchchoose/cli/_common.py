"""Options and helpers shared by the ``mnc`` commands."""

from __future__ import annotations

import os
import sys

import click
from rich.console import Console

console = Console(width=None if sys.stdout.isatty() else 150)
console_err = Console(stderr=True)
EMBEDDED = ":embedded:"


class NamesOption(click.Option):
    """A click option whose help ends with the names a registry holds, read when help is shown:
    the CLI lists exactly what the library registers, without importing it to start."""

    def __init__(self, *args, names, **kwargs):
        self.names = names
        super().__init__(*args, **kwargs)

    def get_help_record(self, ctx):
        base = self.help
        self.help = f"{base} Names: {', '.join(self.names())}."
        try:
            return super().get_help_record(ctx)
        finally:
            self.help = base


def predictor_names() -> list:
    """The rank predictors of :data:`matchchoose.rank.PREDICTORS`."""
    from ..rank import PREDICTORS

    return list(PREDICTORS)


def graph_learner_names() -> list:
    """The graph learners of :data:`matchchoose.graph.EMBEDDERS`."""
    from ..graph import EMBEDDERS

    return list(EMBEDDERS)


def baseline_names() -> list:
    """The baselines of the selector registry (:data:`matchchoose.evaluate.SELECTORS` but ``mnc``)."""
    from ..evaluate import SELECTORS

    return [name for name in SELECTORS if name != "mnc"]


def sampling_options(unit: str):
    """The held-out sampling options that ``mnc grid`` and ``mnc race`` share (``unit``: what one
    set of samples belongs to, for the help): ``--n-samples``, ``--sample-steps``, ``--guidance``,
    ``--sample-resolution``, ``--split-seed``."""
    options = [
        click.option("--n-samples", type=click.IntRange(min=2), default=16, show_default=True,
                     help=f"Images sampled per {unit} from the held-out captions."),
        click.option("--sample-steps", type=click.IntRange(min=1), default=25, show_default=True),
        click.option("--guidance", type=float, default=5.0, show_default=True),
        click.option("--sample-resolution", type=click.IntRange(min=8), default=None,
                     help="Default: each model's own."),
        click.option("--split-seed", "split_seed", type=int, default=0, show_default=True,
                     help="Seed of the held-out split and of the sampled images (--seed is the training seed)."),
    ]

    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def kb_option(func=None, *, embedded: bool = False):
    """``--kb PATH``: the knowledge base; default ``$MNC_KB`` or the user data directory (and, for
    commands that only read results, the embedded micro-zoo knowledge base when neither exists)."""
    from ..kb import default_kb_path

    def decorate(f):
        fallback = ", else (when that does not exist) the embedded micro-zoo knowledge base" if embedded else ""
        return click.option(
            "--kb",
            "kb_path",
            type=click.Path(dir_okay=False),
            default=None,
            show_default=False,
            help=f"Knowledge base (SQLite; ':embedded:' for the one that ships with matchchoose). Default: $MNC_KB, "
                 f"else {default_kb_path(env=False)}{fallback}.",
        )(f)

    return decorate(func) if func is not None else decorate


#: Said whenever the embedded knowledge base answers: its models are not the zoo a user fine-tunes.
EMBEDDED_NOTE = ("These are demonstration models: the embedded knowledge base holds the micro zoo, tiny text-to-image "
                 "models pretrained offline on a CPU, not SDXL-class checkpoints. For real results, build a knowledge "
                 "base with 'mnc grid' or import recorded ones with 'mnc kb import', and pass --kb.")


def _embedded_copy(*, fallback: bool = False) -> str:
    from ..kb import default_kb_path, embedded_kb

    copy = embedded_kb()
    reason = (f"No knowledge base given (--kb, $MNC_KB or {default_kb_path(env=False)}): using the embedded micro-zoo "
              f"knowledge base (working copy {copy}). ") if fallback else ""
    console_err.print(f"{reason}{EMBEDDED_NOTE}", style="dim", highlight=False, soft_wrap=True)
    return str(copy)


def resolve_kb_path(kb_path, *, embedded: bool = False) -> str:
    """The path ``--kb`` names, or the documented default.

    ``--kb :embedded:`` names the embedded knowledge base (its working copy) explicitly.
    With ``embedded``: when no ``--kb`` is given, ``$MNC_KB`` is unset and no knowledge base
    exists at the user default path, a working copy of the embedded knowledge base. Whenever the
    embedded knowledge base answers, one line on stderr says its models are demonstration models
    and how to build or import a real knowledge base.
    """
    if kb_path == EMBEDDED:
        return _embedded_copy()
    if kb_path:
        return kb_path
    from ..kb import default_kb_path

    path = default_kb_path()
    if embedded and not os.environ.get("MNC_KB") and not path.exists():
        return _embedded_copy(fallback=True)
    return str(path)
