"""Bootstrap confidence intervals: one system on one dataset, and the macro average over datasets.

Both are percentile bootstrap intervals computed by ``scipy.stats.bootstrap(method="percentile")``
(resample the queries with replacement, ``samples`` times; the interval is the (1 - c) / 2 and
(1 + c) / 2 quantiles, linearly interpolated, of the statistic over the resamples), with
``numpy.random.default_rng(seed)``. The queries are the judged queries, each counted once, as in
the leaderboard's means.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._common import StatsError, Values, check_samples, json_float, values_array

DEFAULT_SAMPLES = 10_000
CHUNK_VALUES = 4_000_000  # resamples x queries per scipy batch (indices + values: ~64 MB)


@dataclass(frozen=True)
class Interval:
    """A statistic's value and its bootstrap confidence interval ``[low, high]``."""

    estimate: float
    low: float
    high: float
    confidence: float
    n: int
    statistic: str = "mean"
    method: str = "percentile bootstrap"
    samples: int = DEFAULT_SAMPLES
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("estimate", "low", "high"):
            out[key] = json_float(out[key])
        return out


def _check_confidence(confidence: float) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.0 < confidence < 1.0:
        raise StatsError(f"confidence must be a number between 0 and 1 (exclusive), got {confidence!r}")
    return float(confidence)


def _rng_keyword() -> str:
    """scipy >= 1.15 takes ``rng=``; older versions ``random_state=`` (both accept a Generator)."""
    from scipy import stats

    return "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"


def _percentile_bootstrap(data: tuple, statistic: Callable, *, confidence: float, samples: int, seed: int):
    from scipy import stats

    total = sum(len(x) for x in data)
    result = stats.bootstrap(
        data, statistic, n_resamples=samples, batch=max(1, min(samples, CHUNK_VALUES // total)),
        vectorized=True, paired=False, confidence_level=confidence, method="percentile",
        **{_rng_keyword(): np.random.default_rng(seed)},
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def bootstrap_ci(values: Values, *, confidence: float = 0.95, samples: int = DEFAULT_SAMPLES, seed: int = 0,
                 statistic: Callable = np.mean) -> Interval:
    """Percentile bootstrap interval of ``statistic`` (``np.mean``; any ``f(x, axis)``) over queries.

    ``values``: ``{query id: value}`` (read in sorted id order) or a sequence. At least two
    finite values; ``StatsError`` otherwise. Equals ``scipy.stats.bootstrap((x,), statistic,
    method="percentile", n_resamples=samples, rng=default_rng(seed))``.
    """
    confidence = _check_confidence(confidence)
    samples = check_samples(samples)
    _, x = values_array(values, minimum=2)
    low, high = _percentile_bootstrap((x,), statistic, confidence=confidence, samples=samples, seed=seed)
    return Interval(estimate=float(statistic(x, axis=-1)), low=low, high=high, confidence=confidence, n=int(x.size),
                    statistic=getattr(statistic, "__name__", repr(statistic)), samples=samples, seed=seed)


@dataclass(frozen=True)
class MacroMean:
    """A system's macro average over datasets: the unweighted mean of its per-dataset means.

    ``datasets`` maps each dataset to the system's mean there, ``queries`` to the number of
    queries. ``mean`` and ``interval`` are None when the system lacks a dataset (``missing``
    names them): a mean over fewer datasets would not be comparable with the others.
    """

    system: str
    mean: float | None
    interval: Interval | None
    datasets: dict[str, float] = field(default_factory=dict)
    queries: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    averaging: str = "macro: unweighted mean of the per-dataset means (each dataset counts equally)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system, "mean": json_float(self.mean),
            "interval": self.interval.to_dict() if self.interval else None,
            "datasets": {k: json_float(v) for k, v in self.datasets.items()}, "queries": dict(self.queries),
            "missing": list(self.missing), "averaging": self.averaging,
        }


def _mean_of_means(*samples, axis=-1):
    return np.mean([np.mean(x, axis=axis) for x in samples], axis=0)


def mean_across_datasets(per_query: Mapping[str, Mapping[str, Values]], *, systems: Sequence[str] | None = None,
                         confidence: float = 0.95, samples: int = DEFAULT_SAMPLES, seed: int = 0) -> list[MacroMean]:
    """Each system's macro average over datasets, with a stratified percentile bootstrap interval.

    ``per_query[dataset][system]`` holds one metric's per-query values. The interval resamples
    queries with replacement *within* each dataset (each dataset keeps its size: stratified
    bootstrap), averages each resampled dataset, then averages those means; computed by
    ``scipy.stats.bootstrap`` with one sample per dataset (``paired=False`` resamples each
    independently), ``method="percentile"``, ``default_rng(seed)``. ``systems`` fixes the order
    (default: first appearance). Every dataset with values for a system needs at least two queries.
    """
    confidence = _check_confidence(confidence)
    samples = check_samples(samples)
    if not per_query:
        raise StatsError("no datasets given")
    if systems is None:
        systems = list(dict.fromkeys(s for by_system in per_query.values() for s in by_system))
    out = []
    for system in systems:
        arrays, means, counts, missing = [], {}, {}, []
        for dataset, by_system in per_query.items():
            if system not in by_system:
                missing.append(dataset)
                continue
            _, x = values_array(by_system[system], name=f"{system} on {dataset}", minimum=2)
            arrays.append(x)
            means[dataset] = float(x.mean())
            counts[dataset] = int(x.size)
        if missing:
            out.append(MacroMean(system, None, None, means, counts, missing))
            continue
        low, high = _percentile_bootstrap(tuple(arrays), _mean_of_means, confidence=confidence, samples=samples,
                                          seed=seed)
        mean = float(np.mean(list(means.values())))
        interval = Interval(estimate=mean, low=low, high=high, confidence=confidence, n=sum(counts.values()),
                            statistic="macro mean over datasets", method="stratified percentile bootstrap",
                            samples=samples, seed=seed)
        out.append(MacroMean(system, mean, interval, means, counts, []))
    return out
