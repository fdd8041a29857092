"""Score generated images against real ones (CLIP-FID by default; FD with any probe, KID, CMMD) and
record the score, with its protocol, in the knowledge base (paper 5.1)."""

from ._score import SCORE_KINDS, Score, metric_name, record_score, score_images

__all__ = ["SCORE_KINDS", "Score", "metric_name", "record_score", "score_images"]
