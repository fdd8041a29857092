"""Content-keyed caches of what the frozen encoders compute: VAE encodings and text embeddings.

With ``Recipe(cache_encodings=True)`` the trainer encodes each distinct training image (after its
resize and crop) and each distinct caption once, and reuses the result whenever the same content
comes back, as kohya-style trainers cache latents and text embeddings: from the second epoch on,
the VAE and the text encoders no longer run. The keys are the content itself (SHA-1 of the pixel
bytes fed to the VAE; the caption text), so the cache is correct under any augmentation: a random
crop or flip gives new pixels and simply misses.

What is cached for an image is the VAE's *posterior* (the mean and log-variance of an
``AutoencoderKL``; the latent of a deterministic ``AutoencoderDC``), so the posterior sample of
every step is still drawn from the step's own generator. Images and captions are encoded one at a
time on a miss, so results equal those without the cache to rounding (a batched matrix product may
round differently), not bit for bit: the option is off by default. The cache lives in device
memory for the run (about 0.5 MB per 1024-pixel SDXL image).
"""

from __future__ import annotations

import hashlib

import torch

__all__ = ["EncodingCache"]


class EncodingCache:
    """Per-item caches in front of a family's VAE and text encoders.

    Parameters
    ----------
    family : Family
        The loaded pipeline family; its VAE's ``encode`` is wrapped (on this instance only).

    Attributes
    ----------
    hits, misses : dict
        Counts per cache (``"images"``, ``"captions"``).
    """

    def __init__(self, family):
        self.family = family
        self.images: dict[str, object] = {}
        self.captions: dict[str, dict] = {}
        self.hits = {"images": 0, "captions": 0}
        self.misses = {"images": 0, "captions": 0}
        self._keys: list | None = None
        vae = family.pipe.vae
        self._encode = vae.encode
        vae.encode = self._cached_encode

    def close(self) -> None:
        """Restore the VAE's own ``encode``."""
        self.family.pipe.vae.encode = self._encode

    # ------------------------------------------------------------------------------ images
    @staticmethod
    def image_keys(pixels: torch.Tensor) -> list:
        """SHA-1 of each image's bytes (``pixels`` on the host, ``(n, 3, h, w)``)."""
        return [hashlib.sha1(item.contiguous().numpy().tobytes()).hexdigest() for item in pixels]

    def encode_images(self, pixels: torch.Tensor, keys: list, generator) -> torch.Tensor:
        """:meth:`Family.encode_images` with the VAE encodings of ``keys`` (one per image) cached."""
        self._keys = list(keys)
        try:
            return self.family.encode_images(pixels, generator)
        finally:
            self._keys = None

    def _cached_encode(self, pixels, *args, **kwargs):
        keys = self._keys
        if keys is None or len(keys) != pixels.shape[0]:
            return self._encode(pixels, *args, **kwargs)
        for i, key in enumerate(keys):
            if key in self.images:
                self.hits["images"] += 1
                continue
            self.misses["images"] += 1
            out = self._encode(pixels[i:i + 1], *args, **kwargs)
            self.images[key] = _encoding_of(out).detach()
        return _output_like(self._encode, torch.cat([self.images[key] for key in keys]))

    # ------------------------------------------------------------------------------ captions
    def encode_prompts(self, captions) -> dict:
        """:meth:`Family.encode_prompts` assembled from per-caption cached embeddings.

        Tensors whose first dimension is the batch (size 1 for one caption) are concatenated; any
        other output (token position ids) is shared by every caption and taken once.
        """
        captions = list(captions)
        for caption in dict.fromkeys(captions):
            if caption in self.captions:
                self.hits["captions"] += captions.count(caption)
                continue
            self.misses["captions"] += 1
            self.hits["captions"] += captions.count(caption) - 1
            self.captions[caption] = self.family.encode_prompts([caption])
        first = self.captions[captions[0]]
        out = {}
        for name, value in first.items():
            if isinstance(value, torch.Tensor) and value.ndim and value.shape[0] == 1:
                out[name] = torch.cat([self.captions[c][name] for c in captions])
            else:
                out[name] = value
        return out


def _encoding_of(output) -> torch.Tensor:
    """What a VAE's ``encode`` output holds per image: posterior parameters, or the latent."""
    if hasattr(output, "latent_dist"):
        return output.latent_dist.parameters
    return output.latent


def _output_like(encode, encodings: torch.Tensor):
    """An ``encode`` output of the VAE's kind around the stacked per-image encodings."""
    vae = getattr(encode, "__self__", None)
    if type(vae).__name__ == "AutoencoderDC":
        from diffusers.models.autoencoders.vae import EncoderOutput

        return EncoderOutput(latent=encodings)
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
    from diffusers.models.modeling_outputs import AutoencoderKLOutput

    return AutoencoderKLOutput(latent_dist=DiagonalGaussianDistribution(encodings))
