"""``harness new-plugin --kind retriever``: a word-overlap retriever weighted by idf."""

SUMMARY = "Ranks documents by the idf-weighted query words they contain"
DEPENDENCIES: list[str] = []
CONFIG = ""
PARAMETERS = "Parameters: `lowercase` (default `true`): compare words in lower case."
SUITE = '''\
[[pipelines]]
name = "$name"
retriever = { plugin = "$name" }'''
EXTRA_FILES: dict[str, str] = {}

COMPONENT = '''\
"""The ``$name`` retriever.

$summary.

Replace the scoring with your own and keep the contract (the harness's docs/plugins.md,
"Retriever"): ``index`` once per collection, then ``retrieve`` at most ``k`` documents per
query, as a ``Run``. ``save``/``load`` are optional: with them, the harness caches the index.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from harness.sdk import Collection, Context, Param, Retriever, Run, trec_order

WORD = re.compile(r"\\w+")  # Unicode-aware: accents, Greek and CJK are words too


class $cls(Retriever):
    """$summary."""

    name = "$name"
    params = {
        "lowercase": Param(bool, True, "compare words in lower case"),
    }

    def words(self, text: str) -> set[str]:
        return set(WORD.findall(text.lower() if self.lowercase else text))

    def index(self, collection: Collection, ctx: Context) -> None:
        # collection.contents(doc): the fields the suite chose, joined (not doc.text alone)
        self.docs = {doc.id: sorted(self.words(collection.contents(doc))) for doc in collection.docs}
        self._weigh()

    def _weigh(self) -> None:
        counts = Counter(word for words in self.docs.values() for word in words)
        self.idf = {word: math.log(1 + len(self.docs) / n) for word, n in counts.items()}
        self.sets = {doc: set(words) for doc, words in self.docs.items()}

    def retrieve(self, queries: Mapping[str, str], k: int, ctx: Context) -> Run:
        ranked = {}
        for qid, text in queries.items():
            query = self.words(text)
            scores = {
                # summed in sorted order: the same floats in every process, whatever the hash seed
                doc: sum(self.idf[word] for word in sorted(query & words))
                for doc, words in self.sets.items()
                if query & words
            }
            # trec_eval's order (score, then id, descending), so a tie at rank k is cut as it ranks
            ranked[qid] = trec_order(scores)[:k]
        return Run.from_scores(ranked)

    def save(self, path: Path) -> None:
        path.mkdir()
        (path / "index.json").write_text(json.dumps(self.docs, ensure_ascii=False), encoding="utf-8")

    def load(self, path: Path) -> None:
        self.docs = json.loads((path / "index.json").read_text(encoding="utf-8"))
        self._weigh()
'''
