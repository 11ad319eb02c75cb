"""ir-harness-diagnostics: label-free metrics of a dense retriever's embedding space.

``RankMe`` (effective rank), ``hubness`` (skewness of the k-occurrence distribution) and
``antihubs`` (share of documents nobody's neighbour), from the ``embeddings`` artifact a dense
retriever publishes; ``RunHubness@k`` and ``HubShare@k`` (how unevenly a run's top k spreads
over the documents), from the run itself. The harness imports this module every time it starts:
numpy loads only when a metric is evaluated.
"""


from harness.sdk import hookimpl

from .hubness import AntiHubs, Hubness
from .rankme import RankMe
from .run_hubness import HubShare, RunHubness

__all__ = ["AntiHubs", "HubShare", "Hubness", "RankMe", "RunHubness", "harness_metrics"]


@hookimpl
def harness_metrics():
    return [RankMe, Hubness, AntiHubs, RunHubness, HubShare]
