"""Statistics for leaderboards: intervals, paired tests, multiple-comparison corrections, tie groups.

Pure functions on per-query values (``{query id: value}`` dicts, or aligned arrays); no I/O. Every
random choice comes from ``numpy.random.default_rng(seed)``, and every result records how it was
computed (test, alternative, samples, seed, correction) so results JSON can carry it
(``result.to_dict()``). docs/statistics.md defines each method and cites its reference.

* ``bootstrap_ci``: percentile bootstrap interval of a statistic over queries (``Interval``).
* ``paired_t_test``, ``permutation_test``, ``non_inferiority_test``: paired tests of
  ``mean(b - a)`` over the queries both systems scored (``TestResult``).
* ``holm``, ``bonferroni``, ``adjust``: p-values corrected across a family of comparisons.
* ``compare_to_baseline``: each system against the baseline, corrected (``Comparison``).
* ``rank_groups``: every pair tested, Holm-corrected, summarised as a compact letter display
  (Piepho's insert-absorb algorithm; ``RankGroups``). ``compact_letter_display`` on its own.
* ``non_inferiority_verdict``: non-inferior, inferior or inconclusive within a margin, from two
  one-sided paired tests (``NonInferiority``; a compressed pipeline against its parent).
* ``mean_across_datasets``: the macro average over a suite's datasets with a stratified bootstrap
  interval (``MacroMean``).
* ``STATS_PARAMS``, ``stats_settings``: the suite's ``[stats]`` table and its resolved settings.

Importing this package (or ``harness.stats.settings``) imports neither numpy nor scipy: names load
from their modules on first use, so the suite schema can import the settings at CLI startup.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "StatsError": "_common",
    "paired_values": "_common",
    "paired_differences": "_common",
    "Interval": "intervals",
    "bootstrap_ci": "intervals",
    "MacroMean": "intervals",
    "mean_across_datasets": "intervals",
    "TestResult": "paired",
    "paired_t_test": "paired",
    "permutation_test": "paired",
    "non_inferiority_test": "paired",
    "paired_test": "paired",
    "NonInferiority": "noninferiority",
    "non_inferiority_verdict": "noninferiority",
    "VERDICTS": "noninferiority",
    "holm": "corrections",
    "bonferroni": "corrections",
    "adjust": "corrections",
    "compact_letter_display": "letters",
    "Comparison": "compare",
    "compare_to_baseline": "compare",
    "PairComparison": "compare",
    "RankGroups": "compare",
    "rank_groups": "compare",
    "STATS_PARAMS": "settings",
    "StatsSettings": "settings",
    "stats_settings": "settings",
    "TESTS": "settings",
    "CORRECTIONS": "settings",
    "ALTERNATIVES": "settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
