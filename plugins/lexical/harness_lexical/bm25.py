"""``bm25``: Okapi BM25 and its variants, scored by bm25s, with a tokeniser we control.

``preset = "bm25s"`` gives bm25s's own README usage (``bm25s.tokenize(texts, stopwords="en")``,
then ``bm25s.BM25()`` with its defaults); parameters given beside a preset override its values.

We tokenise ourselves (regex, lowercase, stopwords, PyStemmer) instead of using bm25s's
``Tokenizer``: that one maps empty texts to a shared ``""`` token (an empty query would then
"match" every empty document) and numbers its vocabulary from a set, so its ids change with
Python's hash seed. Our vocabulary is sorted, so the saved index is the same file for the same
input. bm25s is used for what it is good at: the precomputed sparse score matrix.

bm25s, numpy and PyStemmer are imported inside the methods: ``harness plugins`` imports this
module and must stay instant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.sdk import Context, Param, Retriever, Run

METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
# PyStemmer's Snowball algorithms (Stemmer.algorithms() of PyStemmer 3.1; a test checks them).
STEMMERS = (
    "arabic", "armenian", "basque", "catalan", "czech", "danish", "dutch", "dutch_porter",
    "english", "esperanto", "estonian", "finnish", "french", "german", "greek", "hindi",
    "hungarian", "indonesian", "irish", "italian", "lithuanian", "nepali", "norwegian", "persian",
    "polish", "porter", "portuguese", "romanian", "russian", "serbian", "sesotho", "spanish",
    "swedish", "tamil", "turkish", "yiddish",
)  # fmt: skip
# bm25s's built-in stopword lists, by language code ("en" is Lucene's 33-word English set).
STOPWORD_SETS = {
    "none": None, "en": "STOPWORDS_EN", "en_plus": "STOPWORDS_EN_PLUS", "da": "STOPWORDS_DANISH",
    "de": "STOPWORDS_GERMAN", "es": "STOPWORDS_SPANISH", "fr": "STOPWORDS_FRENCH",
    "it": "STOPWORDS_ITALIAN", "ko": "STOPWORDS_KOREAN", "nl": "STOPWORDS_DUTCH",
    "no": "STOPWORDS_NORWEGIAN", "pt": "STOPWORDS_PORTUGUESE", "ru": "STOPWORDS_RUSSIAN",
    "sv": "STOPWORDS_SWEDISH", "tr": "STOPWORDS_TURKISH", "zh": "STOPWORDS_CHINESE",
}  # fmt: skip
# bm25s's own names for its stopword lists (``bm25s.tokenization._infer_stopwords``), accepted as
# aliases of the language codes above and recorded as the code.
STOPWORD_ALIASES = {
    "english": "en", "english_plus": "en_plus", "danish": "da", "german": "de", "spanish": "es",
    "french": "fr", "italian": "it", "korean": "ko", "dutch": "nl", "norwegian": "no",
    "portuguese": "pt", "russian": "ru", "swedish": "sv", "turkish": "tr", "chinese": "zh",
}  # fmt: skip
# Named settings: every parameter that decides the output, as the named usage has it.
PRESETS = {
    # bm25s's README: bm25s.tokenize(texts, stopwords="en") (lowercase, scikit-learn's token
    # pattern, Lucene's 33 English stopwords, no stemmer), then bm25s.BM25() (k1 1.5, b 0.75,
    # Lucene's formula); queries tokenised the same way. A test reads these from bm25s itself.
    "bm25s": {
        "k1": 1.5, "b": 0.75, "method": "lucene", "delta": 0.5, "stemmer": None,
        "stopwords": "en", "lower": True, "token_pattern": r"(?u)\b\w\w+\b",
    },
}  # fmt: skip
META_FILE = "harness_lexical.json"
# Pairs a retrieval's arrays hold at first (queries × k when fewer); they grow when filled.
_FIRST_CAPACITY = 1 << 24
FORMAT = 1


class StopwordsParam(Param):
    """A stopword-set name (checked against ``choices``) or a list of words."""

    def check(self, value: Any) -> str | None:
        if isinstance(value, list):
            bad = [w for w in value if not isinstance(w, str)]
            return f"must be a list of strings, got item {bad[0]!r}" if bad else None
        return super().check(value)


class Analyzer:
    """Text to tokens: lowercase, regex split, stopword removal, stemming (in Lucene's order)."""

    def __init__(self, lower: bool, token_pattern: str, stopwords, stemmer: str | None):
        self.lower = lower
        self.pattern = re.compile(token_pattern)
        if isinstance(stopwords, list):
            words = stopwords
        elif STOPWORD_SETS[STOPWORD_ALIASES.get(stopwords, stopwords)] is None:
            words = []
        else:
            import bm25s.stopwords

            words = getattr(bm25s.stopwords, STOPWORD_SETS[STOPWORD_ALIASES.get(stopwords, stopwords)])
        # Stopwords are compared in lower case, also when ``lower`` is off (as Lucene's
        # StopFilter with ignoreCase); they apply before stemming, so list surface forms.
        self.stopwords = frozenset(w.lower() for w in words)
        self._skip = self.stopwords | {""}  # what ``ids`` drops from lower-cased text
        self.stem = None
        if stemmer is not None:
            import Stemmer

            self.stem = Stemmer.Stemmer(stemmer).stemWords

    def __call__(self, text: str) -> list[str]:
        words = self._words(text)
        return self.stem(words) if self.stem and words else words

    def ids(self, text: str, vocab: _Vocab) -> list[int]:
        """``self(text)`` as ids in ``vocab`` (a new token gets the next id): indexing keeps one
        reference to a shared int per token, never the token strings of the whole corpus."""
        return list(map(vocab.__getitem__, self(text)))

    def _words(self, text: str) -> list[str]:
        """The tokens before stemming: lower-cased (with ``lower``), matched, stopwords dropped."""
        if self.lower:
            text = text.lower()
        if self.pattern.groups:  # finditer: a pattern with a capturing group still yields whole matches
            words = [m.group(0) for m in self.pattern.finditer(text)]
        else:  # findall yields the same strings, faster
            words = self.pattern.findall(text)
        if self.lower:  # already lower case; "" is in the set
            skip = self._skip
            return [w for w in words if w not in skip]
        stop = self.stopwords
        return [w for w in words if w and w.lower() not in stop]


class _Vocab(dict):
    """Token → id, numbered in order of first occurrence: looking up a new token adds it."""

    def __missing__(self, token: str) -> int:
        self[token] = number = len(self)
        return number


class BM25(Retriever):
    """BM25 (Lucene, Robertson, ATIRE, BM25L, BM25+ variants) on bm25s, with stemming and stopwords.

    Documents that contain none of a query's terms are not returned (as in Lucene/Anserini), so a
    query may get fewer than k documents. Scores are float32, as bm25s computes them.
    """

    name = "bm25"
    publishes = ()  # no by-products for metrics
    params = {
        "k1": Param(float, 0.9, "term-frequency saturation", min=0),
        "b": Param(float, 0.4, "document-length normalisation (0 = none, 1 = full)", min=0, max=1),
        "method": Param(str, "lucene", "BM25 variant (idf and tf formulas)", choices=METHODS),
        "delta": Param(float, 0.5, "lower bound on a matched term's tf part (bm25l, bm25+)", min=0),
        "stemmer": Param(
            str,
            None,
            "PyStemmer algorithm ('porter', 'english', ...), or 'none' / null for no stemming",
            choices=("none", *STEMMERS),
            nullable=True,
        ),
        "stopwords": StopwordsParam(
            (str, list),
            "en",
            "stopword set ('en' = Lucene's English list, 'none', or another language code; "
            "bm25s's names such as 'english' are aliases) or a list of words",
            choices=(*STOPWORD_SETS, *STOPWORD_ALIASES),
        ),
        "lower": Param(bool, True, "lowercase text before tokenising"),
        "token_pattern": Param(str, r"\w+", "regular expression whose matches are the tokens"),
        "preset": Param(
            str,
            None,
            "named settings: 'bm25s' = bm25s's README usage (k1 1.5, b 0.75, lucene, its "
            "tokenizer, 'en' stopwords); parameters given beside it override its values",
            choices=tuple(PRESETS),
            nullable=True,
        ),
    }

    def __init__(self, **params: Any):
        super().__init__(**params)
        if self.preset is not None:  # the preset's values, except where a parameter is given
            for key, value in PRESETS[self.preset].items():
                if key not in params:
                    setattr(self, key, value)
                    self.config[key] = value
        if self.stemmer == "none":  # TOML has no null: one spelling, one cache identity
            self.stemmer = self.config["stemmer"] = None
        if isinstance(self.stopwords, str) and self.stopwords in STOPWORD_ALIASES:  # bm25s's names
            self.stopwords = self.config["stopwords"] = STOPWORD_ALIASES[self.stopwords]
        try:  # fail when the component is built, not halfway through a run
            re.compile(self.token_pattern)
        except re.error as exc:
            raise ValueError(f"bm25: token_pattern {self.token_pattern!r} is invalid: {exc}") from exc
        self._bm25 = None
        self._doc_ids: list[str] = []
        # Built with the index (``_lookups``), so that retrieval allocates its results only:
        self._id_rank = None  # each document's place among the ids in string order
        self._id_array = None  # the document ids as a numpy object array, the run's vocabulary
        self._nonnegative = None  # whether the score matrix has no negative entry

    def settings(self) -> dict:
        """The effective settings, canonical (the preset's values filled in, aliases resolved):
        what the index is built with, its saved parameters and the component's identity. No
        ``preset`` key without a preset, so a bm25 configured as before presets existed keeps
        its identity (its cache keys) and reads indexes saved then."""
        return {k: v for k, v in self.config.items() if k != "preset" or v is not None}

    def identity(self, ctx: Context) -> dict:
        """Every effective setting (k1, b, method, delta, stemmer, stopwords, lower and
        token_pattern, the tokenizer) and the preset when one is set: the stage record of each
        cell holds it, and the leaderboard's ``settings`` column shows it."""
        return self.settings()

    def analyzer(self) -> Analyzer:
        return Analyzer(self.lower, self.token_pattern, self.stopwords, self.stemmer)

    def index(self, collection, ctx: Context) -> None:
        import bm25s

        analyze, vocab, ids, reported = self.analyzer(), _Vocab(), [], 0
        with ctx.progress.task("bm25: tokenising", total=len(collection.docs)) as advance:
            for i, text in enumerate(collection.texts(), 1):
                ids.append(analyze.ids(text, vocab))
                if i % 1000 == 0 or i == len(collection.docs):  # a live bar costs per call
                    advance(i - reported)
                    reported = i
        if not vocab:
            raise ValueError(f"bm25: collection {collection.name!r} has no tokens to index")
        # A sorted vocabulary makes token ids, and so the saved files, independent of hash seeds
        # (and of the order tokens first occur): first-seen ids are renumbered in place.
        seen, vocab = vocab, {token: i for i, token in enumerate(sorted(vocab))}
        renumber = [0] * len(vocab)
        for token, old in seen.items():
            renumber[old] = vocab[token]
        del seen
        fetch = renumber.__getitem__
        for doc in ids:
            doc[:] = map(fetch, doc)
        del renumber
        with ctx.progress.task("bm25: building the index"):
            bm25 = bm25s.BM25(k1=self.k1, b=self.b, delta=self.delta, method=self.method)
            # No "" token: bm25s would give it an id outside the score matrix.
            bm25.index((ids, vocab), create_empty_token=False, show_progress=False)
        self._bm25, self._doc_ids = bm25, list(collection.doc_ids)  # not via docs: on disk, that decodes every text
        self._lookups()

    def retrieve(self, queries: Mapping[str, str], k: int, ctx: Context) -> Run:
        if self._bm25 is None:
            raise RuntimeError("bm25: call index() or load() before retrieve()")
        import numpy as np

        analyze, bm25 = self.analyzer(), self._bm25
        indices, indptr = bm25.scores["indices"], bm25.scores["indptr"]
        n_docs = len(self._doc_ids)
        k = max(min(k, n_docs), 0)
        # Each query's document positions and scores, one query after another in two flat arrays
        # (no padding, no per-query lists), handed to the run as they are: its only copy.
        capacity = max(min(len(queries) * k, _FIRST_CAPACITY), 1)
        codes = np.empty(capacity, dtype=np.int32 if n_docs < 2**31 else np.int64)
        values = np.empty(capacity, dtype=np.float32)
        lengths = np.zeros(len(queries), dtype=np.int64)
        filled = 0
        matched = np.zeros(n_docs, dtype=bool)  # reused: set for a query's documents, then cleared
        nonnegative = self._nonnegative
        # One query at a time, single-threaded: each query's scores are independent of the
        # others and of the thread count, and at these corpus sizes threads gain little.
        with ctx.progress.task("bm25: retrieving", total=len(queries)) as advance:
            for row, text in enumerate(queries.values()):
                term_ids = [bm25.vocab_dict[t] for t in analyze(text) if t in bm25.vocab_dict]
                if term_ids and k > 0:
                    scores = bm25.get_scores_from_ids(term_ids)
                    # Candidates are the documents holding a query term, not those scoring > 0:
                    # bm25l/bm25+ add a constant to every document, and Robertson's clipped idf
                    # scores a matched very common term 0.
                    # With no negative entry in the score matrix, a document holding no query
                    # term has the lowest score there is (0, or bm25l/bm25+'s constant), so one
                    # scoring above the query's lowest holds a term: when the k-th highest score
                    # is above the lowest, at least k do, and those scoring at least the k-th
                    # are the candidates that matter, found without a pass over the postings
                    # (and without an array of every matching document).
                    docs = None
                    if nonnegative and n_docs > k:
                        kth = np.partition(scores, n_docs - k)[n_docs - k]
                        if kth > scores.min():
                            docs = np.flatnonzero(scores >= kth)
                    if docs is None:  # the tie at the lowest score may count: match exactly
                        for t in term_ids:
                            matched[indices[indptr[t] : indptr[t + 1]]] = True
                        docs = np.flatnonzero(matched)
                        matched[docs] = False
                    top = self._top_k(docs, scores[docs], k)
                    if filled + len(top) > len(codes):  # grown in place where the allocator can
                        grown = max(2 * len(codes), filled + len(top))
                        codes.resize(grown, refcheck=False)
                        values.resize(grown, refcheck=False)
                    codes[filled : filled + len(top)] = top
                    values[filled : filled + len(top)] = scores[top]
                    lengths[row] = len(top)
                    filled += len(top)
                advance(1)
        codes.resize(filled, refcheck=False)  # the unused tail returned, not copied
        values.resize(filled, refcheck=False)
        return Run.from_topk(list(queries), self._id_array, codes, values, lengths=lengths)

    def _lookups(self) -> None:
        """What retrieval reads besides the index, made once when the index is built or loaded."""
        import numpy as np

        n_docs = len(self._doc_ids)
        order = sorted(range(n_docs), key=self._doc_ids.__getitem__)
        self._id_rank = np.empty(n_docs, dtype=np.int32 if n_docs < 2**31 else np.int64)
        self._id_rank[order] = np.arange(n_docs)
        del order
        # converted once: per call it cost 40 ns a document (44 ms at 1M)
        self._id_array = np.empty(n_docs, dtype=object)
        self._id_array[:] = self._doc_ids
        self._nonnegative = bool(self._bm25.scores["data"].min(initial=0) >= 0)

    def _top_k(self, docs, scores, k: int):
        """The positions of the first k of ``docs`` in trec_eval's order (score, then id,
        descending), so that a tie at rank k is cut the way trec_eval would order it. Only the
        top k are sorted: a partition finds the k-th score, every document above it is kept, and
        of those tied with it the ones with the greatest ids fill the remaining places."""
        import numpy as np

        if len(docs) > k:
            kth = np.partition(scores, len(scores) - k)[len(scores) - k]
            above = scores > kth
            tied = docs[scores == kth]
            room = k - int(np.count_nonzero(above))
            if len(tied) > room:  # the greatest ids among the tied, in string order
                tied = tied[np.argpartition(-self._id_rank[tied], room - 1)[:room]] if room else tied[:0]
            keep = np.concatenate((docs[above], tied))
            docs, scores = keep, np.concatenate((scores[above], np.full(len(tied), kth, scores.dtype)))
        return docs[np.lexsort((self._id_rank[docs], scores))[::-1]]

    # Persistence for the runner's index cache: bm25s's own files (numpy arrays without pickle,
    # JSON vocabulary) plus our document ids and the parameters that rebuild the query analyzer.

    def save(self, path: Path) -> None:
        if self._bm25 is None:
            raise RuntimeError("bm25: nothing to save, call index() first")
        import bm25s

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._bm25.save(path, allow_pickle=False, show_progress=False)
        meta = {
            "format": FORMAT,
            "params": self.settings(),
            "bm25s": bm25s.__version__,
            "doc_ids": self._doc_ids,
        }
        (path / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    def load(self, path: Path) -> None:
        import bm25s

        path = Path(path)
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"bm25: {path} holds index format {meta.get('format')}, not {FORMAT}")
        if meta["params"] != self.settings():
            # The query analyzer and the scores must match the ones the index was built with.
            raise ValueError(
                f"bm25: the index in {path} was built with {meta['params']}, not {self.settings()}"
            )
        self._bm25 = bm25s.BM25.load(path, allow_pickle=False, show_progress=False)
        self._doc_ids = meta["doc_ids"]
        self._lookups()
