"""ir-harness-compress: compressors for the harness's compressible components.

``svd`` (low-rank factorisation), ``int8-dynamic``, ``int8-lowrank`` (int8 plus a low-rank
correction of the quantisation error), ``prune`` (magnitude, attention heads, FFN units) and
``half`` (bfloat16 / float16); ``svd-aware`` (low rank fitted to the
layers' calibration inputs) and ``dense-sparse`` (a dense dictionary times a column-sparse code,
DSFormer's factorisation fitted post-training). The harness imports this module whenever it starts (``harness
plugins`` too): the component modules import torch inside their methods only.
"""


from harness.sdk import hookimpl

from .dense_sparse import DenseSparse
from .half import Half
from .int8 import Int8Dynamic, Int8LowRank
from .prune import Prune
from .svd import Svd
from .svd_aware import SvdAware

__all__ = ["DenseSparse", "Half", "Int8Dynamic", "Int8LowRank", "Prune", "Svd", "SvdAware", "harness_compressors"]


@hookimpl
def harness_compressors():
    return [Svd, SvdAware, DenseSparse, Int8Dynamic, Int8LowRank, Prune, Half]
