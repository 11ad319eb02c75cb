"""ir-harness-compress: compressors for the harness's compressible components.

``svd`` (low-rank factorisation), ``int8-dynamic``, ``int8-lowrank`` (int8 plus a low-rank
correction of the quantisation error), ``prune`` (magnitude, attention heads, FFN units) and
``half`` (bfloat16 / float16). The harness imports this module whenever it starts (``harness
plugins`` too): the component modules import torch inside their methods only.
"""


from harness.sdk import hookimpl

from .half import Half
from .int8 import Int8Dynamic, Int8LowRank
from .prune import Prune
from .svd import Svd

__all__ = ["Half", "Int8Dynamic", "Int8LowRank", "Prune", "Svd", "harness_compressors"]


@hookimpl
def harness_compressors():
    return [Svd, Int8Dynamic, Int8LowRank, Prune, Half]
