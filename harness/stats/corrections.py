"""Multiple-comparison corrections: Holm (step-down), Bonferroni, none.

Plain Python (no numpy). Each takes p-values as a sequence (returns a list in the same order) or
a mapping (returns a dict with the same keys).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ._common import StatsError
from .settings import CORRECTIONS


def _as_list(p_values: Sequence[float] | Mapping[str, float]) -> tuple[list | None, list[float]]:
    keys = list(p_values) if isinstance(p_values, Mapping) else None
    values = [p_values[k] for k in keys] if keys is not None else list(p_values)
    for i, p in enumerate(values):
        label = repr(keys[i]) if keys is not None else str(i)
        try:
            p = float(p)
        except (TypeError, ValueError):
            raise StatsError(f"p-value {label} is not a number: {p!r}") from None
        if math.isnan(p) or not 0.0 <= p <= 1.0:
            raise StatsError(f"p-value {label} must lie in [0, 1], got {p!r}")
    return keys, [float(p) for p in values]


def _back(keys: list | None, adjusted: list[float]):
    return dict(zip(keys, adjusted, strict=True)) if keys is not None else adjusted


def holm(p_values: Sequence[float] | Mapping[str, float]):
    """Holm's step-down adjusted p-values (Holm 1979).

    With the m p-values sorted ascending, p(1) <= ... <= p(m), the adjusted value of the i-th is
    ``max over j <= i of min(1, (m - j + 1) * p(j))``: monotone in the raw order and capped at 1.
    Rejecting where the adjusted value is <= alpha is Holm's procedure at level alpha (family-wise
    error rate controlled under any dependence). Tied p-values get equal adjusted values.
    """
    keys, values = _as_list(p_values)
    m = len(values)
    order = sorted(range(m), key=lambda i: values[i])  # stable: ties keep their input order
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[i]))
        adjusted[i] = running
    return _back(keys, adjusted)


def bonferroni(p_values: Sequence[float] | Mapping[str, float]):
    """Bonferroni-adjusted p-values: ``min(1, m * p)``."""
    keys, values = _as_list(p_values)
    m = len(values)
    return _back(keys, [min(1.0, m * p) for p in values])


def adjust(p_values: Sequence[float] | Mapping[str, float], correction: str = "holm"):
    """``holm``, ``bonferroni`` or ``none`` (the p-values unchanged, validated)."""
    if correction == "holm":
        return holm(p_values)
    if correction == "bonferroni":
        return bonferroni(p_values)
    if correction == "none":
        keys, values = _as_list(p_values)
        return _back(keys, values)
    raise StatsError(f"unknown correction {correction!r} (choose from {', '.join(CORRECTIONS)})")
