"""Sample images from a (fine-tuned) diffusers pipeline for the held-out captions, with fixed seeds.

Image ``i`` is generated from caption ``i`` (cycled when more images than captions are asked for)
with its own generator seeded ``seed + i``, so an image does not depend on the batch size or on
which images were sampled before: an interrupted run resumes where it stopped and produces the same
files. The output folder is a Hugging Face ImageFolder (``00000.png`` ..., ``metadata.jsonl`` with
``file_name``, ``text`` and ``seed``), readable by :class:`~matchchoose.profile.ImageFolder` and
``mnc score``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .._cache import atomic_write
from .._device import resolve_device
from .._errors import InputError, require
from .._progress import ProgressBar
from .._validation import check_int

__all__ = ["SampleResult", "held_out_captions", "load_pipeline", "sample_images"]


@dataclass
class SampleResult:
    """``out_dir`` with ``n`` images; ``generated`` of them made by this call (the rest existed)."""

    out_dir: Path
    n: int
    generated: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.generated / self.seconds if self.seconds > 0 else float("nan")


def _native_dtype(model_path, torch):
    """The dtype the pipeline's family was made in (bfloat16 for Flux, SD3, PixArt, Sana; float16 for
    SD 1.5, SDXL and pipelines of no known family)."""
    from ..finetune._device import native_precision
    from ..finetune.families import supported_pipelines

    index = Path(str(model_path)) / "model_index.json"
    family = None
    if index.is_file():
        try:
            family = supported_pipelines().get(json.loads(index.read_text(encoding="utf-8")).get("_class_name"))
        except (ValueError, AttributeError):
            family = None
    return torch.bfloat16 if native_precision(family) == "bf16" else torch.float16


def load_pipeline(model_path, *, adapter_dir=None, device=None, dtype=None):
    """A diffusers pipeline from a local folder (or a hub id when reachable), with the adapter of an
    ``mnc finetune`` run applied, on ``device`` (default CUDA when present) in ``dtype`` (default on
    CUDA: the precision the family was made in, bfloat16 for Flux, SD3, PixArt and Sana, float16
    for SD 1.5 and SDXL; float32 on the CPU). In float16, T5 and Gemma text encoders stay bfloat16
    and a VAE that asks to be upcast stays float32 (they overflow in float16)."""
    torch = require("torch", "Sampling", "finetune")
    diffusers = require("diffusers", "Sampling", "finetune")
    device = resolve_device(device, owner="Sampling")
    if dtype is None:
        dtype = _native_dtype(model_path, torch) if device.type == "cuda" else torch.float32
    elif isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    path = Path(str(model_path))
    if not path.exists() and not str(model_path).count("/") == 1:
        raise InputError(f"Model {str(model_path)!r}: no such folder (and not a Hugging Face id).")
    try:
        pipe = diffusers.DiffusionPipeline.from_pretrained(str(model_path), dtype=dtype)
    except OSError as exc:
        raise InputError(f"Cannot load the pipeline {str(model_path)!r}: {str(exc).splitlines()[0]} (without hub access, "
                         "pass a local diffusers folder with weights).") from exc
    if adapter_dir is not None:
        from ..finetune import load_adapter

        load_adapter(pipe, adapter_dir)
    if dtype == torch.float16:
        from ..finetune._device import keep_safe_in_fp16

        if getattr(pipe, "vae", None) is not None and getattr(pipe.vae.config, "force_upcast", False):
            pipe.vae.to(torch.float32)
        keep_safe_in_fp16(pipe, device)
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _default_resolution(pipe) -> int:
    """The pipeline's native resolution: the denoiser's ``sample_size`` (latent pixels) times the
    VAE's downsampling factor."""
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    sample = getattr(getattr(denoiser, "config", None), "sample_size", None)
    if not sample:  # Flux: the pipeline's own default
        sample = getattr(pipe, "default_sample_size", None)
    factor = getattr(pipe, "vae_scale_factor", None) or 8
    if isinstance(sample, (list, tuple)):
        sample = sample[0]
    if not sample:
        raise InputError(f"Cannot tell the native resolution of {type(pipe).__name__}: pass resolution=.")
    return int(sample) * int(factor)


def _true_cfg(pipe, guidance_scale: float) -> dict:
    """``{"true_cfg_scale": guidance_scale}`` for a FLUX-style pipeline whose transformer has no guidance
    embedding (FLUX.1 schnell and models trained like it): there ``guidance_scale`` would be ignored,
    so it is applied as classifier-free guidance against the empty prompt. ``{}`` otherwise (FLUX.1
    dev's distilled guidance, and every pipeline with its own classifier-free guidance)."""
    import inspect

    denoiser = getattr(pipe, "transformer", None)
    embeds = getattr(getattr(denoiser, "config", None), "guidance_embeds", None)
    if embeds is False and guidance_scale > 1.0 and "true_cfg_scale" in inspect.signature(pipe.__call__).parameters:
        return {"true_cfg_scale": float(guidance_scale)}
    return {}


def held_out_captions(dataset, val_fraction: float = 0.2, random_state: int = 0) -> tuple[list[str], object]:
    """Captions and images of the held-out split of ``dataset`` (path or ImageFolder), the split
    :func:`matchchoose.profile.split` makes with this seed; missing captions become ``""``."""
    from ..profile import ImageFolder, split

    folder = dataset if isinstance(dataset, ImageFolder) else ImageFolder(dataset)
    _, val = split(folder, val_fraction=val_fraction, random_state=random_state)
    return [c or "" for c in val.captions], val


def _existing(out_dir: Path) -> dict:
    meta = out_dir / "metadata.jsonl"
    done = {}
    if meta.is_file():
        for line in meta.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if (out_dir / row["file_name"]).is_file():
                    done[row["file_name"]] = row
    return done


def _sequence_length(pipeline) -> int | None:
    """The caption length in tokens the pipeline's family trains with, None for unknown pipelines."""
    from ..finetune.families import family_class, supported_pipelines

    family = supported_pipelines().get(type(pipeline).__name__)
    return None if family is None else family_class(family).sequence_length(pipeline)


def sample_images(pipeline, captions, out_dir, *, n: int | None = None, steps: int = 25,
                  guidance_scale: float = 5.0, resolution: int | None = None, seed: int = 0, batch_size: int = 4,
                  progress: bool = False, deterministic: bool = False) -> SampleResult:
    """Generate ``n`` images (default: one per caption) into ``out_dir``; see the module docstring.

    ``pipeline`` is a loaded diffusers pipeline (:func:`load_pipeline`) or a model folder.
    ``resolution`` defaults to the pipeline's own default size. ``deterministic``: deterministic
    algorithms on CUDA (:func:`matchchoose.finetune._device.deterministic_algorithms`), so the same
    images come out bit for bit on a rerun; about +32 % sampling time on a GPU, no change on the CPU.
    """
    from ..finetune._device import deterministic_algorithms

    with deterministic_algorithms(deterministic):
        return _sample_images(pipeline, captions, out_dir, n=n, steps=steps, guidance_scale=guidance_scale,
                              resolution=resolution, seed=seed, batch_size=batch_size, progress=progress)


def _sample_images(pipeline, captions, out_dir, *, n, steps, guidance_scale, resolution, seed, batch_size,
                   progress) -> SampleResult:
    import time

    torch = require("torch", "Sampling", "finetune")
    if isinstance(pipeline, (str, Path)):
        pipeline = load_pipeline(pipeline)
    captions = list(captions)
    if not captions:
        raise InputError("sample_images needs at least one caption (the held-out split is empty?).")
    n = len(captions) if n is None else check_int("n", n, low=1, owner="sample_images")
    check_int("steps", steps, low=1, owner="sample_images")
    check_int("batch_size", batch_size, low=1, owner="sample_images")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = _existing(out)
    todo = []
    for i in range(n):
        row = {"file_name": f"{i:05d}.png", "text": captions[i % len(captions)], "seed": seed + i}
        if done.get(row["file_name"]) != row:
            todo.append(row)
    started = time.perf_counter()
    resolution = _default_resolution(pipeline) if resolution is None else check_int(
        "resolution", resolution, low=8, owner="sample_images")
    size = {"height": resolution, "width": resolution}
    import inspect

    if "use_resolution_binning" in inspect.signature(pipeline.__call__).parameters:
        size["use_resolution_binning"] = False  # PixArt / Sana: sample at exactly the asked size
    if "clean_caption" in inspect.signature(pipeline.__call__).parameters:
        size["clean_caption"] = False  # PixArt / Sana: captions as given (cleaning needs bs4 and ftfy)
    if "max_sequence_length" in inspect.signature(pipeline.__call__).parameters:
        length = _sequence_length(pipeline)
        if length is not None:  # the length the model was trained with (finetune.families)
            size["max_sequence_length"] = length
    true_cfg = _true_cfg(pipeline, guidance_scale)
    bar = ProgressBar(len(todo), f"sampling {len(todo)} images", enabled=progress, transient=True).start()
    try:
        for start in range(0, len(todo), batch_size):
            rows = todo[start:start + batch_size]
            generators = [torch.Generator(device="cpu").manual_seed(r["seed"]) for r in rows]
            extra = dict(true_cfg, negative_prompt=[""] * len(rows)) if true_cfg else {}
            with torch.inference_mode():
                images = pipeline(prompt=[r["text"] for r in rows], num_inference_steps=steps,
                                  guidance_scale=guidance_scale, generator=generators, output_type="pil",
                                  **size, **extra).images
            for row, image in zip(rows, images, strict=True):
                image.save(out / row["file_name"])
                done[row["file_name"]] = row
            # metadata after the images: a crash between the two only repeats those images.
            text = "\n".join(json.dumps(done[k], ensure_ascii=False) for k in sorted(done)) + "\n"
            atomic_write(out / "metadata.jsonl", lambda fh, text=text: fh.write(text.encode("utf-8")))
            bar.advance(len(rows))
    finally:
        bar.close()
    return SampleResult(out_dir=out, n=n, generated=len(todo), seconds=time.perf_counter() - started)
