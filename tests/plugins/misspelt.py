"""A plugin with a misspelt hook name (pluggy alone would ignore it silently)."""

import harness
from harness.components import Ranker


class SpelledRightRanker(Ranker):
    """Provided by the hook that is spelt right."""

    name = "spelt-right"

    def rerank(self, queries, candidates, ctx):
        return candidates


@harness.hookimpl
def harness_retreivers():
    return []


@harness.hookimpl
def harness_rankers():
    return [SpelledRightRanker]
