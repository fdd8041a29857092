"""Sana: ``SanaTransformer2DModel`` (linear DiT), a Gemma-2 text encoder, DC-AE latents, flow matching.

Latents come from the deep-compression autoencoder (:class:`~diffusers.AutoencoderDC`, 32x
downsampling, deterministic: ``z * scaling_factor``). The pipeline's scheduler is a DPM-Solver with
flow sigmas; training uses the matching rectified-flow grid, shifted by its ``flow_shift``, with
uniformly drawn noise levels and target ``noise - latents``.
"""

from __future__ import annotations

from ._base import FlowMatchingFamily

__all__ = ["Sana"]


class Sana(FlowMatchingFamily):
    """Sana 1.0 / 1.5 (``SanaPipeline``)."""

    name = "sana"
    pipeline_classes = ("SanaPipeline",)
    denoiser_name = "transformer"
    max_sequence_length = 300

    def make_train_scheduler(self):
        import diffusers

        config = self.pipe.scheduler.config
        shift = config.get("flow_shift") or config.get("shift") or 1.0
        return diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=config.get("num_train_timesteps", 1000),
                                                         shift=float(shift))

    def resolution_multiple(self) -> int:
        return self.vae_scale_factor * self.denoiser.config.patch_size

    def encode_images(self, pixels, generator):
        vae = self.pipe.vae
        latents = vae.encode(pixels.to(self.device, vae.dtype)).latent
        return (latents * vae.config.scaling_factor).to(self.dtype)

    def encode_prompts(self, captions):
        embeds, mask, _, _ = self.pipe.encode_prompt(list(captions), do_classifier_free_guidance=False,
                                                     device=self.device, clean_caption=False,
                                                     max_sequence_length=self.text_length,
                                                     complex_human_instruction=None)
        return {"encoder_hidden_states": embeds.to(self.dtype), "encoder_attention_mask": mask}

    def loss(self, latents, cond, batch, generator):
        noisy, target, timesteps = self.noisy_and_target(latents, generator)
        scale = getattr(self.denoiser.config, "timestep_scale", 1.0) or 1.0
        prediction = self.denoiser(noisy, encoder_hidden_states=cond["encoder_hidden_states"],
                                   encoder_attention_mask=cond["encoder_attention_mask"],
                                   timestep=timesteps * scale, return_dict=False)[0]
        return self.mse(prediction, target)
