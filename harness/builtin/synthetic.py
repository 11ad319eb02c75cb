"""``synthetic``: a seeded synthetic collection of any size (harness/synthetic.py), for growth
curves and for trying a large-collection suite without its download."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from ..collection import Collection
from ..components import Context, DatasetProvider
from ..corpus import goes_to_disk
from ..datasets import DatasetError
from ..params import Param
from ..synthetic import SyntheticSpec, generate

_COUNT = re.compile(r"([0-9]+(?:\.[0-9]+)?)([kKmM]?)")
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000}


def parse_count(value: Any) -> int | None:
    """A document count: an integer, or a string such as ``"300000"``, ``"300k"``, ``"1M"``,
    ``"2.5k"`` (a suite's ``source = "synthetic:300k"`` gives a string); None when it is neither
    or not a whole positive number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    match = _COUNT.fullmatch(value.strip())
    if not match:
        return None
    # Exact decimal arithmetic: with floats "1.005k" is 1004.9999999999999 (refused) and
    # "12345678901234567890" silently became 12345678901234567168.
    number = Fraction(match[1]) * _SCALE[match[2].lower()]
    return int(number) if number.denominator == 1 and number > 0 else None


_PARAM = {"queries": "topics"}  # the generator's names that differ from the provider's


class CountParam(Param):
    """A positive document count written as an integer or as ``"300k"`` / ``"1M"``."""

    def check(self, value: Any) -> str | None:
        if parse_count(value) is None:
            return f"must be a positive whole number of documents such as 300000, '300k' or '1M', got {value!r}"
        return None


class SyntheticProvider(DatasetProvider):
    """A seeded synthetic collection: Zipfian words, queries with planted, graded relevant documents."""

    name = "synthetic"
    source_param = "documents"  # source = "synthetic:100k"
    params = {
        "documents": CountParam((int, str), help="number of documents: 100000, '100k' or '1M'"),
        # Not "queries": that key is the dataset entry's query subset ({first = N}).
        "topics": Param(int, 100, "number of queries, all judged", min=1),
        "vocabulary": Param(int, 100_000, "distinct words; word i is drawn with probability ∝ (i + 1)^-zipf",
                            min=10),
        "zipf": Param(float, 1.07, "Zipf exponent of the word distribution (1.07: close to English text)",
                      min=0.01),
        "doc_length": Param(float, 60.0, "mean document length in words (Poisson)", min=1),
        "query_length": Param(int, 4, "words per query, from its topic of 2 x query_length rare words", min=1),
        "relevant": Param(int, 5, "relevant documents per query, graded 3, 2, 1, 3, 2, ...", min=1),
        "seed": Param(int, 0, "the generator's seed: same parameters and seed, same collection", min=0),
    }

    def spec(self, on_disk: bool = False) -> SyntheticSpec:
        """The generator's parameters; problems of how they combine raise ``DatasetError``
        naming the parameter (``params.relevant ...``), as ``harness validate`` names the others.
        ``on_disk``: the documents will go to disk (the memory and disk checks differ)."""
        spec = SyntheticSpec(documents=parse_count(self.documents), queries=self.topics,
                             vocabulary=self.vocabulary, zipf=float(self.zipf), doc_length=float(self.doc_length),
                             query_length=self.query_length, relevant=self.relevant, seed=self.seed)
        problems = spec.problems(on_disk)
        if problems:
            raise DatasetError("; ".join(f"params.{_PARAM.get(key, key)} {why}" for key, why in problems))
        return spec

    def load(self, ctx: Context) -> Collection:
        on_disk = goes_to_disk(ctx.corpus_store, parse_count(self.documents))
        spec = self.spec(on_disk)
        with ctx.progress.task(f"synthetic collection, {spec.documents:,} documents"):
            return generate(spec, name=f"synthetic-{self.documents}", gather=ctx.documents, on_disk=on_disk)
