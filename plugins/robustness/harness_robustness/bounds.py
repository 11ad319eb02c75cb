"""Confidence bounds on the mean of a [0, 1] variable from n independent samples, and the top-K
certificate built on them.

One-sided, each at level 1 − δ:

* **Hoeffding**: |mean − E| ≤ sqrt(ln(1/δ) / (2n)) on the side bounded.
* **Empirical Bernstein** (Maurer & Pontil 2009, Theorem 4): E − mean ≤ sqrt(2 V ln(2/δ) / n)
  + 7 ln(2/δ) / (3 (n − 1)), V the unbiased sample variance (and the same for mean − E). Tighter
  than Hoeffding when the scores vary little under smoothing.

Both hold for any distribution on [0, 1]; Clopper–Pearson would not (it is for 0/1 outcomes).

**Certificate** (CertDR's condition, with a bound per document instead of one error term, and
Bonferroni over the documents of the query so that every bound holds at once with probability
≥ 1 − α): among the m candidates of a query, T the top K by the smoothed estimate, each bound at
δ = α / m; the list is certified at radius R when

    min_{d ∈ T} LCB(d)  >  max_{d ∉ T} (UCB(d) + Δ_R(d)).

When every bound holds, no candidate outside T can, by R substitutions of its own words, reach a
smoothed score above any member of T: it stays out of the top K.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

BOUNDS = ("bernstein", "hoeffding")


@dataclass(frozen=True)
class DocStats:
    """The smoothed estimate of one (query, document) pair: n transformed scores' mean and
    unbiased variance."""

    n: int
    mean: float
    variance: float

    @classmethod
    def of(cls, values: Sequence[float]) -> DocStats:
        n = len(values)
        mean = math.fsum(values) / n
        variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
        return cls(n, mean, variance)


def width(stats: DocStats, delta: float, bound: str) -> float:
    """The one-sided deviation at level 1 − ``delta`` (module docstring)."""
    n = stats.n
    if bound == "hoeffding":
        return math.sqrt(math.log(1 / delta) / (2 * n))
    if bound == "bernstein":
        if n < 2:
            return math.inf
        log = math.log(2 / delta)
        return math.sqrt(2 * stats.variance * log / n) + 7 * log / (3 * (n - 1))
    raise ValueError(f"unknown bound {bound!r}; accepted: {BOUNDS}")


@dataclass(frozen=True)
class Certificate:
    """A query's certificate at one radius: whether it holds, and the two sides of the condition."""

    certified: bool
    lower: float  # min over the top K of the lower bounds
    upper: float  # max over the rest of upper bound + Δ_R (−inf when no candidate is outside)


def certify(top: Sequence[DocStats], rest: Sequence[tuple[DocStats, float]], alpha: float, bound: str) -> Certificate:
    """The certificate of a query whose top K candidates have ``top`` estimates and whose other
    candidates have ``rest`` (estimate, Δ_R); every bound at α / m, m = len(top) + len(rest)."""
    m = len(top) + len(rest)
    delta = alpha / m
    lower = min((s.mean - width(s, delta, bound) for s in top), default=math.inf)
    upper = max((s.mean + width(s, delta, bound) + budget for s, budget in rest), default=-math.inf)
    return Certificate(lower > upper, lower, upper)
