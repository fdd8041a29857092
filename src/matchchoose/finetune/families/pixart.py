"""PixArt-alpha / sigma: ``PixArtTransformer2DModel``, one T5 encoder, epsilon with learned sigma.

The transformer predicts the noise and, when ``out_channels`` is twice the latent channels, the
variance as well; the loss takes the first half of the output channels (the noise), as the
diffusers PixArt scripts do. A 1024 px PixArt-alpha (``sample_size`` 128) is also conditioned on
resolution and aspect ratio, which are passed for the square training crops.
"""

from __future__ import annotations

import torch

from .sd import StableDiffusion

__all__ = ["PixArt"]


class PixArt(StableDiffusion):
    """PixArt-alpha and PixArt-sigma (``PixArtAlphaPipeline``, ``PixArtSigmaPipeline``)."""

    name = "pixart"
    pipeline_classes = ("PixArtAlphaPipeline", "PixArtSigmaPipeline")
    denoiser_name = "transformer"
    max_sequence_length = 300

    def resolution_multiple(self) -> int:
        return self.vae_scale_factor * self.denoiser.config.patch_size

    def encode_prompts(self, captions):
        embeds, mask, _, _ = self.pipe.encode_prompt(list(captions), do_classifier_free_guidance=False,
                                                     device=self.device, clean_caption=False,
                                                     max_sequence_length=self.text_length)
        return {"encoder_hidden_states": embeds.to(self.dtype), "encoder_attention_mask": mask}

    def loss(self, latents, cond, batch, generator):
        noise = self.randn(latents.shape, generator, latents.dtype)
        n = self.noise_scheduler.config.num_train_timesteps
        timesteps = torch.randint(0, n, (latents.shape[0],), generator=generator).to(self.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        target = noise if self.prediction_type == "epsilon" else (
            self.noise_scheduler.get_velocity(latents, noise, timesteps) if self.prediction_type == "v_prediction"
            else latents)
        b = latents.shape[0]
        added = {"resolution": None, "aspect_ratio": None}
        if getattr(self.denoiser, "use_additional_conditions", False):
            r = float(self.recipe.resolution)
            added = {"resolution": torch.tensor([[r, r]] * b, device=self.device, dtype=self.dtype),
                     "aspect_ratio": torch.tensor([[1.0]] * b, device=self.device, dtype=self.dtype)}
        prediction = self.denoiser(noisy, encoder_hidden_states=cond["encoder_hidden_states"],
                                   encoder_attention_mask=cond["encoder_attention_mask"], timestep=timesteps,
                                   added_cond_kwargs=added, return_dict=False)[0]
        if prediction.shape[1] == 2 * latents.shape[1]:  # learned sigma: keep the noise half
            prediction = prediction.chunk(2, dim=1)[0]
        return self.mse(prediction, target)
