"""LoRA and adapter fine-tuning of diffusers text-to-image pipelines (paper 5.1).

The paper fine-tunes every zoo model on every dataset with LoRA for 10,000 steps at batch size 8,
learning rate 1e-5 (AdamW) on 512 px crops, text encoders frozen; the resulting quality is the
ground truth the model selector learns. This package runs that protocol on a local diffusers
folder:

    Recipe            the hyperparameters (defaults: the paper's protocol); JSON / TOML files
    finetune()        train, checkpoint, resume exactly; writes RUN_DIR/adapter/ and run.json
    load_adapter()    apply the saved weights to a pipeline for sampling
    families          one module per pipeline family: sd, sdxl, sd3, flux, pixart, sana
    tiny              tiny random-weight pipelines shrunk from the zoo's configs (tests, tiny zoo)

For trainers built beside this one (``tools/microzoo``'s VAE and pretraining loops), the trainer's
image preparation and checkpoint conventions are public: :class:`TrainingImages` (an image folder's
training view for a recipe: resize, crop, flip, scale to ``[-1, 1]``), :func:`latest_checkpoint`
(the newest complete ``checkpoints/step-N``), :func:`step_seed` (the seed of step N's generator),
:func:`rng_states` and :func:`set_rng_states` (the global random states a checkpoint's ``rng.pt``
holds).

Methods: ``lora`` (peft, attention projections) and ``adapter`` (bottleneck adapters after
cross-attention, arXiv 2303.18181). ``Recipe(low_memory=True)`` trains bfloat16 weights without a
float32 master copy, with the AdamW step fused into back-propagation (arXiv 2309.12381).

torch, diffusers and peft are imported only when training or loading (``pip install
'matchchoose[finetune]'``); importing this package and reading recipes needs neither.
"""

from __future__ import annotations

from ._data import TrainingImages
from ._recipe import METHODS, MIXED_PRECISION, Recipe
from .families import REGISTRY as FAMILIES
from ._layout import latest_checkpoint
from .families import detect_family

__all__ = ["FAMILIES", "METHODS", "MIXED_PRECISION", "FinetuneResult", "Recipe", "detect_family", "finetune",
           "latest_checkpoint", "load_adapter", "read_adapter_config", "rng_states", "set_rng_states", "step_seed",
           "TrainingImages"]


def _need():
    from .._errors import require

    for module in ("torch", "diffusers", "transformers", "peft", "safetensors"):
        require(module, "Fine-tuning", "finetune")


def finetune(model_path, dataset, out_dir, recipe=None, *, resume=True, progress=True, device=None):
    """Fine-tune a diffusers pipeline on an image folder with LoRA or adapters; save a loadable adapter.

    Parameters
    ----------
    model_path : str or Path
        Local diffusers folder (``model_index.json`` and component folders with weights) of a
        supported family (:data:`FAMILIES`: sd, sdxl, sd3, flux, pixart, sana).
    dataset : str, Path or ImageFolder
        Training images with captions (``metadata.jsonl``, ``captions.jsonl`` or sidecar ``.txt``;
        images without a caption train on the empty caption).
    out_dir : str or Path
        Run folder: ``checkpoints/step-N/``, ``recipe.json`` and the final ``adapter/`` with
        ``run.json`` (recipe, model, dataset content hash, versions, wall time, loss curve).
    recipe : Recipe, optional
        Hyperparameters; default :class:`Recipe` (the paper's protocol).
    resume : bool, default=True
        Resume exactly from the newest checkpoint in ``out_dir`` (same recipe but for ``steps``,
        ``checkpoint_every``, ``keep_checkpoints``; same dataset). ``False`` refuses a folder that
        already has checkpoints.
    progress : bool, default=True
        Progress bar with the loss on stderr.
    device : str, optional
        ``"cuda"``, ``"cuda:1"``, ``"cpu"``; default CUDA when available.

    Returns
    -------
    FinetuneResult
        ``out_dir``, ``adapter_dir``, ``run`` (run.json), ``losses``, ``resumed_from``.

    Raises
    ------
    InputError
        Unsupported pipeline, missing weights, a resolution the model cannot take, an
        incompatible checkpoint; one line naming the file or model.
    MissingDependencyError
        torch, diffusers, transformers or peft is not installed (``pip install 'matchchoose[finetune]'``).

    Examples
    --------
    >>> from matchchoose.finetune import Recipe, finetune                 # doctest: +SKIP
    >>> result = finetune("models/sdxl-base", "data/pets", "runs/a", Recipe(steps=2000))  # doctest: +SKIP
    >>> result.adapter_dir                                                  # doctest: +SKIP
    PosixPath('runs/a/adapter')
    """
    _need()
    from ._train import finetune as run

    return run(model_path, dataset, out_dir, recipe, resume=resume, progress=progress, device=device)


def load_adapter(pipeline, adapter_dir):
    """Apply the LoRA or adapter weights saved by :func:`finetune` to ``pipeline``, in place.

    Parameters
    ----------
    pipeline : diffusers.DiffusionPipeline
        A pipeline of the family the weights were trained on (same denoiser architecture); it
        keeps its device and dtype.
    adapter_dir : str or Path
        The ``adapter/`` folder of a run, the run folder, or a ``checkpoints/step-N`` folder.

    Returns
    -------
    pipeline
        The same pipeline, ready to sample.

    Raises
    ------
    InputError
        Another family, weights that do not fit, a pipeline that already has an adapter.
    """
    _need()
    from ._load import load_adapter as load

    return load(pipeline, adapter_dir)


def read_adapter_config(adapter_dir):
    """``adapter_config.json`` of a saved adapter; see :func:`._load.read_adapter_config`."""
    from ._load import read_adapter_config as read

    return read(adapter_dir)


def step_seed(seed: int, step: int, salt: int = 0) -> int:
    """The seed of the ``torch.Generator`` the trainer draws step ``step``'s randomness from.

    A step depends only on the run's seed and its index, so a resumed run repeats the same steps.

    Examples
    --------
    >>> step_seed(0, 3)
    30021
    """
    _need()
    from ._train import _step_seed

    return _step_seed(seed, step, salt)


def rng_states(device) -> dict:
    """The global random states (torch, numpy, python; CUDA of ``device`` only), as a checkpoint's
    ``rng.pt`` holds them (``torch.save`` it).

    Parameters
    ----------
    device : torch.device
        The training device; its CUDA state is saved when it is a CUDA device, else ``None``.
    """
    _need()
    from ._train import _rng_states

    return _rng_states(device)


def set_rng_states(states: dict, device) -> None:
    """Restore the global random states saved by :func:`rng_states` (a checkpoint's ``rng.pt``).

    Parameters
    ----------
    states : dict
        What :func:`rng_states` returned (also the older layout with every GPU's CUDA state).
    device : torch.device
        The training device: the CUDA state is restored on it when it is a CUDA device.
    """
    _need()
    from ._train import _set_rng_states

    _set_rng_states(states, device)


def __getattr__(name):
    if name == "FinetuneResult":
        from ._train import FinetuneResult

        return FinetuneResult
    raise AttributeError(name)
