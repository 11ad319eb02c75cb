"""harness-test-wordcount: the ``wordcount`` retriever, a plugin as a third party writes one."""

import harness
from harness.components import Retriever
from harness.params import Param
from harness.ranking import Run


class WordCount(Retriever):
    """Scores a document by the number of distinct query words it contains."""

    name = "wordcount"
    params = {"lowercase": Param(bool, True, "compare words in lower case")}

    def _words(self, text: str) -> set[str]:
        return set((text.lower() if self.lowercase else text).split())

    def index(self, collection, ctx):
        self.docs = {d.id: self._words(collection.contents(d)) for d in collection.docs}

    def retrieve(self, queries, k, ctx):
        out = {}
        for qid, text in queries.items():
            words = self._words(text)
            scored = {doc: float(len(words & w)) for doc, w in self.docs.items() if words & w}
            out[qid] = dict(sorted(scored.items(), key=lambda x: (-x[1], x[0]))[:k])
        return Run.from_scores(out)


@harness.hookimpl
def harness_retrievers():
    return [WordCount]
