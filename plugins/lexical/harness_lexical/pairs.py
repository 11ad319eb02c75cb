"""``bm25`` as a ranker: BM25 scores of any texts, with the collection's statistics held fixed.

The retriever scores the documents of its index. Some methods need BM25 as a black-box pair
scorer instead: ANNCUR scores (query, document) pairs one by one, randomized smoothing (CertDR)
scores perturbed copies of a document that are in no index. This ranker's ``score_pairs`` gives
each text the score the ``bm25`` retriever would give it if it were a document of the collection
whose statistics stay as they are: the idf of each term (number of documents N, document
frequencies) and the average document length come from the collection ``prepare`` saw; the term
frequencies and the length come from the text. A text equal to a collection document scores what
the retriever scores that document (the same float32 arithmetic as bm25s, tested equal).

bm25l and bm25+ add to every document a constant per query term that it lacks (bm25s's
"non-occurrence" score, computed at the average document length); it is added here the same way.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Sequence
from typing import Any

from harness.sdk import Context, Ranker

from .bm25 import BM25, _Vocab

# Analysed texts kept per scorer (length and term counts), so that the same texts scored for
# many queries (a document's perturbed samples, shared across queries) are tokenised once.
TEXT_CACHE = 100_000


class BM25Scorer(Ranker):
    """BM25 of any (query, text) pair with the collection's statistics held fixed (idf, average length)."""

    name = "bm25"
    params = BM25.params

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._retriever = BM25(**params)  # resolves the preset and aliases, checks the pattern
        self.config = self._retriever.config
        for key, value in self.config.items():
            setattr(self, key, value)
        self._analyze = None
        self._idf = self._nonoccurrence = None
        self._vocab: dict[str, int] = {}
        self._avgdl = 0.0
        self._texts: OrderedDict[str, tuple[int, Counter]] = OrderedDict()
        self._fingerprint = None

    def identity(self, ctx: Context) -> dict:
        return self._retriever.settings()

    def prepare(self, collection, ctx: Context) -> None:
        """Document frequencies, idf and the average length of ``collection``, as bm25s computes them."""
        import bm25s.scoring as scoring
        import numpy as np

        if self._fingerprint == collection.fingerprint:
            return
        analyze, vocab = self._retriever.analyzer(), _Vocab()
        df: Counter = Counter()
        total = 0
        with ctx.progress.task("bm25: collection statistics", total=len(collection.docs)) as advance:
            for i, text in enumerate(collection.texts(), 1):
                ids = analyze.ids(text, vocab)
                total += len(ids)
                df.update(set(ids))
                if i % 1000 == 0 or i == len(collection.docs):
                    advance(1000 if i % 1000 == 0 else i % 1000)
        n_docs = len(collection.docs)
        if not vocab or not n_docs:
            raise ValueError(f"bm25: collection {collection.name!r} has no tokens to score with")
        # bm25s's own arithmetic: idf in float64 (math.log) stored as float32, the average length
        # a numpy float64 mean, the non-occurrence score at the average length.
        method = self.method
        idf_fn, tfc_fn = scoring._select_idf_scorer(method), scoring._select_tfc_scorer(method)
        avgdl = np.float64(total) / n_docs  # = np.mean of the integer lengths, as bm25s takes it
        idf = np.zeros(len(vocab), dtype=np.float32)
        for token_id, count in df.items():
            idf[token_id] = idf_fn(count, N=n_docs)
        nonoccurrence = None
        if method in ("bm25l", "bm25+"):
            nonoccurrence = np.zeros(len(vocab), dtype=np.float32)
            for token_id, count in df.items():
                nonoccurrence[token_id] = idf_fn(count, N=n_docs) * tfc_fn(
                    tf_array=0, l_d=avgdl, l_avg=avgdl, k1=self.k1, b=self.b, delta=self.delta)
        self._analyze, self._vocab, self._idf, self._nonoccurrence = analyze, dict(vocab), idf, nonoccurrence
        self._avgdl, self._tfc = avgdl, tfc_fn
        self._texts.clear()
        self._fingerprint = collection.fingerprint

    def _counts(self, text: str) -> tuple[int, Counter]:
        """The text's length in tokens and its token counts, remembered for repeated texts."""
        hit = self._texts.get(text)
        if hit is not None:
            self._texts.move_to_end(text)
            return hit
        tokens = self._analyze(text)
        hit = self._texts[text] = (len(tokens), Counter(tokens))
        if len(self._texts) > TEXT_CACHE:
            self._texts.popitem(last=False)
        return hit

    def score_pairs(self, query: str, texts: Sequence[str], ctx: Context) -> list[float]:
        if self._idf is None:
            raise RuntimeError("bm25: call prepare(collection, ctx) before score_pairs()")
        import numpy as np

        terms = [t for t in self._analyze(query) if t in self._vocab]  # repeated terms count twice, as retrieval
        if not terms:  # as retrieval: no query term in the collection, every text scores 0
            return [0.0] * len(texts)
        ids = np.array([self._vocab[t] for t in terms])
        lengths = np.empty(len(texts), dtype=np.int64)
        tf = np.zeros((len(texts), len(terms)), dtype=np.float32)
        for row, text in enumerate(texts):
            lengths[row], counts = self._counts(text)
            tf[row] = [counts.get(t, 0) for t in terms]
        # bm25s's arithmetic and order: a matched term's entry is float32(idf32 * tfc64) (less the
        # non-occurrence score for bm25l/bm25+), entries added in float32 in query-term order.
        scores = np.zeros(len(texts), dtype=np.float32)
        for j, token in enumerate(ids):
            rows = np.flatnonzero(tf[:, j])
            if not len(rows):
                continue
            entry = self._idf[token] * self._tfc(tf_array=tf[rows, j], l_d=lengths[rows], l_avg=self._avgdl,
                                                 k1=self.k1, b=self.b, delta=self.delta)
            if self._nonoccurrence is not None:
                entry = entry - self._nonoccurrence[token]
            scores[rows] += entry.astype(np.float32)
        if self._nonoccurrence is not None:
            scores += self._nonoccurrence[ids].sum()
        return scores.tolist()
