"""Seeded perturbations of a collection's documents: character noise and synonym substitution.

Each document is perturbed by a random generator of its own, seeded by the seed and the document's
id, so its perturbed text does not depend on the corpus order or on the other documents. Title and
text are both perturbed; queries and judgments are kept. In order:

1. **Synonyms**: each word found in the plugin's synonym list (``synonyms.tsv``, package data) is
   replaced, with probability ``synonyms``, by one of its replacements, chosen uniformly, in the
   word's case (``Flow`` → ``Stream``).
2. **Character noise**: each letter is edited with probability ``noise``: deleted, followed by an
   inserted random letter (a–z), or swapped with the next character when that is a letter (else
   replaced by a random letter), the three equally likely.

Rates of 0 leave a document exactly as it was.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources

from harness.sdk import Collection, Document, gather_documents

LETTERS = "abcdefghijklmnopqrstuvwxyz"
WORD = re.compile(r"[^\W\d_]+")  # runs of letters, Unicode-aware


@dataclass
class Counts:
    """What a perturbation changed, for the metric's details."""

    documents_changed: int = 0
    characters_edited: int = 0
    words_substituted: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=1)
def synonym_table() -> dict[str, tuple[str, ...]]:
    """``{word: replacements}`` from the packaged ``synonyms.tsv``."""
    table = {}
    text = resources.files(__package__).joinpath("synonyms.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            word, replacements = line.split("\t")
            table[word.strip().lower()] = tuple(r.strip() for r in replacements.split(",") if r.strip())
    return table


def perturb_collection(collection: Collection, noise: float, synonyms: float, seed: int) -> tuple[Collection, Counts]:
    """A copy of ``collection`` whose documents are perturbed (same ids, queries and qrels)."""
    counts = Counts()

    def perturbed_docs():
        for doc in collection.docs:
            rng = random.Random(f"{seed}\x00{doc.id}")  # str seeds hash with SHA-512: stable across processes
            title, text = (perturb_text(value, rng, noise, synonyms, counts) for value in (doc.title, doc.text))
            if (title, text) != (doc.title, doc.text):
                counts.documents_changed += 1
            yield Document(doc.id, text, title)

    # Held where the original is: a corpus on disk gets its perturbed copy on disk too.
    docs = gather_documents(perturbed_docs(), "disk" if collection.on_disk else "memory")
    perturbed = Collection(f"{collection.name}~perturbed", docs, collection.queries, collection.qrels,
                           collection.fields, {**collection.metadata,
                                               "perturbation": {"noise": noise, "synonyms": synonyms, "seed": seed}})
    return perturbed, counts


def perturb_text(text: str, rng: random.Random, noise: float, synonyms: float, counts: Counts) -> str:
    if synonyms > 0:
        text = _substitute(text, rng, synonyms, counts)
    if noise > 0:
        text = _noise(text, rng, noise, counts)
    return text


def _substitute(text: str, rng: random.Random, rate: float, counts: Counts) -> str:
    table = synonym_table()

    def replace(match: re.Match) -> str:
        word = match.group()
        options = table.get(word.lower())
        if not options or rng.random() >= rate:
            return word
        counts.words_substituted += 1
        new = rng.choice(options)
        if word.isupper() and len(word) > 1:
            return new.upper()
        return new[:1].upper() + new[1:] if word[:1].isupper() else new

    return WORD.sub(replace, text)


def _noise(text: str, rng: random.Random, rate: float, counts: Counts) -> str:
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if not char.isalpha() or rng.random() >= rate:
            out.append(char)
            i += 1
            continue
        counts.characters_edited += 1
        edit = rng.randrange(3)
        if edit == 1:  # insertion after the letter
            out += [char, rng.choice(LETTERS)]
        elif edit == 2 and i + 1 < len(text) and text[i + 1].isalpha():  # swap with the next letter
            out += [text[i + 1], char]
            i += 1
        elif edit == 2:  # no letter to swap with: replaced
            out.append(rng.choice(LETTERS))
        i += 1  # edit 0: deleted
    return "".join(out)
