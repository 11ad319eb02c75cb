"""Paired tests of two systems over the same queries: t-test, sign-flip permutation test, and
their non-inferiority form.

Convention everywhere: ``a`` is the reference (the baseline, the parent pipeline), ``b`` the
candidate, and the tested quantity is the mean per-query difference ``mean(b - a)``. So
``alternative="greater"`` is "b scores higher than a" (the opposite of ``scipy.stats.ttest_rel(a,
b)``, whose difference is ``a - b``; ours equals ``ttest_rel(b, a)``).

A margin δ >= 0 moves the null hypothesis by δ in the direction of the alternative's opposite:
``greater`` tests H0: mean(b - a) <= -δ against H1: mean(b - a) > -δ ("b is not worse than a by
δ or more": non-inferiority when higher is better); ``less`` tests H0: mean(b - a) >= δ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ._common import StatsError, Values, check_alternative, check_samples, json_float, paired_differences

DEFAULT_SAMPLES = 10_000
CHUNK_VALUES = 1_000_000  # sign patterns x groups of 8 queries per block of the null (8 MB of float64)


@dataclass(frozen=True)
class TestResult:
    """One paired test: what was tested, how, and the outcome.

    ``statistic`` is the t statistic (``test="t"``) or the mean shifted difference
    ``mean(b - a) - null_difference`` (``test="permutation"``). ``samples`` is the number of sign
    patterns the permutation p-value counts over (``2**n`` when ``exact``), None for the t-test;
    ``seed`` is None where nothing was drawn (t-test, exact enumeration).
    """

    __test__ = False  # not a pytest test class

    test: str
    method: str
    alternative: str
    hypothesis: str
    statistic: float
    p_value: float
    mean_difference: float
    n: int
    margin: float = 0.0
    null_difference: float = 0.0
    df: int | None = None
    samples: int | None = None
    exact: bool | None = None
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (non-finite numbers become None)."""
        out = dict(self.__dict__)
        for key in ("statistic", "p_value", "mean_difference", "margin", "null_difference"):
            out[key] = json_float(out[key])
        return out


def _null_difference(alternative: str, margin: float) -> float:
    check_alternative(alternative)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin) or margin < 0:
        raise StatsError(f"margin must be a finite number >= 0, got {margin!r}")
    if margin and alternative == "two-sided":
        raise StatsError("a margin needs a one-sided alternative: 'greater' (H0: mean(b - a) <= -margin) "
                         "or 'less' (H0: mean(b - a) >= margin)")
    return -float(margin) if alternative == "greater" else float(margin) if alternative == "less" else 0.0


def _hypothesis(alternative: str, null: float) -> str:
    value = "0" if null == 0 else repr(null)
    h0, h1 = {"two-sided": ("=", "!="), "greater": ("<=", ">"), "less": (">=", "<")}[alternative]
    return f"H0: mean(b - a) {h0} {value}; H1: mean(b - a) {h1} {value}"


def _differences(a: Values, b: Values):
    d = paired_differences(a, b)[1]
    if d.size < 2:
        raise StatsError(f"a paired test needs at least 2 queries, got {d.size}")
    return d


def paired_t_test(a: Values, b: Values, alternative: str = "two-sided", *, margin: float = 0.0) -> TestResult:
    """Student's paired t-test of ``mean(b - a)`` against ``null_difference`` (0, or ∓margin).

    Computed by ``scipy.stats.ttest_1samp(b - a, popmean=null_difference)``, which for margin 0
    is ``scipy.stats.ttest_rel(b, a)``. When every difference is the same value (zero variance:
    two identical systems) the t statistic is undefined; the p-value is then 1 if that value is
    the null difference, else 0 or 1 by the direction of the alternative.
    """
    null = _null_difference(alternative, margin)
    d = _differences(a, b)
    n = int(d.size)
    mean = float(d.mean())
    if float(d.max()) == float(d.min()):  # constant differences: no variance to scale by
        shift = float(d[0]) - null
        statistic = math.nan if shift == 0 else math.copysign(math.inf, shift)
        p_value = 1.0 if shift == 0 else _degenerate_p(alternative, shift)
    else:
        from scipy import stats

        result = stats.ttest_1samp(d, popmean=null, alternative=alternative)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return TestResult(
        test="t", method="paired t-test (Student; scipy.stats.ttest_1samp on b - a)", alternative=alternative,
        hypothesis=_hypothesis(alternative, null), statistic=statistic, p_value=p_value, mean_difference=mean,
        n=n, margin=float(margin), null_difference=null, df=n - 1,
    )


def _degenerate_p(alternative: str, shift: float) -> float:
    if alternative == "two-sided":
        return 0.0
    return 0.0 if (shift > 0) == (alternative == "greater") else 1.0


def permutation_test(a: Values, b: Values, *, alternative: str = "two-sided", margin: float = 0.0,
                     samples: int = DEFAULT_SAMPLES, seed: int = 0) -> TestResult:
    """Paired randomisation test (sign flip) of the mean difference.

    Under H0 each shifted difference ``d_i = (b_i - a_i) - null_difference`` is as likely to have
    had the opposite sign (the two systems' labels are exchangeable within a query). The null
    distribution of ``mean(d)`` is taken over sign patterns: all ``2**n`` of them when
    ``2**n <= samples`` (exact), else ``samples`` patterns drawn uniformly with
    ``numpy.random.default_rng(seed)``. p-values follow ``scipy.stats.permutation_test``
    (``permutation_type="samples"``): one-sided ``(count + 1) / (samples + 1)`` for drawn patterns
    (``count / 2**n`` when exact), two-sided twice the smaller one-sided value, capped at 1. Null
    values within ``max(100, n) * eps * mean(|d|)`` of the observed mean count as ties (floating
    point rounding must not split sums that are equal in exact arithmetic).
    """
    import numpy as np

    null = _null_difference(alternative, margin)
    samples = check_samples(samples)
    d = _differences(a, b)
    shifted = d - null
    n = int(shifted.size)
    observed = float(shifted.mean())
    exact = n < 63 and 2**n <= samples
    total = 2**n if exact else samples
    tolerance = max(100, n) * np.finfo(float).eps * float(np.abs(shifted).mean())
    at_most = at_least = 0
    for means in _null_means(shifted, total, exact, seed):
        at_most += int(np.count_nonzero(means <= observed + tolerance))
        at_least += int(np.count_nonzero(means >= observed - tolerance))
    extra = 0 if exact else 1
    p_less = (at_most + extra) / (total + extra)
    p_greater = (at_least + extra) / (total + extra)
    p_value = {"less": p_less, "greater": p_greater, "two-sided": min(1.0, 2 * min(p_less, p_greater))}[alternative]
    how = f"exact: all 2^{n} sign patterns" if exact else f"{total} random sign patterns, seed {seed}"
    return TestResult(
        test="permutation", method=f"paired permutation test (sign flip of b - a; {how})", alternative=alternative,
        hypothesis=_hypothesis(alternative, null), statistic=observed, p_value=float(min(1.0, p_value)),
        mean_difference=float(d.mean()), n=n, margin=float(margin), null_difference=null, samples=total,
        exact=exact, seed=None if exact else seed,
    )


def _null_means(shifted, total: int, exact: bool, seed: int):
    """Blocks of ``mean(signs * shifted)`` over ``total`` sign patterns.

    A pattern is one byte per group of 8 queries (bit j of byte g flips query 8g + j). Exact:
    pattern k is the bytes of the integer k (k = 0 is the observed arrangement). Drawn: uniform
    random bytes from ``default_rng(seed)``, so every sign is a fair coin. Each group's 256
    possible signed sums are tabulated once; a pattern's sum is then one table look-up per group
    instead of one multiplication per query.
    """
    import numpy as np

    n = shifted.size
    groups = (n + 7) // 8
    padded = np.zeros(groups * 8)
    padded[:n] = shifted  # padding queries are 0: flipping them changes nothing
    flips = (np.arange(256)[:, None] >> np.arange(8)) & 1
    table = padded.reshape(groups, 8) @ (1.0 - 2.0 * flips).T  # [group, byte value] -> signed sum
    flat, offsets = table.ravel(), 256 * np.arange(groups)
    columns = np.arange(groups)
    rows = max(1, CHUNK_VALUES // groups)
    rng = None if exact else np.random.default_rng(seed)
    for start in range(0, total, rows):
        count = min(rows, total - start)
        if exact:
            k = np.arange(start, start + count, dtype=np.int64)
            codes = (k[:, None] >> (8 * columns)) & 255
        else:
            codes = rng.integers(0, 256, size=(count, groups), dtype=np.uint8)
        yield flat[codes.astype(np.intp) + offsets].sum(axis=1) / n


def non_inferiority_test(a: Values, b: Values, margin: float, *, test: str = "t", higher_is_better: bool = True,
                         samples: int = DEFAULT_SAMPLES, seed: int = 0) -> TestResult:
    """Is b non-inferior to a within ``margin``? One-sided, by ``test`` (``t`` or ``permutation``).

    Higher is better: H0: mean(b - a) <= -margin against H1: mean(b - a) > -margin; a small
    p-value means b loses less than ``margin`` on average. Lower is better (latency-like values):
    H0: mean(b - a) >= margin. ``margin=0`` is a one-sided superiority test.
    """
    alternative = "greater" if higher_is_better else "less"
    return paired_test(a, b, test=test, alternative=alternative, margin=margin, samples=samples, seed=seed)


def paired_test(a: Values, b: Values, *, test: str = "t", alternative: str = "two-sided", margin: float = 0.0,
                samples: int = DEFAULT_SAMPLES, seed: int = 0) -> TestResult:
    """``paired_t_test`` or ``permutation_test`` by name (``test`` of the ``[stats]`` settings)."""
    if test == "t":
        return paired_t_test(a, b, alternative, margin=margin)
    if test == "permutation":
        return permutation_test(a, b, alternative=alternative, margin=margin, samples=samples, seed=seed)
    raise StatsError(f"unknown test {test!r} (choose from t, permutation)")
