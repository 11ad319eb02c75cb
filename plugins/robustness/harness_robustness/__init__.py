"""ir-harness-robustness: rank stability of relevant documents under perturbed documents.

``RankShift`` and ``RelSetChange`` re-run a cell's pipeline on a perturbed copy of its collection
(character noise, synonym substitution) through the runner's ``pipeline`` artifact. The harness
imports this module every time it starts: it imports nothing heavy.
"""


from harness.sdk import hookimpl

from .metrics import RankShift, RelSetChange, Robustness
from .perturb import perturb_collection, synonym_table

__all__ = ["RankShift", "RelSetChange", "Robustness", "harness_metrics", "perturb_collection", "synonym_table"]


@hookimpl
def harness_metrics():
    return [RankShift, RelSetChange]
