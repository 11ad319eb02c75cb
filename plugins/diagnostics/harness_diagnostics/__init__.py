"""ir-harness-diagnostics: label-free metrics of a dense retriever's embedding space.

``RankMe`` (effective rank), ``hubness`` (skewness of the k-occurrence distribution) and
``antihubs`` (share of documents nobody's neighbour), from the ``embeddings`` artifact a dense
retriever publishes. The harness imports this module every time it starts: numpy loads only when
a metric is evaluated.
"""


from harness.sdk import hookimpl

from .hubness import AntiHubs, Hubness
from .rankme import RankMe

__all__ = ["AntiHubs", "Hubness", "RankMe", "harness_metrics"]


@hookimpl
def harness_metrics():
    return [RankMe, Hubness, AntiHubs]
