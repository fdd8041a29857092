"""Sample images from a (fine-tuned) pipeline for a dataset's held-out captions, with fixed seeds
(paper 5.1); the images are then scored against the held-out real images (:mod:`matchchoose.score`)."""

from ._sample import SampleResult, held_out_captions, load_pipeline, sample_images

__all__ = ["SampleResult", "held_out_captions", "load_pipeline", "sample_images"]
