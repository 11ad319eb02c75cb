"""Input checks shared by the statistics modules: per-query values in, aligned float arrays out.

Per-query values come as ``{query id: value}`` mappings (what cell results hold) or as sequences
already aligned by the caller. Mappings are read in sorted query-id order, so a result never
depends on the order a dict was filled in. numpy is imported inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import HarnessError


class StatsError(HarnessError, ValueError):
    """Data a statistic cannot be computed on (empty, non-finite, misaligned); the message says why."""


Values = Mapping[str, float] | Sequence[float]


def json_float(x: Any) -> float | None:
    """A float for results JSON (written with ``allow_nan=False``): NaN and infinities become None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _mapping(values: Any) -> Any:
    """A pandas Series (query id index) as a dict, so its index is honoured; anything else as is."""
    if not isinstance(values, Mapping) and hasattr(values, "index") and hasattr(values, "to_dict"):
        return values.to_dict()
    return values


def values_array(values: Values, *, name: str = "values", minimum: int = 1):
    """``(query ids or None, float array)`` of finite values; ids sorted when given a mapping."""
    import numpy as np

    values = _mapping(values)
    if isinstance(values, Mapping):
        ids = sorted(values)
        raw = [values[q] for q in ids]
    else:
        ids = None
        raw = values
    try:
        array = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise StatsError(f"{name}: every value must be a number") from None
    if array.ndim != 1:
        raise StatsError(f"{name}: expected one value per query, got an array of shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        where = f"query {ids[bad[0]]!r}" if ids is not None else f"position {bad[0]}"
        raise StatsError(f"{name}: {where} has a non-finite value ({float(array[bad[0]])!r})")
    if array.size < minimum:
        need = "at least one value" if minimum == 1 else f"at least {minimum} values"
        raise StatsError(f"{name}: needs {need}, got {array.size}")
    return ids, array


def paired_values(per_query: Mapping[str, Values], systems: Sequence[str] | None = None, *, minimum: int = 1):
    """``(query ids, matrix)``: one column per system (in ``systems`` order), rows aligned by query.

    Mappings (and pandas Series indexed by query id) must cover the same queries (every judged
    query is scored); a query one system lacks is an error that names it. Sequences must all have
    the same length and are taken as aligned (query ids are then ``None``). Mixing the two is an
    error.
    """
    import numpy as np

    systems = list(per_query) if systems is None else list(systems)
    for name in systems:
        if name not in per_query:
            raise StatsError(f"no per-query values for system {name!r}")
    per_query = {name: _mapping(per_query[name]) for name in systems}
    if not systems:
        raise StatsError("no systems given")
    kinds = {isinstance(per_query[s], Mapping) for s in systems}
    if len(kinds) > 1:
        raise StatsError("per-query values must all be {query id: value} mappings, or all aligned sequences")
    if kinds == {True}:
        reference = systems[0]
        ids = sorted(per_query[reference])
        known = set(ids)
        for name in systems[1:]:
            other = set(per_query[name])
            missing = sorted(known - other)
            if missing:
                raise StatsError(_missing(missing, name, reference))
            extra = sorted(other - known)
            if extra:
                raise StatsError(_missing(extra, reference, name))
        columns = [values_array({q: per_query[s][q] for q in ids}, name=s, minimum=minimum)[1] for s in systems]
    else:
        ids = None
        columns = [values_array(per_query[s], name=s, minimum=minimum)[1] for s in systems]
        sizes = {s: len(c) for s, c in zip(systems, columns, strict=True)}
        if len(set(sizes.values())) > 1:
            raise StatsError("aligned per-query values differ in length: "
                             + ", ".join(f"{s} has {n}" for s, n in sizes.items()))
    return ids, np.column_stack(columns)


def _missing(queries: list[str], lacking: str, having: str) -> str:
    shown = ", ".join(repr(q) for q in queries[:5]) + (f" and {len(queries) - 5} more" if len(queries) > 5 else "")
    noun = "query" if len(queries) == 1 else "queries"
    return (f"{noun} {shown} scored for {having!r} but missing for {lacking!r}: paired statistics need "
            "every judged query scored by every system")


def paired_differences(a: Values, b: Values, *, minimum: int = 1):
    """``(query ids or None, b - a)``: per-query differences of system b over system a, aligned."""
    ids, matrix = paired_values({"a": a, "b": b}, minimum=minimum)
    return ids, matrix[:, 1] - matrix[:, 0]


def check_alternative(alternative: str) -> None:
    from .settings import ALTERNATIVES

    if alternative not in ALTERNATIVES:
        raise StatsError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")


def check_samples(samples: Any, what: str = "samples") -> int:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise StatsError(f"{what} must be a positive integer, got {samples!r}")
    return samples
