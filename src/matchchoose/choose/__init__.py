"""Choose a model for a new dataset (paper 4.5): profile, link to the knowledge base, rank the zoo.

>>> from matchchoose.kb import KnowledgeBase                            # doctest: +SKIP
>>> from matchchoose.choose import choose                               # doctest: +SKIP
>>> choose(KnowledgeBase("kb.sqlite"), "my_images/", top=3).shortlist    # doctest: +SKIP
['sdxl-base', 'kolors', 'sd15']
"""

from ._choose import CHOOSE_SELECTORS, DEFAULT_SELECTOR, Choice, choose, resolve_metric, resolve_probe

__all__ = ["CHOOSE_SELECTORS", "Choice", "DEFAULT_SELECTOR", "choose", "resolve_metric", "resolve_probe"]
