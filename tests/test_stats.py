"""harness.stats: tests equal scipy's, error rates hold in simulation, Holm and the letters are exact."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats as st

from harness.params import check_params, resolve_params
from harness.stats import (
    STATS_PARAMS,
    StatsError,
    adjust,
    bonferroni,
    bootstrap_ci,
    compact_letter_display,
    compare_to_baseline,
    holm,
    mean_across_datasets,
    non_inferiority_test,
    paired_t_test,
    paired_test,
    permutation_test,
    rank_groups,
    stats_settings,
)


def _mean_diff(x, y, axis):
    return np.mean(x - y, axis=axis)


def _pair(n, seed=0, shift=0.03, noise=0.1):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.2, 0.8, n)
    return a, a + shift + rng.normal(0, noise, n)


# -- paired t-test ---------------------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("n", [2, 7, 50, 400])
def test_t_test_equals_scipy_ttest_rel(n, alternative):
    a, b = _pair(n, seed=n)
    ours = paired_t_test(a, b, alternative)
    theirs = st.ttest_rel(b, a, alternative=alternative)  # our difference is b - a
    assert ours.statistic == pytest.approx(float(theirs.statistic), rel=1e-12)
    assert ours.p_value == pytest.approx(float(theirs.pvalue), rel=1e-12)
    assert ours.df == n - 1 and ours.n == n and ours.test == "t" and ours.alternative == alternative
    assert ours.mean_difference == pytest.approx(float(np.mean(b - a)))


def test_t_test_margin_is_a_shifted_null():
    a, b = _pair(40, seed=3, shift=-0.01)
    ours = paired_t_test(a, b, "greater", margin=0.02)
    theirs = st.ttest_1samp(b - a, popmean=-0.02, alternative="greater")
    assert (ours.statistic, ours.p_value) == pytest.approx((float(theirs.statistic), float(theirs.pvalue)), rel=1e-12)
    assert ours.null_difference == -0.02 and ours.hypothesis == "H0: mean(b - a) <= -0.02; H1: mean(b - a) > -0.02"
    # the same as testing b + margin against a
    shifted = st.ttest_rel(b + 0.02, a, alternative="greater")
    assert ours.p_value == pytest.approx(float(shifted.pvalue), rel=1e-9)


def test_identical_systems_are_not_different_and_constant_shifts_are():
    a = [0.125, 0.5, 0.75, 0.25]  # dyadic: a + 0.25 - a is exactly 0.25
    for test in ("t", "permutation"):
        same = paired_test(a, a, test=test)
        assert same.p_value == 1.0 and same.mean_difference == 0.0
    up = paired_t_test(a, [x + 0.25 for x in a])
    assert up.statistic == math.inf and up.p_value == 0.0
    assert paired_t_test(a, [x + 0.25 for x in a], "less").p_value == 1.0
    json.dumps(up.to_dict(), allow_nan=False)  # infinities become None in results JSON
    assert up.to_dict()["statistic"] is None


# -- permutation test ------------------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("n", [3, 8, 13])
def test_permutation_exact_equals_scipy(n, alternative):
    """2**n <= samples: every sign pattern, as scipy enumerates them; p-values are identical."""
    a, b = _pair(n, seed=10 + n)
    ours = permutation_test(a, b, alternative=alternative, samples=10_000)
    theirs = st.permutation_test((b, a), _mean_diff, permutation_type="samples", alternative=alternative,
                                 n_resamples=10_000, vectorized=True)
    assert ours.exact and ours.samples == 2**n and ours.seed is None
    assert ours.statistic == pytest.approx(float(theirs.statistic), rel=1e-12)
    assert ours.p_value == float(theirs.pvalue)


def _exact_p(d, alternative):
    """Brute force over all 2**n sign patterns in exact rational arithmetic (1/3 as 1/3, not as its float)."""
    d = [Fraction(x).limit_denominator(1_000) for x in d]
    observed = sum(d)
    sums = [sum(s * x for s, x in zip(signs, d, strict=True)) for signs in itertools.product((1, -1), repeat=len(d))]
    less = Fraction(sum(s <= observed for s in sums), len(sums))
    greater = Fraction(sum(s >= observed for s in sums), len(sums))
    return {"less": less, "greater": greater, "two-sided": min(Fraction(1), 2 * min(less, greater))}[alternative]


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_permutation_exact_counts_ties_as_exact_arithmetic_does(alternative):
    """Differences that tie in exact arithmetic (RR-like values, zeros, +-pairs) stay tied."""
    a = [0.0] * 11
    b = [1 / 3, -1 / 3, 0.5, -0.5, 0.25, 0.0, 1 / 3, 0.125, -0.125, 0.75, 1 / 6]
    ours = permutation_test(a, b, alternative=alternative)
    assert ours.exact
    assert Fraction(ours.p_value) == _exact_p(np.subtract(b, a), alternative)


def test_permutation_monte_carlo_agrees_with_scipy():
    """Drawn sign patterns: ours and scipy's use different streams, so p-values agree within
    Monte Carlo error, and ours follow scipy's conventions ((count + 1) / (samples + 1))."""
    for seed, shift in [(1, 0.0), (2, 0.01), (3, 0.02), (4, -0.015)]:
        a, b = _pair(60, seed=seed, shift=shift)
        ours = permutation_test(a, b, samples=20_000, seed=seed)
        theirs = st.permutation_test((b, a), _mean_diff, permutation_type="samples", n_resamples=20_000,
                                     vectorized=True, rng=np.random.default_rng(seed))
        p = float(theirs.pvalue)
        assert not ours.exact and ours.samples == 20_000 and ours.seed == seed
        # two independent estimates: the difference has variance 2 p (1 - p) / samples
        assert abs(ours.p_value - p) <= 5 * math.sqrt(2 * max(p * (1 - p), 1e-4) / 20_000)


def test_permutation_is_reproducible_by_seed():
    a, b = _pair(200, seed=5, shift=0.01)
    first = permutation_test(a, b, samples=2_000, seed=7)
    assert permutation_test(a, b, samples=2_000, seed=7) == first
    assert permutation_test(a, b, samples=2_000, seed=8).p_value != first.p_value
    # a mapping is read in sorted query order: insertion order does not matter
    qa = {f"q{i}": x for i, x in enumerate(a)}
    qb = {f"q{i}": x for i, x in enumerate(b)}
    shuffled = dict(reversed(list(qb.items())))
    assert permutation_test(qa, shuffled, samples=2_000, seed=7) == permutation_test(qa, qb, samples=2_000, seed=7)
    pd = pytest.importorskip("pandas")  # a Series is read by its query-id index, not its order
    series = pd.Series(shuffled)
    assert permutation_test(qa, series, samples=2_000, seed=7) == permutation_test(qa, qb, samples=2_000, seed=7)


def test_permutation_margin_and_non_inferiority():
    a, b = _pair(30, seed=9, shift=-0.005, noise=0.02)
    ours = permutation_test(a, b, alternative="greater", margin=0.03, samples=5_000, seed=1)
    d = b - a + 0.03
    theirs = st.permutation_test((d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
                                 alternative="greater", n_resamples=5_000, vectorized=True, rng=1)
    assert ours.statistic == pytest.approx(float(theirs.statistic), rel=1e-12)
    assert abs(ours.p_value - float(theirs.pvalue)) < 0.02
    for test in ("t", "permutation"):
        ni = non_inferiority_test(a, b, 0.03, test=test, samples=5_000, seed=1)
        assert ni.alternative == "greater" and ni.null_difference == -0.03 and ni.p_value < 0.05
        assert non_inferiority_test(a, b, 0.0, test=test).p_value > 0.5  # b is a little worse: not superior
        lower = non_inferiority_test(b, a, 0.03, test=test, higher_is_better=False)  # latency-like: lower is better
        assert lower.alternative == "less" and lower.null_difference == 0.03 and lower.p_value < 0.05


# -- error rates in simulation ---------------------------------------------------------------

TRIALS, QUERIES, NOISE = 1_000, 50, 0.05
SE = NOISE * math.sqrt(2) / math.sqrt(QUERIES)  # standard error of the mean paired difference


@pytest.fixture(scope="module")
def simulated():
    """1,000 trials of two identical systems: shared per-query quality, independent per-query noise."""
    rng = np.random.default_rng(2024)
    quality = rng.uniform(0.2, 0.8, (TRIALS, QUERIES))
    return quality + rng.normal(0, NOISE, quality.shape), quality + rng.normal(0, NOISE, quality.shape)


def _rate(a, b, **kw):
    return float(np.mean([paired_test(x, y, **kw).p_value <= 0.05 for x, y in zip(a, b, strict=True)]))


def _power(shift_se, alternative):
    df = QUERIES - 1
    if alternative == "greater":
        return float(st.nct.sf(st.t.ppf(0.95, df), df, shift_se))
    c = st.t.ppf(0.975, df)
    return float(st.nct.sf(c, df, shift_se) + st.nct.cdf(-c, df, shift_se))


def test_false_positive_rate_under_the_null(simulated):
    a, b = simulated
    assert _rate(a, b, test="t") <= 0.07
    assert _rate(a, b, test="t", alternative="greater") <= 0.07
    # the permutation test with 500 sign patterns per trial (instead of 10,000) keeps this fast
    assert _rate(a, b, test="permutation", samples=500, seed=1) <= 0.07


def test_power_against_a_shift_of_three_standard_errors(simulated):
    """A shift of 3 SE of the paired difference is detected as often as theory says it should be.

    The t-test's power there is 0.837 two-sided and 0.905 one-sided (noncentral t, 49 df; even a
    z-test with known variance reaches only 0.851 two-sided), so the issue's "at least 90% at 3
    SE" cannot hold for a two-sided test at alpha 0.05 and holds one-sided only in expectation
    (1,000 trials vary by ±0.01). Checked instead: detection within Monte Carlo error of the
    theoretical power at 3 SE, both ways, and at least 90% two-sided at 3.5 SE (power 0.929).
    Measured with this seed: t 0.833 / 0.888, permutation 0.816 / 0.887 at 3 SE; 0.912 and 0.910
    at 3.5 SE.
    """
    a, b = simulated
    tolerance = 4 * math.sqrt(0.9 * 0.1 / TRIALS) + 0.01  # Monte Carlo error of 1,000 trials
    for alternative in ("two-sided", "greater"):
        detected = _rate(a, b + 3 * SE, test="t", alternative=alternative)
        assert abs(detected - _power(3, alternative)) <= tolerance, (alternative, detected)
        sign_flip = _rate(a, b + 3 * SE, test="permutation", alternative=alternative, samples=500, seed=1)
        assert abs(sign_flip - _power(3, alternative)) <= tolerance + 0.01, (alternative, sign_flip)
    assert _rate(a, b + 3.5 * SE, test="t") >= 0.90
    assert _rate(a, b + 3.5 * SE, test="permutation", samples=500, seed=1) >= 0.90


# -- corrections -----------------------------------------------------------------------------


def test_holm_textbook_examples():
    # sorted: .005 .01 .03 .04 -> 4*.005=.02, 3*.01=.03, 2*.03=.06, max(.06, 1*.04)=.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Holm (1979)-style: monotonicity carries a large early value forward; capped at 1
    assert holm([0.02, 0.021, 0.5, 0.6]) == pytest.approx([0.08, 0.08, 1.0, 1.0])
    assert holm([0.001, 0.012, 0.014, 0.04, 0.2]) == pytest.approx([0.005, 0.048, 0.048, 0.08, 0.2])
    # ties get equal values; one p-value is unchanged; empty stays empty
    assert holm([0.01, 0.01, 0.04]) == pytest.approx([0.03, 0.03, 0.04])
    assert holm([0.3]) == [0.3] and holm([]) == []
    assert holm({"x": 0.04, "y": 0.01}) == pytest.approx({"x": 0.04, "y": 0.02})


def test_holm_matches_the_step_down_rule_on_random_inputs():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = list(rng.uniform(0, 0.1, rng.integers(1, 12)))
        adjusted = holm(p)
        m = len(p)
        order = np.argsort(p, kind="stable")
        expected = np.maximum.accumulate(np.minimum(1, (m - np.arange(m)) * np.asarray(p)[order]))
        assert np.allclose(np.asarray(adjusted)[order], expected)
        for alpha in (0.01, 0.05):  # rejections = Holm's sequential procedure
            rejected = set()
            for k, i in enumerate(order):
                if p[i] > alpha / (m - k):
                    break
                rejected.add(int(i))
            assert {i for i, q in enumerate(adjusted) if q <= alpha} == rejected


def test_bonferroni_none_and_errors():
    assert bonferroni([0.01, 0.3, 0.02]) == pytest.approx([0.03, 0.9, 0.06])
    assert adjust([0.01, 0.3], "none") == [0.01, 0.3]
    assert adjust([0.01, 0.3], "bonferroni") == pytest.approx([0.02, 0.6])
    with pytest.raises(StatsError, match="unknown correction 'bh'"):
        adjust([0.1], "bh")
    with pytest.raises(StatsError, match=r"p-value 'b' must lie in \[0, 1\]"):
        holm({"a": 0.1, "b": float("nan")})


# -- compact letter display ------------------------------------------------------------------


def _shares(letters, x, y):
    return bool(set(letters[x]) & set(letters[y]))


def test_letters_hand_worked_examples():
    # nothing differs: one group; everything differs: one letter each
    assert compact_letter_display("ABC", []) == {"A": "a", "B": "a", "C": "a"}
    assert compact_letter_display("ABC", [("A", "B"), ("A", "C"), ("B", "C")]) == {"A": "a", "B": "b", "C": "c"}
    # B ties with both A and C, which differ: B carries both letters
    assert compact_letter_display("ABC", [("C", "A")]) == {"A": "a", "B": "ab", "C": "b"}
    # the classic staircase: A-C, A-D, B-D differ
    assert compact_letter_display("ABCD", [("A", "C"), ("A", "D"), ("B", "D")]) == {
        "A": "a", "B": "ab", "C": "bc", "D": "c"}
    # two separate groups {A, B}, {C, D} plus a bridge E tied with all
    assert compact_letter_display("ABECD", [("A", "C"), ("A", "D"), ("B", "C"), ("B", "D")]) == {
        "A": "a", "B": "a", "E": "ab", "C": "b", "D": "b"}
    # A-B and C-D differ, every other pair ties: no letter can be shared by three, so four letters
    assert compact_letter_display("ABCD", [("A", "B"), ("C", "D")]) == {"A": "ab", "B": "cd", "C": "ac", "D": "bd"}


def test_letters_represent_any_relation_exactly():
    rng = np.random.default_rng(1)
    for _ in range(300):
        k = int(rng.integers(1, 9))
        items = [f"s{i}" for i in range(k)]
        pairs = [(x, y) for x, y in itertools.combinations(items, 2) if rng.random() < rng.uniform(0.1, 0.9)]
        letters = compact_letter_display(items, pairs)
        assert compact_letter_display(items, pairs) == letters  # deterministic
        assert all(letters[x] for x in items)
        different = {frozenset(p) for p in pairs}
        for x, y in itertools.combinations(items, 2):
            assert _shares(letters, x, y) == (frozenset((x, y)) not in different), (items, pairs, letters)
        assert letters[items[0]].startswith("a")


def test_letters_errors():
    with pytest.raises(StatsError, match="unknown item 'Z'"):
        compact_letter_display("AB", [("A", "Z")])
    with pytest.raises(StatsError, match="unique"):
        compact_letter_display(["A", "A"], [])


# -- comparisons and tie groups --------------------------------------------------------------


def _systems(n=80, seed=0):
    """Per-query values by system: three clearly separated levels; b and c tie."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 0.6, n)
    shifts = {"base": 0.0, "b": 0.05, "c": 0.052, "d": 0.15, "same": 0.0}
    out = {}
    for name, shift in shifts.items():
        noise = rng.normal(0, 0.02, n) if name != "same" else 0
        out[name] = {f"q{i:03d}": float(v) for i, v in enumerate(base + shift + noise)}
    out["same"] = dict(out["base"])
    return out


@pytest.mark.parametrize("test", ["t", "permutation"])
def test_compare_to_baseline(test):
    per_query = _systems()
    comparisons = compare_to_baseline(per_query, "base", test=test, samples=2_000, seed=3)
    assert [c.system for c in comparisons] == ["b", "c", "d", "same"]
    raw = [paired_test(per_query["base"], per_query[c.system], test=test, samples=2_000, seed=3) for c in comparisons]
    assert [c.result for c in comparisons] == raw
    assert [c.p_adjusted for c in comparisons] == holm([r.p_value for r in raw])
    assert [c.significant for c in comparisons] == [True, True, True, False]
    assert [c.direction for c in comparisons] == ["higher", "higher", "higher", "equal"]
    assert all(c.family_size == 4 and c.correction == "holm" and c.alpha == 0.05 for c in comparisons)
    assert comparisons[0].mean - comparisons[0].baseline_mean == pytest.approx(comparisons[0].mean_difference)
    json.dumps([c.to_dict() for c in comparisons], allow_nan=False)


def test_compare_to_baseline_errors_name_the_problem():
    per_query = _systems(n=5)
    del per_query["c"]["q003"]
    with pytest.raises(StatsError, match="query 'q003' scored for 'base' but missing for 'c'"):
        compare_to_baseline(per_query, "base")
    per_query = _systems(n=5)
    per_query["d"]["q001"] = float("nan")
    with pytest.raises(StatsError, match="d: query 'q001' has a non-finite value"):
        compare_to_baseline(per_query, "base")
    with pytest.raises(StatsError, match="baseline 'bm25' has no per-query values"):
        compare_to_baseline(_systems(n=5), "bm25")
    with pytest.raises(StatsError, match="unknown test 'wilcoxon'"):
        compare_to_baseline(_systems(n=5), "base", test="wilcoxon")
    with pytest.raises(StatsError, match="at least 2 queries"):
        paired_t_test([0.1], [0.2])
    with pytest.raises(StatsError, match="margin needs a one-sided alternative"):
        paired_t_test([0.1, 0.2], [0.2, 0.3], margin=0.1)
    assert compare_to_baseline({"only": {"q": 1.0}}, "only") == []


@pytest.mark.parametrize("test", ["t", "permutation"])
def test_rank_groups(test):
    per_query = _systems()
    groups = rank_groups(per_query, test=test, samples=2_000, seed=0)
    assert groups.systems == ["d", "c", "b", "base", "same"]  # by mean; base before same (input order)
    assert groups.letters == {"d": "a", "c": "b", "b": "b", "base": "c", "same": "c"}
    assert groups.groups == {"a": ["d"], "b": ["c", "b"], "c": ["base", "same"]}
    assert len(groups.pairs) == 10 and groups.differ("d", "b") and not groups.differ("b", "c")
    assert [p.p_adjusted for p in groups.pairs] == holm([p.result.p_value for p in groups.pairs])
    assert rank_groups(per_query, test=test, samples=2_000, seed=0) == groups
    worst_first = rank_groups(per_query, test=test, samples=2_000, higher_is_better=False)
    assert worst_first.systems == ["base", "same", "b", "c", "d"] and worst_first.letters["base"] == "a"
    json.dumps(groups.to_dict(), allow_nan=False)


def test_rank_groups_shares_letters_across_groups():
    """A middle system tied with a better and a worse one that differ from each other."""
    rng = np.random.default_rng(4)
    low = rng.uniform(0.2, 0.6, 100)
    # two orthogonal standardised noise vectors: each step up is t = 1.85 (p = 0.067, not
    # significant), the two steps together t = 1.85 * sqrt(2) = 2.62 (p = 0.010, Holm 0.03)
    q, _ = np.linalg.qr(np.column_stack([np.ones(100), rng.normal(size=(100, 2))]))
    z = q[:, 1:] / q[:, 1:].std(axis=0, ddof=1)  # orthogonal to the constant: mean 0, and to each other
    step = 1.85 * 0.05 / 10  # t * sd / sqrt(n)
    mid = low + step + 0.05 * z[:, 0]
    per_query = {"top": mid + step + 0.05 * z[:, 1], "mid": mid, "low": low}
    groups = rank_groups(per_query)
    assert groups.systems == ["top", "mid", "low"]
    assert groups.differ("top", "low") and not groups.differ("top", "mid") and not groups.differ("mid", "low")
    assert groups.letters == {"top": "a", "mid": "ab", "low": "b"}


# -- bootstrap intervals ---------------------------------------------------------------------


def test_bootstrap_equals_scipy_and_the_percentile_definition():
    x = np.random.default_rng(0).beta(2, 5, 60)
    ours = bootstrap_ci(x, samples=4_000, seed=11)
    theirs = st.bootstrap((x,), np.mean, n_resamples=4_000, method="percentile", rng=np.random.default_rng(11))
    assert (ours.low, ours.high) == (float(theirs.confidence_interval.low), float(theirs.confidence_interval.high))
    # by hand: resample queries with replacement, take the 2.5% and 97.5% quantiles of the means
    rng = np.random.default_rng(11)
    means = x[rng.integers(0, x.size, (4_000, x.size))].mean(axis=1)
    assert (ours.low, ours.high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])), rel=1e-12)
    assert ours.estimate == pytest.approx(x.mean()) and ours.n == 60 and ours.confidence == 0.95
    assert ours.method == "percentile bootstrap" and ours.statistic == "mean" and ours.seed == 11
    median = bootstrap_ci(x, samples=1_000, statistic=np.median)
    assert median.statistic == "median" and median.low <= np.median(x) <= median.high


def test_bootstrap_coverage_on_a_known_distribution():
    """95% intervals of Beta(2, 5) means (true mean 2/7) from 50 values cover it about 95% of the time."""
    rng = np.random.default_rng(5)
    covered = [
        (ci := bootstrap_ci(rng.beta(2, 5, 50), samples=1_000, seed=k)).low <= 2 / 7 <= ci.high for k in range(400)
    ]
    assert 0.91 <= np.mean(covered) <= 0.98


def test_bootstrap_determinism_and_errors():
    values = {f"q{i}": v for i, v in enumerate(np.random.default_rng(1).random(30))}
    first = bootstrap_ci(values, samples=500, seed=3)
    assert bootstrap_ci(dict(reversed(list(values.items()))), samples=500, seed=3) == first
    assert bootstrap_ci(values, samples=500, seed=4) != first
    json.dumps(first.to_dict(), allow_nan=False)
    with pytest.raises(StatsError, match="needs at least 2 values, got 0"):
        bootstrap_ci([])
    with pytest.raises(StatsError, match="needs at least 2 values, got 1"):
        bootstrap_ci({"q1": 0.5})
    with pytest.raises(StatsError, match="query 'q2' has a non-finite value"):
        bootstrap_ci({"q1": 0.5, "q2": float("inf")})
    with pytest.raises(StatsError, match="confidence must be"):
        bootstrap_ci([0.1, 0.2], confidence=95)
    assert bootstrap_ci([0.5, 0.5, 0.5], samples=200).low == 0.5


def test_mean_across_datasets_is_a_stratified_macro_average():
    rng = np.random.default_rng(2)
    big, small = rng.uniform(0, 0.4, 200), rng.uniform(0.6, 1.0, 10)
    per_query = {
        "big": {"x": {f"q{i}": v for i, v in enumerate(big)}, "y": {f"q{i}": v + 0.1 for i, v in enumerate(big)}},
        "small": {"x": {f"q{i}": v for i, v in enumerate(small)}},
    }
    x, y = mean_across_datasets(per_query, samples=2_000, seed=1)
    assert x.system == "x" and x.mean == pytest.approx((big.mean() + small.mean()) / 2)  # not the pooled mean
    assert x.datasets == pytest.approx({"big": big.mean(), "small": small.mean()}) and x.queries == {"big": 200,
                                                                                                      "small": 10}
    assert x.interval.method == "stratified percentile bootstrap" and x.interval.estimate == x.mean
    # by hand: resample each dataset within itself, average the dataset means
    g = np.random.default_rng(1)
    ib, is_ = g.integers(0, 200, (2_000, 200)), g.integers(0, 10, (2_000, 10))
    bx, sx = np.array(sorted(per_query["big"]["x"])), np.array(sorted(per_query["small"]["x"]))
    b_vals = np.array([per_query["big"]["x"][q] for q in bx])
    s_vals = np.array([per_query["small"]["x"][q] for q in sx])
    means = (b_vals[ib].mean(axis=1) + s_vals[is_].mean(axis=1)) / 2
    assert (x.interval.low, x.interval.high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])), rel=1e-12)
    assert y.mean is None and y.interval is None and y.missing == ["small"]
    json.dumps([m.to_dict() for m in (x, y)], allow_nan=False)


# -- settings --------------------------------------------------------------------------------


def test_stats_params_validate_a_suite_table():
    assert resolve_params(STATS_PARAMS, {}) == {
        "baseline": None, "alpha": 0.05, "test": "t", "correction": "holm", "bootstrap_samples": 10_000,
        "permutation_samples": 10_000, "confidence": 0.95, "seed": None,
        "intervals": "primary", "margin": None, "margin_metric": None}
    problems = dict(check_params(STATS_PARAMS, {"test": "wilcoxon", "correction": "bh", "alpha": 2, "sed": 1}))
    assert "must be one of 't', 'permutation'" in problems["test"]
    assert "must be one of 'holm', 'bonferroni', 'none'" in problems["correction"]
    assert "must be <= 1.0" in problems["alpha"] and "did you mean 'seed'" in problems["sed"]
    settings = stats_settings({"test": "permutation", "seed": None}, suite_seed=42)
    assert settings.seed == 42 and settings.test == "permutation" and settings.to_dict()["correction"] == "holm"
    assert stats_settings({"seed": 7}, suite_seed=42).seed == 7
    with pytest.raises(ValueError, match=r"stats\.confidence: must be <= 0.999"):
        stats_settings({"confidence": 1.0})


def test_importing_the_settings_stays_light():
    code = ("import sys\nimport harness.stats\nfrom harness.stats.settings import STATS_PARAMS\n"
            "from harness.stats import STATS_PARAMS, holm, compact_letter_display\n"
            "print(sorted(m for m in ('numpy', 'scipy', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
