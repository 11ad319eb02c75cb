"""A seeded synthetic test collection: a Zipfian corpus with queries whose relevant documents are
planted, so that measures on it mean something, at any size (the growth benchmark's 10k to 1M).

``generate(SyntheticSpec(...))`` returns a ``Collection``; the ``synthetic`` dataset provider
(builtin/synthetic.py) makes it a suite's ``source = "synthetic:100k"``. docs/datasets.md gives
the model; in short:

- the vocabulary is ``vocabulary`` words; word ``i`` is a fixed spelling of ``i`` (``word(i)``,
  two or more consonant-vowel syllables), the same in every collection, so that a model's
  vocabulary file built once (``python -m harness.synthetic model FOLDER``) covers them all;
- document lengths are Poisson(``doc_length``), at least 1; every token is drawn independently
  from a Zipf distribution over the vocabulary, P(rank r) ∝ r^-``zipf``;
- each query has a topic: 2 × ``query_length`` distinct words drawn uniformly from the rarer 90 %
  of the vocabulary (ranks ≥ vocabulary / 10); its text is ``query_length`` of them;
- each query has ``relevant`` documents of its own (no document is relevant to two queries),
  graded 3, 2, 1, 3, 2, ... in turn; a document of grade g gets 2 g of its tokens replaced by
  words of its query's topic (drawn with replacement), so a higher grade shares more words
  with the query and a lexical ranker can find it: nDCG well above random, not 1.

Everything is drawn from one ``numpy.random.Generator(PCG64(seed))`` in a fixed order, so the same
parameters give the same collection, byte for byte, on every machine (``test_synthetic.py``).
Documents are made in chunks (one array of token ids, one ``join`` and one ``split`` per chunk),
so memory is the collection's strings plus one chunk: about 0.7 GB for a million documents;
``SyntheticSpec.problems()`` refuses a collection whose estimate exceeds the machine's memory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from .collection import Collection, Document

CONSONANTS = "bdfgklmnprstvz"  # 14 x 5 = 70 syllables; no "h", so no English stopword is spelled
VOWELS = "aeiou"
SYLLABLES = [c + v for c in CONSONANTS for v in VOWELS]
TOPIC_FACTOR = 2  # a topic holds TOPIC_FACTOR x query_length words
RARE_FROM = 0.1  # topic words are drawn from ranks >= RARE_FROM x vocabulary
GRADES = (3, 2, 1)  # the grades of a query's relevant documents, in turn
PLANTED_PER_GRADE = 2  # topic tokens planted in a document per grade point
CHUNK = 1 << 16  # documents made at once: bounds the temporary arrays


@dataclass(frozen=True)
class SyntheticSpec:
    """The parameters of a synthetic collection; ``problems()`` says which are out of range."""

    documents: int = 10_000
    queries: int = 100
    vocabulary: int = 100_000
    zipf: float = 1.07
    doc_length: float = 60.0
    query_length: int = 4
    relevant: int = 5
    seed: int = 0

    def problems(self, on_disk: bool = False) -> list[tuple[str, str]]:
        """(parameter, why) for each value that cannot make a collection; ``on_disk``: its
        documents go to disk as they are made (harness/corpus.py), so only their ids stay in
        memory, and the texts must fit on the temporary folder's disk instead."""
        found = []
        for name, low in (("documents", 1), ("queries", 1), ("query_length", 1), ("relevant", 1),
                          ("vocabulary", 10)):  # fmt: skip
            if getattr(self, name) < low:
                found.append((name, f"must be >= {low}, got {getattr(self, name)!r}"))
        if self.zipf <= 0:
            found.append(("zipf", f"must be > 0, got {self.zipf!r}"))
        if self.doc_length < 1:
            found.append(("doc_length", f"must be >= 1, got {self.doc_length!r}"))
        if not found and self.queries * self.relevant > self.documents:
            found.append(("relevant", f"{self.queries:,} queries x {self.relevant:,} relevant documents each = "
                          f"{self.queries * self.relevant:,}, more than the {self.documents:,} documents (a "
                          "document is relevant to one query at most)"))
        rare = self.vocabulary - int(self.vocabulary * RARE_FROM)
        if not found and TOPIC_FACTOR * self.query_length > rare:
            found.append(("query_length", f"a topic of {TOPIC_FACTOR * self.query_length} words needs at least as "
                          f"many rare words; the vocabulary has {rare} (ranks >= {RARE_FROM:.0%} of it)"))
        # Refuse a collection that cannot fit before allocating any of it: "1000000M" (or a huge
        # doc_length or vocabulary) would otherwise end in a MemoryError deep in numpy, or in the
        # OOM killer after minutes of generating.
        memory, needed = physical_memory(), self.estimated_bytes(on_disk)
        if not found and memory is not None and needed > memory:
            kept = self.documents * (BYTES_PER_ID if on_disk else (self.doc_length + 1) * BYTES_PER_TOKEN)
            key = max(("documents", kept), ("vocabulary", self.vocabulary * BYTES_PER_WORD), key=lambda kv: kv[1])[0]
            found.append((key, f"{self.documents:,} documents of {self.doc_length:g} words over a vocabulary of "
                          f"{self.vocabulary:,} words need about {needed / 1e9:,.1f} GB of memory, "
                          f"more than this machine's {memory / 1e9:,.1f} GB"))
        if not found and on_disk:
            import shutil
            import tempfile

            folder = tempfile.gettempdir()
            free, size = shutil.disk_usage(folder).free, self.documents * (self.doc_length + 1) * DISK_BYTES_PER_TOKEN
            if size > free:
                found.append(("documents", f"{self.documents:,} documents of {self.doc_length:g} words need about "
                              f"{size / 1e9:,.1f} GB on disk, more than the {free / 1e9:,.1f} GB free in {folder} "
                              "(TMPDIR chooses the folder)"))
        return found

    def estimated_bytes(self, on_disk: bool = False) -> float:
        """The collection's approximate peak memory, an upper bound of what tracemalloc measures
        (tests/test_synthetic_adversarial.py): the documents' strings (``on_disk``: their ids
        only), one chunk's temporaries (its uniform draws, token ids, their Python list, the joined
        text) and the vocabulary's words."""
        tokens = self.doc_length + 1  # a document's words and its "\n"
        kept = self.documents * (BYTES_PER_ID if on_disk else tokens * BYTES_PER_TOKEN)
        return (kept + min(self.documents, CHUNK) * tokens * CHUNK_BYTES_PER_TOKEN
                + self.vocabulary * BYTES_PER_WORD + self.queries * TOPIC_FACTOR * self.query_length * 8)


BYTES_PER_TOKEN = 12  # kept: the documents' strings, measured at 8.7 bytes a token (tracemalloc)
BYTES_PER_ID = 80  # kept for a corpus on disk: an id's str and list slot, measured at 64 (1M: 64 MB)
DISK_BYTES_PER_TOKEN = 9  # a token's UTF-8 bytes on disk: a synthetic word (3-10 letters) and a space
CHUNK_BYTES_PER_TOKEN = 40  # a chunk's temporaries, measured at about 30 bytes a token
BYTES_PER_WORD = 200  # a word's str, its list slot, the cumulative distribution's float


def physical_memory() -> int | None:
    """This machine's physical memory in bytes, or the container's limit (cgroup v2) when lower:
    the OOM killer acts on the limit. None where the OS does not say (no refusal then)."""
    try:
        found = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return found
    return min(found, int(limit)) if limit.isdecimal() else found


def word(i: int) -> str:
    """The spelling of vocabulary word ``i`` (0 = the commonest): ``i + 70`` in base 70, one
    syllable per digit, so every word has two syllables or more and no two words are alike."""
    n, out = i + len(SYLLABLES), []
    while n:
        n, digit = divmod(n, len(SYLLABLES))
        out.append(SYLLABLES[digit])
    return "".join(reversed(out))


def words(vocabulary: int) -> list[str]:
    """``word(i)`` for every ``i < vocabulary``, built digit by digit with numpy (a million in 0.3 s)."""
    import numpy as np

    syllables = np.array(SYLLABLES, dtype=object)
    n = np.arange(vocabulary, dtype=np.int64) + len(SYLLABLES)
    spelled = np.full(vocabulary, "", dtype=object)
    while n.any():
        live = n > 0
        spelled[live] = syllables[n[live] % len(SYLLABLES)] + spelled[live]
        n //= len(SYLLABLES)
    return spelled.tolist()


def generate(spec: SyntheticSpec, name: str = "synthetic",
             gather: Callable[[Iterable[Document]], Sequence[Document]] = list, on_disk: bool = False) -> Collection:
    """The collection ``spec`` describes (see the module's docstring). Raises ``ValueError`` naming
    the parameter when ``spec.problems()`` finds one; the provider reports them first. The
    documents are made a chunk at a time and handed to ``gather`` as made (the provider's
    ``Context.documents``: a large corpus goes to disk without ever being held whole; say so with
    ``on_disk``, which the memory check then takes into account)."""
    import numpy as np

    problems = spec.problems(on_disk)
    if problems:
        raise ValueError("; ".join(f"{key} {why}" for key, why in problems))
    rng = np.random.Generator(np.random.PCG64(spec.seed))
    vocab = words(spec.vocabulary)
    cdf = np.cumsum(np.arange(1, spec.vocabulary + 1, dtype=np.float64) ** -spec.zipf)
    cdf /= cdf[-1]

    # Topics and queries first, so that the corpus's draws do not shift them (a query's text does
    # not change with the number of documents: grow a collection, keep its queries).
    n_q, per_topic = spec.queries, TOPIC_FACTOR * spec.query_length
    rare_from = int(spec.vocabulary * RARE_FROM)
    topics = np.empty((n_q, per_topic), dtype=np.int64)
    for q in range(n_q):  # distinct words within a topic; a few hundred to thousands of queries
        topics[q] = rare_from + rng.choice(spec.vocabulary - rare_from, per_topic, replace=False)
    queries = {f"q{q}": " ".join(vocab[w] for w in topics[q, : spec.query_length]) for q in range(n_q)}

    # Relevant documents: distinct across queries, graded in turn.
    relevant = rng.choice(spec.documents, n_q * spec.relevant, replace=False).reshape(n_q, spec.relevant)
    grades = np.resize(np.array(GRADES), spec.relevant)
    qrels = {f"q{q}": {f"d{d}": int(g) for d, g in zip(relevant[q].tolist(), grades.tolist(), strict=True)}
             for q in range(n_q)}

    lengths = np.maximum(rng.poisson(spec.doc_length, spec.documents), 1)
    planted = np.zeros(spec.documents, dtype=np.int64)  # planted tokens per document
    planted[relevant.ravel()] = np.tile(grades * PLANTED_PER_GRADE, n_q)
    lengths = np.maximum(lengths, planted)  # room for them
    topic_of = np.full(spec.documents, -1, dtype=np.int64)
    topic_of[relevant.ravel()] = np.repeat(np.arange(n_q), spec.relevant)

    docs = gather(_documents(spec, rng, cdf, vocab, lengths, planted, topic_of, topics))
    metadata = {"synthetic": asdict(spec)}
    return Collection(name, docs, queries, qrels, metadata=metadata)


def _documents(spec, rng, cdf, vocab, lengths, planted, topic_of, topics) -> Iterator[Document]:
    """The documents, chunk by chunk; a newline token (id = vocabulary) ends each document, so
    one join and one split make a chunk's texts."""
    import numpy as np

    table = [*vocab, "\n"]
    for start in range(0, spec.documents, CHUNK):
        stop = min(start + CHUNK, spec.documents)
        sizes = lengths[start:stop]
        ends = np.cumsum(sizes + 1)  # each document's tokens, then its "\n"
        ids = np.searchsorted(cdf, rng.random(int(ends[-1])), side="right")
        np.minimum(ids, spec.vocabulary - 1, out=ids)  # a draw of exactly 1.0 - eps rounding
        ids[ends - 1] = spec.vocabulary
        _plant(rng, ids, ends - sizes - 1, sizes, planted[start:stop], topic_of[start:stop], topics)
        texts = " ".join([table[i] for i in ids.tolist()]).split(" \n ")
        texts[-1] = texts[-1].removesuffix(" \n")
        yield from (Document(f"d{i}", text) for i, text in enumerate(texts, start))


def _plant(rng, ids, starts, sizes, planted, topic_of, topics) -> None:
    """Replace ``planted[i]`` tokens of document ``i`` of this chunk (at distinct positions) by
    words of its topic; a loop over the relevant documents only (queries x relevant)."""
    for i in (planted > 0).nonzero()[0].tolist():
        at = starts[i] + rng.choice(sizes[i], planted[i], replace=False)
        ids[at] = topics[topic_of[i], rng.integers(0, topics.shape[1], planted[i])]


def tiny_model(folder: str | Path, vocabulary: int = 100_000, seed: int = 0) -> Path:
    """Write a tiny randomly initialised BERT (hidden size 32, 2 layers: ~3.3 M weights, almost all
    the word embeddings) whose vocabulary is the synthetic words: each synthetic word is one token,
    so a document of 60 words is 62 tokens. Its vectors are meaningless; it times encoding and
    search at any scale, as a real model's plumbing would, at a small fraction of the cost. The
    weights come from torch's generator seeded with ``seed``: the same folder every time."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    (folder / "vocab.txt").write_text("\n".join([*specials, *words(vocabulary)]) + "\n", encoding="utf-8")
    # transformers 5 ignores BertTokenizerFast(vocab_file=...): load the folder instead.
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        vocab_size=len(specials) + vocabulary, max_position_embeddings=512)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.synthetic model FOLDER [VOCABULARY]``: write ``tiny_model`` there."""
    args = sys.argv[1:] if argv is None else argv
    usage = "usage: python -m harness.synthetic model FOLDER [VOCABULARY (default 100000)]"
    if len(args) not in (2, 3) or args[0] != "model":
        print(usage, file=sys.stderr)
        return 2
    # A user's typo must get a message, not a traceback (int("abc"), or numpy's "negative dimensions").
    vocabulary = int(args[2]) if len(args) == 3 and args[2].isdecimal() and args[2].isascii() else None
    if len(args) == 3 and (vocabulary is None or vocabulary < 1):
        print(f"VOCABULARY must be a whole number >= 1, got {args[2]!r}\n{usage}", file=sys.stderr)
        return 2
    folder = tiny_model(args[1], vocabulary or 100_000)
    print(f"tiny model with the synthetic vocabulary written to {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
