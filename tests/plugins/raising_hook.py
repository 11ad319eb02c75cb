"""A plugin whose retriever hook raises; its ranker hook works."""

import harness
from harness.components import Ranker


class SurvivingRanker(Ranker):
    """Provided by a plugin whose other hook raises."""

    name = "surviving-ranker"

    def rerank(self, queries, candidates, ctx):
        return candidates


@harness.hookimpl
def harness_retrievers():
    raise RuntimeError("no GPU visible to this plugin")


@harness.hookimpl
def harness_rankers():
    return [SurvivingRanker]
