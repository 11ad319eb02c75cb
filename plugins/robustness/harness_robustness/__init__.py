"""ir-harness-robustness: rank stability of relevant documents under perturbed documents.

``RankShift`` and ``RelSetChange`` re-run a cell's pipeline on a perturbed copy of its collection
(character noise, synonym substitution) through the runner's ``pipeline`` artifact. The ranker
``smoothed`` (randomized smoothing by synonym substitution, CertDR) and the metrics ``CertTopK`` /
``CertRadius`` certify that no candidate can enter a query's top K by substituting words. The harness
imports this module every time it starts: it imports nothing heavy.
"""


from harness.sdk import hookimpl

from .certified import CertRadius, CertTopK
from .metrics import RankShift, RelSetChange, Robustness
from .perturb import perturb_collection, synonym_table
from .smoothed import Smoothed

__all__ = ["CertRadius", "CertTopK", "RankShift", "RelSetChange", "Robustness", "Smoothed", "harness_metrics",
           "harness_rankers", "perturb_collection", "synonym_table"]


@hookimpl
def harness_metrics():
    return [RankShift, RelSetChange, CertTopK, CertRadius]


@hookimpl
def harness_rankers():
    return [Smoothed]
