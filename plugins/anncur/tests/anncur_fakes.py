"""Test scorers for the anncur plugin: pair scorers whose score matrix has a known rank."""

from __future__ import annotations

import hashlib

from harness.sdk import Param, Ranker


def vector(text: str, rank: int, salt: str):
    """A deterministic standard-normal vector of ``rank`` entries for ``text`` (equal texts, equal vectors)."""
    import numpy as np

    seed = int.from_bytes(hashlib.sha256(f"{salt}\0{text}".encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(rank)


class LowRank(Ranker):
    """Scores s(q, d) = φ(q) · ψ(d), φ and ψ seeded by the texts: a score matrix of rank ``rank``."""

    name = "low-rank"
    params = {"rank": Param(int, 3, "the rank of the score matrix", min=1),
              "salt": Param(str, "", "changes every vector (a different scorer of the same rank)")}

    def __init__(self, **params):
        super().__init__(**params)
        self.calls: list[tuple[str, int]] = []  # (query, number of texts), every call

    def score_pairs(self, query, texts, ctx):
        self.calls.append((query, len(texts)))
        q = vector(query, self.rank, "q" + self.salt)
        return [float(q @ vector(t, self.rank, "d" + self.salt)) for t in texts]
