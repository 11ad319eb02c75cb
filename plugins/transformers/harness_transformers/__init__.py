"""ir-harness-transformers: neural components for the harness on Hugging Face transformers.

``dense`` (retriever), ``cross-encoder``, ``bi-encoder`` and ``late-interaction`` (rankers). This module is what the
``harness`` entry point loads for ``harness plugins``: it imports only the component classes,
which import torch, transformers and numpy inside their methods, so listing plugins stays instant.
"""


from harness.sdk import hookimpl

from .dense import Dense
from .late_interaction import LateInteraction
from .rankers import BiEncoder, CrossEncoder

__all__ = ["BiEncoder", "CrossEncoder", "Dense", "LateInteraction", "harness_rankers", "harness_retrievers"]


@hookimpl
def harness_retrievers():
    return [Dense]


@hookimpl
def harness_rankers():
    return [CrossEncoder, BiEncoder, LateInteraction]
