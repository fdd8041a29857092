"""FLUX.1: ``FluxTransformer2DModel``, CLIP (pooled) + T5, packed latents, guidance embedding.

Latents are ``(z - shift_factor) * scaling_factor``, packed into 2 x 2 patches as the pipeline packs
them, with the pipeline's image and text position ids. FLUX.1 dev is guidance-distilled
(``guidance_embeds``): the guidance input is set to :attr:`Flux.guidance_scale` (3.5, the diffusers
script's default). Flow matching with uniformly drawn noise levels, target ``noise - latents``
(compared in the packed layout).

The ``adapter`` method follows the joint attention of the double-stream blocks (where image and
text tokens meet), on the image stream.
"""

from __future__ import annotations

import torch

from ._base import FlowMatchingFamily

__all__ = ["Flux"]


class Flux(FlowMatchingFamily):
    """FLUX.1 dev / schnell (``FluxPipeline``)."""

    name = "flux"
    pipeline_classes = ("FluxPipeline",)
    denoiser_name = "transformer"
    lora_targets = ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")
    adapter_pattern = r"(^|\.)transformer_blocks\.\d+\.attn$"
    adapter_cross_only = False  # joint attention: text and image tokens attend together
    guidance_scale = 3.5
    max_sequence_length = 512
    long_tokenizer = "tokenizer_2"

    def resolution_multiple(self) -> int:
        return self.vae_scale_factor * 2

    def encode_prompts(self, captions):
        captions = list(captions)
        embeds, pooled, text_ids = self.pipe.encode_prompt(prompt=captions, prompt_2=captions, device=self.device,
                                                           num_images_per_prompt=1,
                                                           max_sequence_length=self.text_length)
        return {"encoder_hidden_states": embeds.to(self.dtype), "pooled_projections": pooled.to(self.dtype),
                "txt_ids": text_ids}

    def loss(self, latents, cond, batch, generator):
        from diffusers import FluxPipeline

        b, c, h, w = latents.shape
        noisy, target, timesteps = self.noisy_and_target(latents, generator)
        packed = FluxPipeline._pack_latents(noisy, b, c, h, w)
        target = FluxPipeline._pack_latents(target, b, c, h, w)
        image_ids = FluxPipeline._prepare_latent_image_ids(b, h // 2, w // 2, self.device, self.dtype)
        guidance = None
        if self.denoiser.config.guidance_embeds:
            guidance = torch.full((b,), self.guidance_scale, device=self.device, dtype=torch.float32)
        prediction = self.denoiser(hidden_states=packed, timestep=timesteps / 1000.0, guidance=guidance,
                                   pooled_projections=cond["pooled_projections"],
                                   encoder_hidden_states=cond["encoder_hidden_states"], txt_ids=cond["txt_ids"],
                                   img_ids=image_ids, return_dict=False)[0]
        return self.mse(prediction, target)
