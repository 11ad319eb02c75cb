"""The suite's ``[stats]`` table: declared keys (``STATS_PARAMS``) and the resolved settings.

Imports nothing heavy: the suite schema imports ``STATS_PARAMS`` at CLI startup.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..params import Param

TESTS = ("t", "permutation")
"""``t``: paired t-test; ``permutation``: paired randomisation (sign-flip) test."""
CORRECTIONS = ("holm", "bonferroni", "none")
ALTERNATIVES = ("two-sided", "greater", "less")
INTERVALS = ("primary", "all")
"""Which leaderboard metrics get intervals: bootstrapping every metric of every cell takes time."""

STATS_PARAMS = {
    "baseline": Param(str, None, "pipeline the others are compared with", nullable=True),
    "alpha": Param(float, 0.05, "significance level: significant when the corrected p-value <= alpha",
                   min=0.0, max=1.0),
    "test": Param(str, "t", "paired test: t (paired t-test) or permutation (sign-flip randomisation)",
                  choices=TESTS),
    "correction": Param(str, "holm", "multiple-comparison correction across a family of tests",
                        choices=CORRECTIONS),
    "bootstrap_samples": Param(int, 10_000, "bootstrap resamples per confidence interval", min=100),
    "permutation_samples": Param(int, 10_000, "random sign flips per permutation test (exact when 2^n <= this)",
                                 min=100),
    "confidence": Param(float, 0.95, "confidence level of the bootstrap intervals", min=0.5, max=0.999),
    "seed": Param(int, None, "seed of bootstrap and permutation draws; default: the suite's seed", nullable=True),
    "intervals": Param(str, "primary", "leaderboard metrics given bootstrap intervals: primary (the first "
                       "metric) or all", choices=INTERVALS),
    "margin": Param(float, None, "non-inferiority margin, in the units of margin_metric (0.01 nDCG@10): each "
                    "compressed pipeline is labelled non-inferior, inferior or inconclusive against its parent; "
                    "null = no verdicts", nullable=True, min=0.0),
    "margin_metric": Param(str, None, "the metric the margin is in; default: the suite's first metric",
                           nullable=True),
}


@dataclass(frozen=True)
class StatsSettings:
    """The ``[stats]`` table with every default filled in and the seed resolved."""

    baseline: str | None = None
    alpha: float = 0.05
    test: str = "t"
    correction: str = "holm"
    bootstrap_samples: int = 10_000
    permutation_samples: int = 10_000
    confidence: float = 0.95
    seed: int = 0
    intervals: str = "primary"
    margin: float | None = None
    margin_metric: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stats_settings(table: dict[str, Any] | None = None, suite_seed: int = 0) -> StatsSettings:
    """Resolved settings from a (validated) ``[stats]`` table; a null or absent seed is ``suite_seed``.

    Keys this module does not declare are ignored (the validator has reported them already); a
    value that fails its declaration raises ``ValueError`` naming the key.
    """
    table = dict(table or {})
    values: dict[str, Any] = {}
    for key, param in STATS_PARAMS.items():
        if key in table:
            why = param.check(table[key])
            if why:
                raise ValueError(f"stats.{key}: {why}")
            values[key] = table[key]
        else:
            values[key] = param.default
    if values["seed"] is None:
        values["seed"] = suite_seed
    return StatsSettings(**values)
