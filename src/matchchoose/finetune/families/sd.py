"""Stable Diffusion 1.x / 2.x: ``UNet2DConditionModel``, one CLIP text encoder, DDPM noise.

The target follows the scheduler config's ``prediction_type``: the noise (``"epsilon"``, SD 1.5),
the velocity (``"v_prediction"``, SD 2.1 768) or the clean latents (``"sample"``). Timesteps are drawn
uniformly from ``[0, num_train_timesteps)`` and noise is added by a :class:`~diffusers.DDPMScheduler`
built from the pipeline's scheduler config (same betas).
"""

from __future__ import annotations

import torch

from ..._errors import InputError
from ._base import Batch, Family

__all__ = ["StableDiffusion"]


class StableDiffusion(Family):
    """SD 1.x / 2.x (``StableDiffusionPipeline``)."""

    name = "sd"
    pipeline_classes = ("StableDiffusionPipeline",)
    denoiser_name = "unet"

    def setup(self, recipe):
        import diffusers

        super().setup(recipe)
        config = dict(self.pipe.scheduler.config)
        scheduler_class = type(self.pipe.scheduler).__name__
        if scheduler_class.startswith("EDM") or config.get("prediction_type") not in ("epsilon", "v_prediction",
                                                                                       "sample"):
            raise InputError(f"{self.model_path}: scheduler {scheduler_class} with prediction_type "
                             f"{config.get('prediction_type')!r} is not supported for training (expected a DDPM-style "
                             "scheduler predicting epsilon, v_prediction or sample).")
        self.prediction_type = config.get("prediction_type", "epsilon")
        self.noise_scheduler = diffusers.DDPMScheduler.from_config(
            {k: v for k, v in config.items() if not k.startswith("_")})

    def resolution_multiple(self) -> int:
        levels = len(self.denoiser.config.block_out_channels)
        return self.vae_scale_factor * 2 ** (levels - 1)

    def encode_prompts(self, captions):
        embeds, _ = self.pipe.encode_prompt(list(captions), self.device, 1, False)
        return {"encoder_hidden_states": embeds.to(self.dtype)}

    def extra_conditioning(self, cond: dict, batch: Batch) -> dict:
        """Keyword arguments of the UNet besides ``encoder_hidden_states`` (SDXL adds its embeddings)."""
        return {}

    def loss(self, latents, cond, batch, generator):
        noise = self.randn(latents.shape, generator, latents.dtype)
        n = self.noise_scheduler.config.num_train_timesteps
        timesteps = torch.randint(0, n, (latents.shape[0],), generator=generator).to(self.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        if self.prediction_type == "epsilon":
            target = noise
        elif self.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = latents
        prediction = self.denoiser(noisy, timesteps, cond["encoder_hidden_states"],
                                   return_dict=False, **self.extra_conditioning(cond, batch))[0]
        return self.mse(prediction, target)
