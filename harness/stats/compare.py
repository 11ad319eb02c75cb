"""Systems compared on one metric and one dataset: against a baseline, and all pairs (tie groups).

``per_query`` is ``{system: {query id: value}}``: one metric's per-query values of each cell on
one dataset (``CellResult.per_query[metric]``). Every system must have scored the same queries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._common import StatsError, Values, json_float, paired_values
from .corrections import adjust
from .letters import compact_letter_display
from .paired import DEFAULT_SAMPLES, TestResult, paired_test

LETTERS_METHOD = "compact letter display (insert-absorb with sweep, Piepho 2004)"


def _significant(p_adjusted: float, alpha: float) -> bool:
    return p_adjusted <= alpha


def _check_test(test: str) -> None:
    from .settings import TESTS

    if test not in TESTS:
        raise StatsError(f"unknown test {test!r} (choose from {', '.join(TESTS)})")


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise StatsError(f"alpha must be a number in [0, 1], got {alpha!r}")
    return float(alpha)


@dataclass(frozen=True)
class Comparison:
    """One system against the baseline: the paired test of ``mean(system - baseline)``, corrected.

    ``significant``: the corrected p-value is <= ``alpha``. ``direction``: the sign of the mean
    difference, ``higher``, ``lower`` or ``equal`` (whether higher is better is the metric's
    business). ``family_size``: how many comparisons the correction spans.
    """

    system: str
    baseline: str
    mean: float
    baseline_mean: float
    result: TestResult
    p_adjusted: float
    correction: str
    alpha: float
    family_size: int
    significant: bool

    @property
    def mean_difference(self) -> float:
        return self.result.mean_difference

    @property
    def p_value(self) -> float:
        return self.result.p_value

    @property
    def direction(self) -> str:
        d = self.result.mean_difference
        return "higher" if d > 0 else "lower" if d < 0 else "equal"

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system, "baseline": self.baseline, "mean": json_float(self.mean),
            "baseline_mean": json_float(self.baseline_mean), "mean_difference": json_float(self.mean_difference),
            "direction": self.direction, "p_value": json_float(self.p_value),
            "p_adjusted": json_float(self.p_adjusted), "correction": self.correction, "alpha": self.alpha,
            "family_size": self.family_size, "significant": self.significant, "test": self.result.to_dict(),
        }


def _table(per_query: Mapping[str, Values], systems: Sequence[str] | None):
    systems = list(per_query) if systems is None else list(systems)
    if len(set(systems)) != len(systems):
        raise StatsError("system names must be unique")
    _, matrix = paired_values(per_query, systems)
    if matrix.shape[0] < 2:
        raise StatsError(f"paired tests need at least 2 queries, got {matrix.shape[0]}")
    return systems, matrix


def compare_to_baseline(per_query: Mapping[str, Values], baseline: str, *, test: str = "t",
                        correction: str = "holm", alpha: float = 0.05, alternative: str = "two-sided",
                        samples: int = DEFAULT_SAMPLES, seed: int = 0,
                        systems: Sequence[str] | None = None) -> list[Comparison]:
    """Each system (``systems`` order, default ``per_query``'s, baseline left out) against ``baseline``.

    One paired test per system (``paired_test(baseline, system)``: ``test`` is ``t`` or
    ``permutation``, each with the same ``seed``), p-values corrected across these comparisons by
    ``correction`` (``holm``, ``bonferroni``, ``none``). An empty list when the baseline is the
    only system.
    """
    alpha = _check_alpha(alpha)
    _check_test(test)
    names = list(per_query) if systems is None else list(systems)
    if baseline not in per_query:
        raise StatsError(f"baseline {baseline!r} has no per-query values (systems: {', '.join(map(repr, per_query))})")
    others = [s for s in names if s != baseline]
    if not others:
        return []
    names, matrix = _table(per_query, [baseline, *others])
    base = matrix[:, 0]
    results = [paired_test(base, matrix[:, k + 1], test=test, alternative=alternative, samples=samples, seed=seed)
               for k in range(len(others))]
    adjusted = adjust([r.p_value for r in results], correction)
    return [
        Comparison(system=name, baseline=baseline, mean=float(matrix[:, k + 1].mean()),
                   baseline_mean=float(base.mean()), result=result, p_adjusted=p, correction=correction,
                   alpha=alpha, family_size=len(others), significant=_significant(p, alpha))
        for k, (name, result, p) in enumerate(zip(others, results, adjusted, strict=True))
    ]


@dataclass(frozen=True)
class PairComparison:
    """One pair of ``rank_groups``: ``a`` ranks above ``b``; ``result`` tests ``mean(b - a)``."""

    a: str
    b: str
    result: TestResult
    p_adjusted: float
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "mean_difference": json_float(self.result.mean_difference),
                "p_value": json_float(self.result.p_value), "p_adjusted": json_float(self.p_adjusted),
                "significant": self.significant, "test": self.result.to_dict()}


@dataclass(frozen=True)
class RankGroups:
    """Tie groups: systems ordered by mean (best first) with compact-letter-display letters.

    Two systems share a letter exactly when their pairwise test is not significant after the
    correction; a system can carry several letters (``"ab"``: tied with the ``a`` systems and with
    the ``b`` systems, which differ from each other).
    """

    systems: list[str]
    means: dict[str, float]
    letters: dict[str, str]
    pairs: list[PairComparison]
    test: str
    correction: str
    alpha: float
    higher_is_better: bool = True
    method: str = LETTERS_METHOD

    @property
    def groups(self) -> dict[str, list[str]]:
        """Letter → its systems, in letter order (letters past ``z`` are ``A``... then ``{53}``...)."""
        out: dict[str, list[str]] = {}
        for system in self.systems:
            for letter in _split_letters(self.letters[system]):
                out.setdefault(letter, []).append(system)
        return dict(sorted(out.items(), key=lambda item: self.systems.index(item[1][0])))

    def differ(self, x: str, y: str) -> bool:
        """Whether ``x`` and ``y`` differ significantly (they share no letter)."""
        for pair in self.pairs:
            if {pair.a, pair.b} == {x, y}:
                return pair.significant
        if x == y and x in self.means:
            return False
        raise StatsError(f"no comparison of {x!r} with {y!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "systems": list(self.systems), "means": {k: json_float(v) for k, v in self.means.items()},
            "letters": dict(self.letters), "test": self.test, "correction": self.correction, "alpha": self.alpha,
            "higher_is_better": self.higher_is_better, "method": self.method,
            "pairs": [p.to_dict() for p in self.pairs],
        }


def _split_letters(text: str) -> list[str]:
    out, k = [], 0
    while k < len(text):
        end = text.index("}", k) + 1 if text[k] == "{" else k + 1
        out.append(text[k:end])
        k = end
    return out


def rank_groups(per_query: Mapping[str, Values], *, test: str = "t", correction: str = "holm",
                alpha: float = 0.05, samples: int = DEFAULT_SAMPLES, seed: int = 0, higher_is_better: bool = True,
                systems: Sequence[str] | None = None) -> RankGroups:
    """Tie groups from all pairwise paired tests, corrected, as a compact letter display.

    Systems are ordered by mean (descending when ``higher_is_better``; equal means keep their
    input order). Every pair is tested two-sided (``test``, same ``seed`` for each pair), the
    k(k-1)/2 p-values are corrected together (``correction``, Holm by default), and the pairs
    with corrected p <= ``alpha`` are the significant ones the letters separate (Piepho 2004).
    """
    alpha = _check_alpha(alpha)
    _check_test(test)
    names, matrix = _table(per_query, systems)
    means = {name: float(matrix[:, k].mean()) for k, name in enumerate(names)}
    order = sorted(range(len(names)), key=lambda k: -means[names[k]] if higher_is_better else means[names[k]])
    ranked = [names[k] for k in order]
    pairs_idx = [(order[i], order[j]) for i in range(len(order)) for j in range(i + 1, len(order))]
    results = [paired_test(matrix[:, i], matrix[:, j], test=test, samples=samples, seed=seed) for i, j in pairs_idx]
    adjusted = adjust([r.p_value for r in results], correction)
    pairs = [PairComparison(names[i], names[j], r, p, _significant(p, alpha))
             for (i, j), r, p in zip(pairs_idx, results, adjusted, strict=True)]
    letters = compact_letter_display(ranked, [(p.a, p.b) for p in pairs if p.significant])
    return RankGroups(systems=ranked, means={n: means[n] for n in ranked}, letters=letters, pairs=pairs, test=test,
                      correction=correction, alpha=alpha, higher_is_better=higher_is_better)
