"""Randomized smoothing of a document under word substitution: the samples, the attack budget,
and the fixed map of scores to [0, 1].

**Samples.** Every word of a text (a run of letters, as perturb.py finds them) that has a
perturbation set S(w) of size > 1 (synsets.py) is a *slot*. One smoothed sample replaces every slot,
independently, by a word drawn uniformly from S(w) (the word itself included), in the original
word's case (``Flow`` → ``Stream``, ``FLOW`` → ``STREAM``); the rest of the text is kept byte for
byte. The samples of a document are drawn by a generator seeded with (seed, document id), so a
document has the same samples for every query, in every process (docs/plugins/robustness.md).

**Budget.** An attacker replaces at most R words of the document, each by one of its listed
replacements. The smoothing distributions of the original and the attacked text are products
over the slots; they differ only at the replaced positions, and the overlap of two product
distributions is at least the product of the per-position overlaps. So their total-variation
distance is at most Δ_R(d) = 1 − ∏ β(w), the product over the R slots of d with the smallest
overlaps β (fewer when d has fewer slots that can be attacked). For any score f with values in
[0, 1], |E f(attacked sample) − E f(original sample)| ≤ Δ_R(d).

**Transform.** Scores are mapped to [0, 1] by a transform fixed before any score is seen (a
transform fitted to the scores, e.g. min-max over the candidates, would make the bound's range
depend on the data and void it): ``minmax`` maps [low, high] linearly onto [0, 1] and clips
outside; ``sigmoid`` is 1 / (1 + exp(−(s − center) / scale)).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from .synsets import WORD, SynonymTable

TRANSFORMS = ("minmax", "sigmoid")


@dataclass(frozen=True)
class Slots:
    """A text cut at its substitutable words: ``pieces[i]`` precedes slot i (the last piece
    follows the last slot); ``options[i]`` are slot i's words in their case, the original first."""

    pieces: tuple[str, ...]
    options: tuple[tuple[str, ...], ...]
    overlaps: tuple[float, ...]  # β of each slot's original word (1.0: the attacker has no replacement)

    def samples(self, n: int, rng: random.Random) -> list[str]:
        """``n`` smoothed copies of the text."""
        if not self.options:
            return ["".join(self.pieces)] * n
        out = []
        pieces, options = self.pieces, self.options
        for _ in range(n):
            parts = [pieces[0]]
            for i, choices in enumerate(options):
                parts.append(choices[int(rng.random() * len(choices))])
                parts.append(pieces[i + 1])
            out.append("".join(parts))
        return out

    def budget(self, radius: int) -> float:
        """Δ_R: the largest change of the smoothed mean of any [0, 1] score when ``radius`` words
        are replaced (module docstring)."""
        if radius <= 0:
            return 0.0
        smallest = sorted(self.overlaps)[:radius]
        product = 1.0
        for beta in smallest:
            product *= beta
        return 1.0 - product


def slots(text: str, table: SynonymTable, mode: str) -> Slots:
    """``text`` cut at the words whose perturbation set under ``mode`` has more than one word."""
    sets, overlaps = table.sets(mode), table.overlaps(mode)
    pieces, options, betas, last = [], [], [], 0
    for match in WORD.finditer(text):
        word = match.group()
        members = sets.get(word.lower())
        if not members or len(members) < 2:
            continue
        pieces.append(text[last:match.start()])
        lower = word.lower()
        ordered = (lower, *(m for m in members if m != lower))
        options.append(tuple(_cased(m, word) for m in ordered))
        betas.append(overlaps.get(lower, 1.0))  # a set member that is no key has no replacement to attack with
        last = match.end()
    pieces.append(text[last:])
    return Slots(tuple(pieces), tuple(options), tuple(betas))


def _cased(new: str, word: str) -> str:
    """``new`` in ``word``'s case, as perturb.py cases substitutions."""
    if word.isupper() and len(word) > 1:
        return new.upper()
    return new[:1].upper() + new[1:] if word[:1].isupper() else new


@dataclass(frozen=True)
class Transform:
    """The fixed map of scores to [0, 1] (module docstring)."""

    kind: str
    low: float = 0.0
    high: float = 1.0
    center: float = 0.0
    scale: float = 1.0

    def __call__(self, scores: Sequence[float]) -> list[float]:
        if self.kind == "minmax":
            span = self.high - self.low
            return [min(1.0, max(0.0, (s - self.low) / span)) for s in scores]
        out = []
        for s in scores:
            z = (s - self.center) / self.scale
            out.append(1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z)))
        return out

    def describe(self) -> str:
        if self.kind == "minmax":
            return f"min(1, max(0, (s - {self.low}) / ({self.high} - {self.low})))"
        return f"1 / (1 + exp(-(s - {self.center}) / {self.scale}))"
