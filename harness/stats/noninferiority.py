"""Non-inferiority verdicts: is a candidate (a compressed pipeline) no worse than its reference
(its uncompressed parent) by a margin δ or more?

Two one-sided paired tests on the per-query differences ``d = b - a`` (``a`` the parent, ``b``
the candidate; higher is better), both computed on the shifted differences ``d + δ`` against 0:

* non-inferiority: H0: mean(d) <= -δ against H1: mean(d) > -δ (``alternative="greater"``);
* inferiority: H0': mean(d) >= -δ against H1': mean(d) < -δ (``alternative="less"``).

The verdict is ``non-inferior`` when H0 is rejected at ``alpha``, else ``inferior`` when H0' is,
else ``inconclusive``. For the t-test this is ``scipy.stats.ttest_1samp(d + δ, 0, alternative=...)``;
for the permutation test, sign flips of ``d + δ``. docs/statistics.md states the rule and why no
correction spans several verdicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from ._common import StatsError, Values, json_float, paired_differences
from .paired import DEFAULT_SAMPLES, TestResult, paired_test

NON_INFERIOR, INFERIOR, INCONCLUSIVE = "non-inferior", "inferior", "inconclusive"
VERDICTS = (NON_INFERIOR, INFERIOR, INCONCLUSIVE)
RULE = ("non-inferior when H0: mean(b - a) <= -margin is rejected (one-sided p <= alpha); otherwise inferior "
        "when H0': mean(b - a) >= -margin is rejected in favour of mean(b - a) < -margin; otherwise inconclusive")


@dataclass(frozen=True)
class NonInferiority:
    """A verdict and the two one-sided tests behind it.

    ``non_inferiority`` tests H0: mean(b - a) <= -margin, ``inferiority`` H0': mean(b - a) >= -margin.
    ``interval`` (t-test only) is the two-sided ``1 - 2 * alpha`` t interval of mean(b - a): the
    verdict is non-inferior when its low end is above -margin, inferior when its high end is below
    -margin (up to ties at the bound). None for the permutation test, which has no interval, and
    for alpha >= 0.5, where a ``1 - 2 * alpha`` interval is empty.
    """

    verdict: str
    margin: float
    alpha: float
    test: str
    mean_difference: float
    n: int
    non_inferiority: TestResult
    inferiority: TestResult
    interval: tuple[float, float] | None = None
    rule: str = RULE

    @property
    def p_value(self) -> float:
        """The p-value of the test that decided: inferiority's for ``inferior``, else non-inferiority's."""
        return (self.inferiority if self.verdict == INFERIOR else self.non_inferiority).p_value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (non-finite numbers become None)."""
        return {
            "verdict": self.verdict, "margin": self.margin, "alpha": self.alpha, "test": self.test,
            "mean_difference": json_float(self.mean_difference), "n": self.n, "p_value": json_float(self.p_value),
            "p_non_inferiority": json_float(self.non_inferiority.p_value),
            "p_inferiority": json_float(self.inferiority.p_value),
            "interval": None if self.interval is None else {
                "low": json_float(self.interval[0]), "high": json_float(self.interval[1]),
                "confidence": 1 - 2 * self.alpha, "method": "t interval of mean(b - a)"},
            "non_inferiority": self.non_inferiority.to_dict(), "inferiority": self.inferiority.to_dict(),
            "rule": self.rule,
        }


def non_inferiority_verdict(a: Values, b: Values, margin: float, *, alpha: float = 0.05, test: str = "t",
                            samples: int = DEFAULT_SAMPLES, seed: int = 0) -> NonInferiority:
    """The verdict for candidate ``b`` against reference ``a`` with margin δ = ``margin`` >= 0, in
    the metric's own units (0.01 nDCG@10), higher being better. ``test``: ``t`` or ``permutation``
    (``samples`` sign patterns, ``seed``), as the ``[stats]`` settings name them."""
    _check(margin, alpha)
    d = paired_differences(a, b)[1]
    if d.size < 2:
        raise StatsError(f"a paired test needs at least 2 queries, got {d.size}")
    shifted = d + float(margin)
    zeros = [0.0] * int(d.size)
    found = {}
    for alternative in ("greater", "less"):
        result = paired_test(zeros, shifted, test=test, alternative=alternative, samples=samples, seed=seed)
        # The tests ran on d + δ against 0; record them as what they are: mean(b - a) against -δ.
        found[alternative] = replace(result, hypothesis=_hypothesis(alternative, margin), margin=float(margin),
                                     mean_difference=float(d.mean()), null_difference=-float(margin))
    if found["greater"].p_value <= alpha:
        verdict = NON_INFERIOR
    elif found["less"].p_value <= alpha:
        verdict = INFERIOR
    else:
        verdict = INCONCLUSIVE
    return NonInferiority(verdict=verdict, margin=float(margin), alpha=float(alpha), test=test,
                          mean_difference=float(d.mean()), n=int(d.size), non_inferiority=found["greater"],
                          inferiority=found["less"],
                          interval=_t_interval(d, alpha) if test == "t" and alpha < 0.5 else None)


def _check(margin: float, alpha: float) -> None:
    for name, value, high in (("margin", margin, math.inf), ("alpha", alpha, 1.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 <= value <= high:
            bound = "a finite number >= 0" if name == "margin" else "a number in [0, 1]"
            raise StatsError(f"{name} must be {bound}, got {value!r}")


def _hypothesis(alternative: str, margin: float) -> str:
    bound = f"-{float(margin)!r}" if margin else "0"
    if alternative == "greater":
        return f"H0: mean(b - a) <= {bound}; H1: mean(b - a) > {bound}"
    return f"H0: mean(b - a) >= {bound}; H1: mean(b - a) < {bound}"


def _t_interval(d, alpha: float) -> tuple[float, float]:
    """Two-sided ``1 - 2 alpha`` t interval of mean(d): each end is a one-sided ``1 - alpha`` bound."""
    mean = float(d.mean())
    spread = float(d.std(ddof=1))
    if spread == 0.0:  # every difference the same: the mean is known exactly
        return mean, mean
    if alpha == 0.0:
        return -math.inf, math.inf
    from scipy import stats

    half = float(stats.t.ppf(1 - alpha, d.size - 1)) * spread / math.sqrt(d.size)
    return mean - half, mean + half


__all__ = ["INCONCLUSIVE", "INFERIOR", "NON_INFERIOR", "RULE", "VERDICTS", "NonInferiority",
           "non_inferiority_verdict"]
