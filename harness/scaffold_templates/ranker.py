"""``harness new-plugin --kind ranker``: moves up the candidates that share words with the query."""

SUMMARY = "Reranks candidates by the query words they contain, the first-stage rank breaking ties"
DEPENDENCIES: list[str] = []
CONFIG = ""
PARAMETERS = (
    "Parameters: `prior` (default `0.5`): weight of the first-stage rank (its reciprocal) beside "
    "the word overlap. The pipeline's `depth` (default 100) says how many candidates it reranks."
)
SUITE = '''\
[[pipelines]]
name = "bm25+$name"
retriever = { plugin = "bm25" }
ranker = { plugin = "$name", depth = 100 }'''
EXTRA_FILES: dict[str, str] = {}

COMPONENT = '''\
"""The ``$name`` ranker.

$summary.

Replace the scoring with your own and keep the contract (the harness's docs/plugins.md,
"Ranker"): ``rerank`` gets the first ``depth`` candidates of each query and returns exactly
those, in a new order; the harness keeps the candidates below ``depth`` underneath, untouched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from harness.sdk import Collection, Context, Param, Ranker, Run

WORD = re.compile(r"\\w+")  # Unicode-aware: accents, Greek and CJK are words too


class $cls(Ranker):
    """$summary."""

    name = "$name"
    params = {
        "prior": Param(float, 0.5, "weight of the first-stage rank (1 / rank) beside the word overlap", min=0),
    }

    def prepare(self, collection: Collection, ctx: Context) -> None:
        # once per collection, before any rerank: load models here; we only keep the texts
        self.texts = {doc.id: set(WORD.findall(collection.contents(doc).lower())) for doc in collection.docs}

    def rerank(self, queries: Mapping[str, str], candidates: Run, ctx: Context) -> Run:
        ranked = {}
        for qid, docs in candidates.items():
            query = set(WORD.findall(queries.get(qid, "").lower()))
            scored = [
                # a candidate the collection lacks (a stored run may have one) just has no words
                (doc, len(query & self.texts.get(doc, set())) + self.prior / rank)
                for rank, doc in enumerate(docs, 1)
            ]
            ranked[qid] = sorted(scored, key=lambda pair: -pair[1])  # stable: ties keep their order
        # from_ranked keeps this order exactly, adjusting scores only where trec_eval would not
        return Run.from_ranked(ranked)
'''
