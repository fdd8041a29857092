"""Stable Diffusion 3 / 3.5: ``SD3Transformer2DModel`` (MMDiT), three text encoders, flow matching.

Prompts go through two CLIP encoders (hidden states and pooled embeddings) and T5; a pipeline saved
without T5 (``text_encoder_3`` absent) is supported: the pipeline pads with zeros, as SD3 allows.
Latents are ``(z - shift_factor) * scaling_factor``; the noise level is logit-normal by default
(the diffusers SD3 script's weighting scheme), the target is ``noise - latents``.

The ``adapter`` method follows the joint attention of each block (SD3 has no separate
cross-attention: image and text tokens attend together there), on the image stream.
"""

from __future__ import annotations

from ._base import FlowMatchingFamily

__all__ = ["StableDiffusion3"]


class StableDiffusion3(FlowMatchingFamily):
    """SD3 medium, SD3.5 medium / large (``StableDiffusion3Pipeline``)."""

    name = "sd3"
    pipeline_classes = ("StableDiffusion3Pipeline",)
    denoiser_name = "transformer"
    lora_targets = ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")
    optional_components = ("text_encoder_3", "tokenizer_3")
    default_timestep_sampling = "logit_normal"
    adapter_pattern = r"(^|\.)transformer_blocks\.\d+\.attn$"
    adapter_cross_only = False  # joint attention: text and image tokens attend together
    max_sequence_length = 256
    long_tokenizer = "tokenizer_3"

    def resolution_multiple(self) -> int:
        return self.vae_scale_factor * self.denoiser.config.patch_size

    def encode_prompts(self, captions):
        captions = list(captions)
        embeds, _, pooled, _ = self.pipe.encode_prompt(
            prompt=captions, prompt_2=captions, prompt_3=captions, device=self.device, num_images_per_prompt=1,
            do_classifier_free_guidance=False, max_sequence_length=self.text_length)
        return {"encoder_hidden_states": embeds.to(self.dtype), "pooled_projections": pooled.to(self.dtype)}

    def loss(self, latents, cond, batch, generator):
        noisy, target, timesteps = self.noisy_and_target(latents, generator)
        prediction = self.denoiser(hidden_states=noisy, timestep=timesteps, return_dict=False,
                                   encoder_hidden_states=cond["encoder_hidden_states"],
                                   pooled_projections=cond["pooled_projections"])[0]
        return self.mse(prediction, target)
