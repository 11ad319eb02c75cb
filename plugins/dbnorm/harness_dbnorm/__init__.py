"""ir-harness-dbnorm: hubness reduction with query and gallery banks (DBNorm, Wang et al., EMNLP 2023).

``dbnorm`` as a ranker (a first stage's candidates reordered) and as a retriever (the whole
collection), with the methods IS, DIS, DualIS, DualDIS and the CSLS baseline. This module is what
the ``harness`` entry point loads for ``harness plugins``: numpy loads only when a component works.
"""

from harness.sdk import hookimpl

from .dbnorm import DBNorm, DBNormRetriever

__all__ = ["DBNorm", "DBNormRetriever", "harness_rankers", "harness_retrievers"]


@hookimpl
def harness_rankers():
    return [DBNorm]


@hookimpl
def harness_retrievers():
    return [DBNormRetriever]
