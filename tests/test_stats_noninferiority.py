"""Non-inferiority verdicts: the two one-sided tests equal scipy's, and the rule gives each verdict."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats as st

from harness.stats import StatsError, non_inferiority_test, non_inferiority_verdict, stats_settings

MARGIN = 0.01


def pair(n: int, shift: float, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A parent's per-query values and a candidate's: shifted by ``shift`` plus per-query noise."""
    rng = np.random.default_rng(seed)
    parent = rng.uniform(0.2, 0.8, n)
    return parent, parent + shift + rng.normal(0.0, noise, n)


@pytest.mark.parametrize("shift", [-0.02, -0.01, 0.0, 0.005])
def test_t_p_values_equal_scipy(shift):
    a, b = pair(50, shift, 0.02, seed=1)
    d = b - a
    found = non_inferiority_verdict(a, b, MARGIN, test="t")
    assert found.non_inferiority.p_value == float(st.ttest_1samp(d + MARGIN, 0, alternative="greater").pvalue)
    assert found.inferiority.p_value == float(st.ttest_1samp(d + MARGIN, 0, alternative="less").pvalue)
    assert found.non_inferiority.statistic == float(st.ttest_1samp(d + MARGIN, 0).statistic)
    assert found.mean_difference == pytest.approx(float(d.mean()), abs=1e-15)
    # the same test as the existing single call, which tests d against -margin instead of d + margin against 0
    single = non_inferiority_test(a, b, MARGIN)
    assert found.non_inferiority.p_value == pytest.approx(single.p_value, rel=1e-9)
    assert found.non_inferiority.hypothesis == single.hypothesis == "H0: mean(b - a) <= -0.01; H1: mean(b - a) > -0.01"
    assert found.inferiority.hypothesis == "H0: mean(b - a) >= -0.01; H1: mean(b - a) < -0.01"
    assert found.non_inferiority.null_difference == found.inferiority.null_difference == -MARGIN


def test_exact_permutation_p_values_equal_scipy():
    """10 queries: all 2**10 sign patterns of d + margin, as scipy enumerates them."""
    a, b = pair(10, -0.012, 0.01, seed=2)
    shifted = b - a + MARGIN
    found = non_inferiority_verdict(a, b, MARGIN, test="permutation", samples=10_000)
    for result, alternative in ((found.non_inferiority, "greater"), (found.inferiority, "less")):
        theirs = st.permutation_test((shifted,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
                                     alternative=alternative, n_resamples=10_000, vectorized=True)
        assert result.exact and result.samples == 2**10
        assert result.p_value == float(theirs.pvalue)
        assert result.statistic == pytest.approx(float(theirs.statistic), rel=1e-12)
    assert found.interval is None  # the permutation test has no interval


@pytest.mark.parametrize("test", ["t", "permutation"])
def test_verdicts(test):
    """A loss well inside the margin is non-inferior; one well beyond it inferior; a loss about the
    size of the margin, with noise, inconclusive."""
    cases = {"non-inferior": (-0.002, 0.01), "inferior": (-0.04, 0.01), "inconclusive": (-0.01, 0.05)}
    for expected, (shift, noise) in cases.items():
        a, b = pair(60, shift, noise, seed=3)
        found = non_inferiority_verdict(a, b, MARGIN, test=test, samples=2_000, seed=4)
        assert found.verdict == expected, (expected, found.non_inferiority.p_value, found.inferiority.p_value)
        deciding = found.inferiority if expected == "inferior" else found.non_inferiority
        assert found.p_value == deciding.p_value
        if expected == "non-inferior":
            assert found.non_inferiority.p_value <= 0.05
        elif expected == "inferior":
            assert found.non_inferiority.p_value > 0.05 and found.inferiority.p_value <= 0.05
        else:
            assert found.non_inferiority.p_value > 0.05 and found.inferiority.p_value > 0.05


def test_t_verdict_agrees_with_its_interval():
    """Non-inferior exactly when the 1 - 2 alpha t interval lies above -margin, inferior exactly
    when it lies below (random effects around the margin)."""
    rng = np.random.default_rng(5)
    seen = set()
    for trial in range(200):
        a, b = pair(30, float(rng.uniform(-0.03, 0.01)), 0.02, seed=100 + trial)
        found = non_inferiority_verdict(a, b, MARGIN, alpha=0.05)
        low, high = found.interval
        expected = "non-inferior" if low > -MARGIN else "inferior" if high < -MARGIN else "inconclusive"
        assert found.verdict == expected
        d = b - a
        half = st.t.ppf(0.95, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
        assert (low, high) == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-12)
        seen.add(found.verdict)
    assert seen == {"non-inferior", "inferior", "inconclusive"}


def test_identical_systems():
    """No variance: identical systems are non-inferior with any positive margin; with margin 0 the
    test is one of superiority, which identical systems do not pass."""
    a = [0.5, 0.25, 0.75, 0.125]
    assert non_inferiority_verdict(a, a, MARGIN).verdict == "non-inferior"
    assert non_inferiority_verdict(a, a, 0.0).verdict == "inconclusive"
    assert non_inferiority_verdict(a, a, MARGIN).interval == (0.0, 0.0)
    worse = [x - 0.0625 for x in a]  # exact in binary: every difference is the same
    assert non_inferiority_verdict(a, worse, MARGIN).verdict == "inferior"
    assert non_inferiority_verdict(a, worse, 0.0625).verdict == "inconclusive"  # exactly at the margin


def test_mappings_align_by_query():
    a = {"q1": 0.5, "q2": 0.4, "q3": 0.9}
    b = {"q3": 0.9, "q1": 0.45, "q2": 0.42}
    assert non_inferiority_verdict(a, b, MARGIN).mean_difference == pytest.approx((-0.05 + 0.02) / 3)
    with pytest.raises(StatsError, match="'q3'"):
        non_inferiority_verdict(a, {"q1": 0.5, "q2": 0.4}, MARGIN)


@pytest.mark.parametrize("margin", [-0.01, math.nan, math.inf, True, "0.01"])
def test_bad_margins(margin):
    with pytest.raises(StatsError, match="margin"):
        non_inferiority_verdict([0.1, 0.2], [0.1, 0.3], margin)


def test_bad_alpha_and_too_few_queries():
    with pytest.raises(StatsError, match="alpha"):
        non_inferiority_verdict([0.1, 0.2], [0.1, 0.3], MARGIN, alpha=1.5)
    with pytest.raises(StatsError, match="at least 2 queries"):
        non_inferiority_verdict([0.1], [0.2], MARGIN)


def test_to_dict_is_json():
    a, b = pair(20, -0.005, 0.01, seed=6)
    found = non_inferiority_verdict(a, b, MARGIN).to_dict()
    json.dumps(found, allow_nan=False)
    assert found["verdict"] in ("non-inferior", "inferior", "inconclusive")
    assert found["interval"]["confidence"] == pytest.approx(0.9)
    assert found["p_non_inferiority"] == found["non_inferiority"]["p_value"]
    constant = non_inferiority_verdict([0.1, 0.2], [0.1, 0.2], 0.0).to_dict()  # a t statistic of NaN
    assert constant["non_inferiority"]["statistic"] is None
    json.dumps(constant, allow_nan=False)


def test_settings():
    assert stats_settings({}).margin is None and stats_settings({}).margin_metric is None
    s = stats_settings({"margin": 0.02, "margin_metric": "AP"})
    assert (s.margin, s.margin_metric) == (0.02, "AP")
    with pytest.raises(ValueError, match=r"stats\.margin"):
        stats_settings({"margin": -0.1})
