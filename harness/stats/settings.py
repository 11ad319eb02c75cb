"""The suite's ``[stats]`` table: ``StatsSettings`` declares its keys (``STATS_PARAMS``) and defaults.

Imports nothing heavy: the suite (harness/suite/sections.py) imports ``StatsSettings`` at CLI startup.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ..params import params_of, setting

TESTS = ("t", "permutation")
"""``t``: paired t-test; ``permutation``: paired randomisation (sign-flip) test."""
CORRECTIONS = ("holm", "bonferroni", "none")
ALTERNATIVES = ("two-sided", "greater", "less")
INTERVALS = ("primary", "all")
"""Which leaderboard metrics get intervals: bootstrapping every metric of every cell takes time."""
MAX_SAMPLES = 1_000_000
"""The most resamples or sign flips a setting may ask for: more changes no reported digit, and a
results folder whose run.json asks for 10**12 would keep ``harness leaderboard`` busy for days."""
SEED_MAX = 2**64 - 1
"""Seeds are integers from 0 to this (numpy's generators refuse negative ones)."""


@dataclass(frozen=True)
class StatsSettings:
    """The suite's ``[stats]`` table: each key with its type, default and help (docs/suite-format.md).

    ``Suite.stats`` holds the table as written (a null ``seed``: the suite's); ``stats_settings``
    resolves the seed.
    """

    baseline: str | None = setting(None, "pipeline the others are compared with")
    alpha: float = setting(0.05, "significance level: significant when the corrected p-value <= alpha",
                           min=0.0, max=1.0)
    test: str = setting("t", "paired test: t (paired t-test) or permutation (sign-flip randomisation)",
                        choices=TESTS)
    correction: str = setting("holm", "multiple-comparison correction across a family of tests",
                              choices=CORRECTIONS)
    bootstrap_samples: int = setting(10_000, "bootstrap resamples per confidence interval", min=100,
                                     max=MAX_SAMPLES)
    permutation_samples: int = setting(10_000, "random sign flips per permutation test (exact when 2^n <= "
                                       "this)", min=100, max=MAX_SAMPLES)
    confidence: float = setting(0.95, "confidence level of the bootstrap intervals", min=0.5, max=0.999)
    seed: int | None = setting(None, "seed of bootstrap and permutation draws; default: the suite's seed",
                               min=0, max=SEED_MAX)
    intervals: str = setting("primary", "leaderboard metrics given bootstrap intervals: primary (the first "
                             "metric) or all", choices=INTERVALS)
    margin: float | None = setting(None, "non-inferiority margin, in the units of margin_metric (0.01 "
                                   "nDCG@10): each compressed pipeline is labelled non-inferior, inferior or "
                                   "inconclusive against its parent; null = no verdicts", min=0.0)
    margin_metric: str | None = setting(None, "the metric the margin is in; default: the suite's first metric")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def resolved(self, suite_seed: int) -> StatsSettings:
        """These settings with a null ``seed`` replaced by the suite's."""
        return self if self.seed is not None else replace(self, seed=suite_seed)


STATS_PARAMS = params_of(StatsSettings)
"""The ``[stats]`` keys as the suite validator checks them (from ``StatsSettings``)."""


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
    return StatsSettings(**values).resolved(suite_seed)
