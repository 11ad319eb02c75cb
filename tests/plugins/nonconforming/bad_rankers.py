"""Rankers that each break one rule of ``RankerContract`` (see README.md)."""

from __future__ import annotations

import random
import re

from harness.components import Ranker
from harness.ranking import Run


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


class Good(Ranker):
    """Moves the candidates sharing most words with the query up; ties keep their order."""

    name = "nc-good"

    def prepare(self, collection, ctx):
        self.collection = collection

    def overlap(self, query: str, doc_id: str) -> float:
        return float(len(words(query) & words(self.collection.text(doc_id))))

    def rerank(self, queries, candidates, ctx):
        out = {}
        for qid, docs in candidates.items():
            scored = [(d, self.overlap(queries[qid], d)) for d in docs]
            out[qid] = sorted(scored, key=lambda pair: -pair[1])  # stable: ties keep their order
        return Run.from_ranked(out)


class Nameless(Good):
    """Forgot its name."""

    name = ""


class NotARun(Good):
    """Returns the plain dict instead of a Run."""

    def rerank(self, queries, candidates, ctx):
        return super().rerank(queries, candidates, ctx).scores


class DropsLast(Good):
    """Drops each query's last candidate."""

    def rerank(self, queries, candidates, ctx):
        run = super().rerank(queries, candidates, ctx)
        return Run({qid: dict(list(docs.items())[:-1]) for qid, docs in run.items()})


class PadsToFive(Good):
    """Tops up a short candidate list with other documents: wrong whenever depth < 5."""

    def rerank(self, queries, candidates, ctx):
        padded = {}
        for qid, docs in candidates.items():
            extra = [d.id for d in self.collection.docs if d.id not in docs][: max(0, 5 - len(docs))]
            padded[qid] = {**docs, **{d: -1.0 for d in extra}}
        return super().rerank(queries, Run(padded), ctx)


class Unstable(Good):
    """Adds noise salted per instance."""

    def prepare(self, collection, ctx):
        super().prepare(collection, ctx)
        self.salt = random.random()

    def overlap(self, query, doc_id):
        return super().overlap(query, doc_id) + random.Random(f"{self.salt}{doc_id}").random() / 2


class AsciiOnly(Good):
    """Encodes queries as ASCII."""

    def overlap(self, query, doc_id):
        return super().overlap(query.encode("ascii").decode(), doc_id)


class ListOnly(Good):
    """Takes ``collection.docs`` for a list (``.copy()``): a corpus on disk is not one."""

    def prepare(self, collection, ctx):
        super().prepare(collection, ctx)
        self.texts = {d.id: collection.contents(d) for d in collection.docs.copy()}

    def overlap(self, query: str, doc_id: str) -> float:
        return float(len(words(query) & words(self.texts[doc_id])))


GOOD = Good
BREAKS = {
    "test_declares_a_valid_component": Nameless,
    "test_returns_a_run": NotARun,
    "test_candidate_set_preserved": DropsLast,
    "test_depth_honoured": PadsToFive,
    "test_deterministic": Unstable,
    "test_corpus_on_disk": ListOnly,
    "test_empty_and_non_ascii_queries": AsciiOnly,
}
