"""Stable Diffusion XL: two CLIP text encoders, pooled text embeddings and size/crop conditioning.

The UNet takes the concatenated penultimate hidden states of both encoders, plus
``added_cond_kwargs``: the pooled embedding of the second encoder (``text_embeds``) and the six
``time_ids`` (original height and width, crop top and left, target height and width) of each
image, as SDXL was trained. Noise and targets are those of :mod:`.sd` (SDXL base: epsilon).
"""

from __future__ import annotations

import torch

from .sd import StableDiffusion

__all__ = ["StableDiffusionXL"]


class StableDiffusionXL(StableDiffusion):
    """SDXL and its fine-tunes (``StableDiffusionXLPipeline``: SDXL base, Juggernaut, Segmind Vega)."""

    name = "sdxl"
    pipeline_classes = ("StableDiffusionXLPipeline",)

    def encode_prompts(self, captions):
        captions = list(captions)
        embeds, _, pooled, _ = self.pipe.encode_prompt(prompt=captions, prompt_2=captions, device=self.device,
                                                       num_images_per_prompt=1, do_classifier_free_guidance=False)
        return {"encoder_hidden_states": embeds.to(self.dtype), "text_embeds": pooled.to(self.dtype)}

    def extra_conditioning(self, cond, batch):
        r = self.recipe.resolution
        ids = [[h, w, top, left, r, r] for (h, w), (top, left) in zip(batch.original_sizes, batch.crops)]
        time_ids = torch.tensor(ids, dtype=self.dtype, device=self.device)
        return {"added_cond_kwargs": {"text_embeds": cond["text_embeds"], "time_ids": time_ids}}
